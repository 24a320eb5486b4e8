"""The ingest contract: datasets, models and API keys (documents), dead letters, quality
counters, idempotency keys and import checkpoints (``dosi.ingest``, ``/dosi/v1/...``).

``record_ingest`` writes everything one ``IngestPipeline.submit`` call learned in one
transaction (after its entities were written): new dead letters, replayed ones that now
pass (deleted) or still fail (new reason), quality counters, the verdicts of idempotency
keys and checkpoints.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

Doc = dict[str, Any]
KINDS = ("dataset", "model", "apikey", "checkpoint")


@dataclass
class DeadLetter:
    dataset: str
    source: str
    reason: str
    received_at: str  # ISO UTC
    payload: bytes
    key: str | None = None
    meta: Doc = field(default_factory=dict)
    at: str = ""  # when it was rejected (ISO UTC)
    id: int = 0  # assigned by the store


@dataclass
class QualityCounters:
    accepted: int = 0
    flagged: int = 0
    rejected: int = 0
    attrs_present: int = 0  # model attributes present, summed over accepted entities
    attrs_expected: int = 0  # model attributes named, summed over accepted entities
    last_record_at: str | None = None  # newest received_at of any record
    last_accepted_at: str | None = None  # newest received_at of an accepted record


@dataclass
class IngestOutcome:
    """What one submit call writes to the ingest tables (one transaction)."""

    dataset: str
    dead_letters: list[DeadLetter] = field(default_factory=list)
    dead_reasons: list[tuple[int, str]] = field(default_factory=list)  # replay: still bad
    dead_deleted: list[int] = field(default_factory=list)  # replay: passes now
    quality: QualityCounters = field(default_factory=QualityCounters)
    keys: dict[str, Doc] = field(default_factory=dict)  # idempotency key -> verdict
    docs: list[tuple[str, str, Doc]] = field(default_factory=list)  # (kind, id, doc) upserts


class IngestStore(Protocol):
    async def put_ingest_doc(self, kind: str, doc_id: str, doc: Doc, mode: str) -> bool:
        """mode "create" (False if it exists), "replace" (False if absent) or "upsert"
        (POST/PUT /dosi/v1/datasets, /dosi/v1/models, API keys, checkpoints)."""
        ...

    async def get_ingest_doc(self, kind: str, doc_id: str) -> Doc | None: ...

    async def list_ingest_docs(self, kind: str) -> list[Doc]:
        """All documents of a kind, ordered by id (GET /dosi/v1/datasets, /models)."""
        ...

    async def delete_ingest_doc(self, kind: str, doc_id: str) -> bool:
        """Delete a document; deleting a dataset also deletes its dead letters, quality
        counters and idempotency keys (DELETE /dosi/v1/datasets/{id})."""
        ...

    async def record_ingest(self, outcome: IngestOutcome) -> list[int]:
        """Write an outcome in one transaction; returns the new dead letters' ids."""
        ...

    async def seen_keys(self, dataset: str, keys: Sequence[str]) -> dict[str, Doc]:
        """The stored verdicts of the idempotency keys already seen (POST /dosi/v1/ingest)."""
        ...

    async def list_dead_letters(
        self, dataset: str, limit: int, offset: int = 0, after_id: int = 0
    ) -> tuple[list[DeadLetter], int]:
        """Dead letters of a dataset in arrival order, and how many there are
        (GET /dosi/v1/datasets/{id}/deadletters, ``dosi ingest replay``)."""
        ...

    async def delete_dead_letters(self, dataset: str, ids: Sequence[int] | None) -> int:
        """Delete some (ids) or all (None) dead letters of a dataset (DELETE .../deadletters)."""
        ...

    async def get_quality(self, dataset: str) -> QualityCounters:
        """The counters of a dataset (GET /dosi/v1/datasets/{id}/quality)."""
        ...
