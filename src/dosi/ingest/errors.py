"""Errors of ingestion."""

from __future__ import annotations


class RecordError(Exception):
    """A record that cannot be mapped; ``reason`` says why in words an operator reads
    (e.g. "pm10Value '-x' is not a number")."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class MappingError(ValueError):
    """A declarative mapping that is itself wrong (reported when it is stored)."""
