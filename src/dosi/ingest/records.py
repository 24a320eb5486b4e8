"""What flows through ingestion: raw records in, verdicts out (the ingest contract)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

Status = Literal["accepted", "flagged", "rejected"]


@dataclass
class RawRecord:
    """One raw message or row as received. ``payload`` is kept verbatim for the
    dead-letter store; ``key`` is an idempotency key (a record whose key was seen
    before changes nothing)."""

    dataset: str
    source: str
    payload: bytes
    received_at: datetime
    key: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class Verdict:
    """What became of one record: accepted, flagged (accepted, but it does not fit the
    data model) or rejected (in the dead-letter store), with a reason for the last two."""

    status: Status
    reason: str | None
    entity_ids: list[str]

    def as_json(self) -> dict[str, Any]:
        return {"status": self.status, "reason": self.reason, "entityIds": self.entity_ids}
