"""Use-cases of ingestion over HTTP and the CLI: the HTTP push adapter, dead letters,
replay and quality figures (``/dosi/v1/ingest/{dataset}``, ``/dosi/v1/datasets/{id}/...``)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from dosi.errors import BadRequestDataError
from dosi.ingest.catalog import quality_figures
from dosi.ingest.pipeline import IngestPipeline
from dosi.ingest.records import RawRecord, Verdict
from dosi.services.catalog import CatalogService
from dosi.storage.base import Store
from dosi.storage.ingest_base import DeadLetter

Doc = dict[str, Any]


def split_body(body: bytes, one_record: bool) -> list[bytes]:
    """A pushed body -> record payloads: a JSON array is one record per element (unless
    the mapping reads records from inside one document); anything else, even broken
    JSON, is one record (so it reaches the dead-letter store with its reason)."""
    if one_record:
        return [body]
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return [body]
    if isinstance(doc, list) and doc:
        return [json.dumps(x, ensure_ascii=False, separators=(",", ":")).encode() for x in doc]
    return [body]


def message_key(payload: bytes, field: str, source: str) -> str | None:
    """The idempotency key from the message's own id (the mapping's ``messageId``)."""
    from dosi.ingest.mapping import _get

    try:
        value = _get(json.loads(payload), field)
    except (ValueError, UnicodeDecodeError):
        return None
    return f"push:{source}:id:{value}" if isinstance(value, (str, int)) and value != "" else None


def dead_letter_json(d: DeadLetter) -> Doc:
    try:
        payload: Any = d.payload.decode("utf-8")
    except UnicodeDecodeError:
        payload = None
    out = {"id": d.id, "dataset": d.dataset, "source": d.source, "reason": d.reason,
           "receivedAt": d.received_at, "rejectedAt": d.at, "key": d.key,
           "payload": payload, "payloadBytes": len(d.payload)}
    if payload is None:
        out["payloadBase64"] = __import__("base64").b64encode(d.payload).decode()
    return out


class IngestService:
    def __init__(self, store: Store, pipeline: IngestPipeline, catalog: CatalogService) -> None:
        self.store = store
        self.pipeline = pipeline
        self.catalog = catalog

    async def push(self, ds_id: str, secret: str | None, body: bytes,
                   idempotency_key: str | None) -> list[Verdict]:
        """POST /dosi/v1/ingest/{dataset}: NGSI-LD or raw JSON from an authorised source."""
        source = await self.catalog.authenticate(ds_id, secret)
        doc = await self.catalog.get_dataset(ds_id)
        if idempotency_key is not None and not (0 < len(idempotency_key) <= 200):
            raise BadRequestDataError("Idempotency-Key: 1 to 200 characters")
        one = bool((doc.get("mapping") or {}).get("records"))
        now = datetime.now(UTC)
        payloads = split_body(body, one)
        records = []
        id_field = (doc.get("mapping") or {}).get("messageId")
        for i, p in enumerate(payloads):
            key = None
            if idempotency_key is not None:
                key = f"push:{source}:{idempotency_key}" + (f"#{i}" if len(payloads) > 1 else "")
            elif id_field:
                key = message_key(p, id_field, source)
            records.append(RawRecord(ds_id, f"push:{source}", p, now, key=key,
                                     meta={"index": i} if len(payloads) > 1 else {}))
        return await self.pipeline.submit(records)

    async def dead_letters(self, ds_id: str, limit: int, offset: int) -> tuple[list[Doc], int]:
        letters, total = await self.store.list_dead_letters(ds_id, limit, offset)
        return [dead_letter_json(d) for d in letters], total

    async def delete_dead_letters(self, ds_id: str, ids: list[int] | None) -> int:
        return await self.store.delete_dead_letters(ds_id, ids)

    async def replay(self, ds_id: str) -> dict[str, int]:
        await self.catalog.get_dataset(ds_id)
        return await self.pipeline.replay(ds_id)

    async def quality(self, ds_id: str) -> Doc:
        doc = await self.catalog.get_dataset(ds_id)
        return quality_figures(doc, await self.store.get_quality(ds_id))

    async def quality_all(self) -> list[Doc]:
        return [quality_figures(d, await self.store.get_quality(d["id"]))
                for d in await self.catalog.list_datasets()]
