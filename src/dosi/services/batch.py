"""Batch entity operations: create, upsert, update, delete, merge.

Every entity gets its own verdict; a failing entity never stops the others, and all
entities of one batch go to the store in one call (one transaction, a savepoint each).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dosi.errors import BadRequestDataError, DosiError
from dosi.ngsild import operations as ops
from dosi.ngsild.context import ActiveContext
from dosi.ngsild.entity import Entity, parse_entity
from dosi.ngsild.values import is_uri, now_iso
from dosi.storage.base import Store, WriteOp


@dataclass
class BatchResult:
    success: list[str] = field(default_factory=list)
    created: list[str] = field(default_factory=list)
    errors: list[tuple[str | None, DosiError]] = field(default_factory=list)


class BatchService:
    def __init__(self, store: Store, max_batch_size: int = 10_000) -> None:
        self.store = store
        self.max_batch_size = max_batch_size

    def _check_list(self, payload: Any) -> list[Any]:
        if not isinstance(payload, list):
            raise BadRequestDataError("a batch operation takes a JSON array")
        if not payload:
            raise BadRequestDataError("a batch operation needs at least one entry")
        if len(payload) > self.max_batch_size:
            raise BadRequestDataError(
                f"a batch holds at most {self.max_batch_size} entries, got {len(payload)}"
            )
        return payload

    async def _run(
        self, tenant: str, items: list[tuple[str, Any]], result: BatchResult
    ) -> BatchResult:
        write_ops = [WriteOp(eid, fn) for eid, fn in items]
        for r in await self.store.write(tenant, write_ops):
            if r.error is not None:
                result.errors.append((r.entity_id, r.error))
            else:
                result.success.append(r.entity_id)
                if r.before is None and r.after is not None:
                    result.created.append(r.entity_id)
        return result

    def _parse_all(
        self, payload: Any, ctx_of: Any, now: str, result: BatchResult, **kw: Any
    ) -> list[Entity]:
        parsed: list[Entity] = []
        seen: set[str] = set()
        for raw in self._check_list(payload):
            raw_id = raw.get("id", raw.get("@id")) if isinstance(raw, dict) else None
            try:
                entity = parse_entity(raw, ctx_of(raw), now, **kw)
            except DosiError as exc:
                result.errors.append((raw_id if isinstance(raw_id, str) else None, exc))
                continue
            parsed.append(entity)
            seen.add(entity["id"])
        return parsed

    async def create(self, tenant: str, payload: Any, ctx_of: Any) -> BatchResult:
        """POST /entityOperations/create."""
        now = now_iso()
        result = BatchResult()
        entities = self._parse_all(payload, ctx_of, now, result)
        items: list[tuple[str, Any]] = []
        for e in entities:
            ops.check_no_nulls(e)
            items.append((e["id"], lambda cur, e=e: ops.create(cur, e)))
        return await self._run(tenant, items, result)

    async def upsert(self, tenant: str, payload: Any, ctx_of: Any, mode: str) -> BatchResult:
        """POST /entityOperations/upsert?options=replace|update."""
        now = now_iso()
        result = BatchResult()
        entities = self._parse_all(payload, ctx_of, now, result)
        items: list[tuple[str, Any]] = []
        for e in entities:

            def fn(cur: Entity | None, e: Entity = e) -> Entity:
                if cur is None:
                    return e
                if mode == "update":
                    return ops.append_attrs(cur, e, e["id"], now)
                return ops.replace_entity(cur, e, e["id"])

            items.append((e["id"], fn))
        return await self._run(tenant, items, result)

    async def update(
        self, tenant: str, payload: Any, ctx_of: Any, no_overwrite: bool
    ) -> BatchResult:
        """POST /entityOperations/update (append attributes to existing entities).
        With noOverwrite, an entity some of whose attributes were kept is reported
        among the errors, with the names of those attributes."""
        now = now_iso()
        result = BatchResult()
        entities = self._parse_all(payload, ctx_of, now, result, require_type=False)
        reports: dict[str, ops.UpdateReport] = {}

        def fn(cur: Entity | None, e: Entity) -> Entity:
            report = reports[e["id"]] = ops.UpdateReport()
            return ops.append_attrs(cur, e, e["id"], now, no_overwrite=no_overwrite,
                                    report=report)

        items = [(e["id"], lambda cur, e=e: fn(cur, e)) for e in entities]
        await self._run(tenant, items, result)
        for eid, report in reports.items():
            if report.not_updated and eid in result.success:
                result.success.remove(eid)
                names = ", ".join(n for n, _ in report.not_updated)
                result.errors.append(
                    (eid, BadRequestDataError(f"attributes not overwritten: {names}"))
                )
        return result

    async def merge(self, tenant: str, payload: Any, ctx_of: Any) -> BatchResult:
        """POST /entityOperations/merge."""
        now = now_iso()
        result = BatchResult()
        entities = self._parse_all(payload, ctx_of, now, result, require_type=False,
                                   allow_null=True)
        items = [
            (e["id"], lambda cur, e=e: ops.merge_entity(cur, e, e["id"], now)) for e in entities
        ]
        return await self._run(tenant, items, result)

    async def delete(self, tenant: str, payload: Any) -> BatchResult:
        """POST /entityOperations/delete (a JSON array of entity ids)."""
        result = BatchResult()
        items: list[tuple[str, Any]] = []
        for eid in self._check_list(payload):
            if not is_uri(eid):
                result.errors.append(
                    (eid if isinstance(eid, str) else None,
                     BadRequestDataError(f"not an entity id: {eid!r}"))
                )
                continue
            items.append((eid, lambda cur, eid=eid: None if cur else ops.require(cur, eid)))
        return await self._run(tenant, items, result)
