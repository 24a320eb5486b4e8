"""The ingest pipeline: the one entry point of every adapter (the ingest contract).

``IngestPipeline.submit(records)`` looks each record's dataset up in the catalog, maps
it (the adapter's Python mapper, else the dataset's declarative mapping, else NGSI-LD as
given), validates the entities against the dataset's data model (reject, or accept and
flag, per dataset), writes the accepted ones with one store write per call (upsert,
history on), keeps rejected raw payloads in the dead-letter store with the reason, and
counts quality. It never raises for a bad record.

Order of effects: entities are written first, then (one transaction) dead letters,
quality counters and the verdicts of idempotency keys. A crash between the two can only
make a re-sent record count twice; it can never lose one that was acknowledged.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from dosi.errors import DosiError
from dosi.ingest.errors import MappingError, RecordError
from dosi.ingest.mapping import Mapper, Mapping, auto_mapper
from dosi.ingest.models import ModelRegistry, sdm_context
from dosi.ingest.records import RawRecord, Verdict
from dosi.ngsild import operations as ops
from dosi.ngsild.entity import parse_entity
from dosi.ngsild.values import now_iso
from dosi.storage.base import Store, WriteOp
from dosi.storage.ingest_base import DeadLetter, IngestOutcome, QualityCounters

log = logging.getLogger("dosi.ingest")
DEFAULT_MAX_RECORD_BYTES = 256 * 1024


def iso(dt: datetime) -> str:
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    dt = dt.astimezone(UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


@dataclass
class _Item:
    index: int
    record: RawRecord
    entities: list[dict[str, Any]]
    status: str = "accepted"
    reason: str | None = None
    dead_id: int = 0  # replay: the dead letter it came from


@dataclass
class _Dataset:
    doc: dict[str, Any]
    mapper: Mapper
    expected: list[str]  # attributes whose presence completeness counts


class IngestPipeline:
    def __init__(
        self,
        store: Store,
        contexts: Any,
        *,
        max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
        cache_ttl: float = 5.0,
    ) -> None:
        self.store = store
        self.contexts = contexts  # services.contexts.ContextService (resolve)
        self.max_record_bytes = max_record_bytes
        self.models = ModelRegistry()
        self._mappers: dict[str, Mapper] = {}
        self._cache: dict[str, tuple[float, _Dataset | None]] = {}
        self._models_at = -1e9
        self._ttl = cache_ttl
        self._locks: dict[str, asyncio.Lock] = {}

    # --- catalog ---

    def register_mapper(self, dataset: str, mapper: Mapper) -> None:
        """An adapter's Python mapper for a dataset (wins over its declarative mapping)."""
        self._mappers[dataset] = mapper
        self._cache.pop(dataset, None)

    def invalidate(self, dataset: str | None = None) -> None:
        """Forget cached datasets (and custom models) after the catalog changed."""
        if dataset is None:
            self._cache.clear()
        else:
            self._cache.pop(dataset, None)
        self._models_at = -1e9

    async def _refresh_models(self) -> None:
        if time.monotonic() - self._models_at > self._ttl:
            self.models.set_custom(await self.store.list_ingest_docs("model"))
            self._models_at = time.monotonic()
            self._cache.clear()

    async def dataset(self, dataset_id: str) -> _Dataset | None:
        await self._refresh_models()
        hit = self._cache.get(dataset_id)
        if hit is not None and time.monotonic() - hit[0] < self._ttl:
            return hit[1]
        doc = await self.store.get_ingest_doc("dataset", dataset_id)
        ds = self._compile(doc) if doc is not None else None
        self._cache[dataset_id] = (time.monotonic(), ds)
        return ds

    def _compile(self, doc: dict[str, Any]) -> _Dataset:
        model = doc.get("dataModel")
        ctx = doc.get("context") or (sdm_context(model) if model else None)
        if model and not ctx:
            custom = next((m for m in self.models._custom.values() if m["name"] == model), None)
            ctx = (custom or {}).get("context")
        mapping = None
        if doc.get("mapping"):
            try:
                mapping = Mapping(doc["mapping"], default_context=ctx)
            except (MappingError, ValueError) as exc:  # stored before a check existed
                log.warning("dataset %s: bad mapping: %s", doc.get("id"), exc)
        mapper = self._mappers.get(doc["id"]) or auto_mapper(mapping, ctx)
        expected = self.models.attributes(model) if model else []
        if model and not self.models._custom.get(model) and mapping is not None:
            expected = sorted(set(expected) | set(mapping.attribute_names()))
        return _Dataset(doc, mapper, expected)

    # --- the entry point ---

    async def submit(self, records: Sequence[RawRecord]) -> list[Verdict]:
        """Map, validate, write and account for a batch of records; one verdict each."""
        verdicts: list[Verdict | None] = [None] * len(records)
        groups: dict[str, list[int]] = {}
        for i, r in enumerate(records):
            groups.setdefault(r.dataset, []).append(i)
        for dataset, idxs in groups.items():
            items = [_Item(i, records[i], []) for i in idxs]
            for item, v in zip(items, await self._run(dataset, items, replay=False)):
                verdicts[item.index] = v
        return [v for v in verdicts if v is not None]

    async def replay(self, dataset: str, page: int = 500) -> dict[str, int]:
        """Submit the dataset's dead letters again (after a mapping fix): those that
        pass leave the dead-letter store, the others keep their place with the new reason."""
        self.invalidate(dataset)
        counts = {"accepted": 0, "flagged": 0, "rejected": 0}
        after = 0
        while True:
            letters, _ = await self.store.list_dead_letters(dataset, page, 0, after_id=after)
            if not letters:
                return counts
            after = letters[-1].id
            items = []
            for n, d in enumerate(letters):
                rec = RawRecord(d.dataset, d.source, d.payload,
                                datetime.fromisoformat(d.received_at),
                                key=d.key, meta=d.meta)
                items.append(_Item(n, rec, [], dead_id=d.id))
            for v in await self._run(dataset, items, replay=True):
                counts[v.status] += 1

    async def _run(self, dataset: str, items: list[_Item], replay: bool) -> list[Verdict]:
        lock = self._locks.setdefault(dataset, asyncio.Lock())
        async with lock:
            try:
                ds = await self.dataset(dataset)
            except Exception:
                log.exception("ingest: cannot read dataset %s", dataset)
                raise
            out = IngestOutcome(dataset)
            keys = [it.record.key for it in items if it.record.key]
            seen = {} if replay or not keys else await self.store.seen_keys(dataset, keys)
            first_of: dict[str, _Item] = {}
            fresh: list[_Item] = []
            dupes: list[tuple[_Item, Any]] = []
            for it in items:
                key = it.record.key
                if key and key in seen:
                    dupes.append((it, seen[key]))
                elif key and key in first_of:
                    dupes.append((it, first_of[key]))
                else:
                    if key:
                        first_of[key] = it
                    fresh.append(it)
                    self._map(ds, dataset, it)
            await self._write(ds, [it for it in fresh if it.status != "rejected"])
            self._account(ds, fresh, out, replay)
            if fresh:
                await self.store.record_ingest(out)
            verdicts = {id(it): Verdict(it.status, it.reason,  # type: ignore[arg-type]
                                        [e["id"] for e in it.entities
                                         if it.status != "rejected"]) for it in fresh}
            for it, prior in dupes:
                if isinstance(prior, _Item):
                    verdicts[id(it)] = verdicts[id(prior)]
                else:
                    verdicts[id(it)] = Verdict(prior["status"], prior.get("reason"),
                                               prior.get("entityIds", []))
            return [verdicts[id(it)] for it in items]

    def _map(self, ds: _Dataset | None, dataset: str, it: _Item) -> None:
        rec = it.record
        if isinstance(rec.payload, str):  # tolerated: kept as UTF-8 bytes
            rec.payload = rec.payload.encode()
        if ds is None:
            it.status, it.reason = "rejected", f"unknown dataset {dataset!r}"
            return
        if len(rec.payload) > self.max_record_bytes:
            it.status = "rejected"
            it.reason = (f"record of {len(rec.payload)} bytes is larger than the limit of "
                         f"{self.max_record_bytes} bytes")
            return
        try:
            ents = ds.mapper(rec)
        except RecordError as exc:
            it.status, it.reason = "rejected", exc.reason
            return
        except Exception as exc:
            log.exception("ingest: mapper of %s failed", dataset)
            it.status, it.reason = "rejected", f"mapper failed: {type(exc).__name__}: {exc}"
            return
        if not isinstance(ents, list) or not ents:
            it.status, it.reason = "rejected", "the record holds no entity"
            return
        it.entities = ents
        model = ds.doc.get("dataModel")
        problems: list[str] = []
        for e in ents:
            etype = e.get("type") if isinstance(e, dict) else None
            if not isinstance(e, dict) or not isinstance(e.get("id"), str):
                it.status, it.reason = "rejected", "an entity without an id"
                return
            if model and etype != model:
                it.status = "rejected"
                it.reason = f"entity type {etype!r} is not the dataset's data model {model!r}"
                return
            try:
                problems += self.models.validate(
                    e, partial=bool(it.record.meta.get("partial")))
            except Exception:
                log.exception("ingest: validation of %s failed", etype)
        if problems:
            it.reason = "; ".join(problems[:5])
            it.status = "flagged" if ds.doc.get("validation") == "flag" else "rejected"

    async def _write(self, ds: _Dataset | None, items: list[_Item]) -> None:
        if ds is None or not items:
            return
        now = now_iso()
        tenant = ds.doc.get("tenant") or ""
        write_ops: list[WriteOp] = []
        parsed_all: list[dict[str, Any]] = []
        owners: list[_Item] = []
        for it in items:
            parsed = []
            try:
                for e in it.entities:
                    ctx = await self.contexts.resolve(e.get("@context"))
                    parsed.append(parse_entity(e, ctx, now))
            except DosiError as exc:
                it.status, it.reason = "rejected", f"not valid NGSI-LD: {exc.detail}"
                continue
            except Exception as exc:  # noqa: BLE001 - e.g. an @context that cannot be loaded
                it.status, it.reason = "rejected", f"not valid NGSI-LD: {exc}"
                continue
            for p in parsed:
                def fn(cur: Any, p: Any = p) -> Any:
                    return p if cur is None else ops.append_attrs(cur, p, p["id"], now)

                write_ops.append(WriteOp(p["id"], fn))
                parsed_all.append(p)
                owners.append(it)
        if not write_ops:
            return
        # several observations of one entity in a batch: the store records history as
        # the difference made by the whole write, so each op names its instances
        # (explicit history rows; a re-sent instance with the same observedAt replaces)
        seen: dict[str, int] = {}
        for op in write_ops:
            seen[op.entity_id] = seen.get(op.entity_id, 0) + 1
        for op, p in zip(write_ops, parsed_all):
            if seen[op.entity_id] > 1:
                op.history = [(iri, inst) for iri, insts in p["attrs"].items()
                              for inst in insts]
        for op_result, it in zip(await self.store.write(tenant, write_ops), owners):
            if op_result.error is not None and it.status != "rejected":
                it.status = "rejected"
                it.reason = f"{op_result.entity_id}: {op_result.error.detail}"

    def _account(self, ds: _Dataset | None, items: list[_Item], out: IngestOutcome,
                 replay: bool) -> None:
        q: QualityCounters = out.quality
        expected = ds.expected if ds else []
        for it in items:
            received = iso(it.record.received_at)
            if not replay and (q.last_record_at is None or received > q.last_record_at):
                q.last_record_at = received
            if it.status == "rejected":
                if replay:
                    out.dead_reasons.append((it.dead_id, it.reason or "rejected"))
                else:
                    q.rejected += 1
                    out.dead_letters.append(DeadLetter(
                        dataset=it.record.dataset, source=it.record.source,
                        reason=it.reason or "rejected", received_at=received,
                        payload=it.record.payload, key=it.record.key, meta=it.record.meta))
            else:
                setattr(q, it.status, getattr(q, it.status) + 1)
                if replay:
                    q.rejected -= 1
                    out.dead_deleted.append(it.dead_id)
                if q.last_accepted_at is None or received > q.last_accepted_at:
                    q.last_accepted_at = received
                for e in it.entities:
                    q.attrs_expected += len(expected)
                    q.attrs_present += sum(1 for a in expected if a in e)
            if it.record.key:
                out.keys[it.record.key] = Verdict(
                    it.status, it.reason,  # type: ignore[arg-type]
                    [e["id"] for e in it.entities if it.status != "rejected"]).as_json()
