"""Errors of ingestion."""

from __future__ import annotations

import json
from typing import Any


class RecordError(Exception):
    """A record that cannot be mapped; ``reason`` says why in words an operator reads
    (e.g. "pm10Value '-x' is not a number")."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class MappingError(ValueError):
    """A declarative mapping that is itself wrong (reported when it is stored)."""


def json_object(payload: bytes | str, what: str = "payload") -> dict[str, Any]:
    """``payload`` parsed as a JSON object, else RecordError saying why."""
    try:
        doc = json.loads(payload)
    except ValueError as exc:
        raise RecordError(f"payload is not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise RecordError(f"{what} is not a JSON object")
    return doc
