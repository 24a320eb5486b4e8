"""Entity use-cases: the single-entity and attribute operations of NGSI-LD.

Take raw payloads and an active @context, return internal entities or reports.
No HTTP here: the API layer parses requests and renders the results.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from dosi.errors import (
    BadRequestDataError,
    DosiError,
    InvalidRequestError,
    ResourceNotFoundError,
)
from dosi.ngsild import operations as ops
from dosi.ngsild.context import ActiveContext
from dosi.ngsild.entity import (
    CONTENT_KEYS,
    Entity,
    expand_attr_name,
    parse_attribute,
    parse_entity,
)
from dosi.ngsild.operations import UpdateReport
from dosi.ngsild.ordering import sort_entities
from dosi.ngsild.query.ast import EntityQuery
from dosi.ngsild.values import now_iso, require_uri
from dosi.storage.base import OpResult, QueryResult, Store, WriteFn, WriteOp


class EntityService:
    """NGSI-LD entity and attribute operations over a store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def _one(self, tenant: str, entity_id: str, fn: WriteFn) -> OpResult:
        [result] = await self.store.write(tenant, [WriteOp(entity_id, fn)])
        if result.error is not None:
            raise result.error
        return result

    async def write_many(self, tenant: str, write_ops: Sequence[WriteOp]) -> list[OpResult]:
        return await self.store.write(tenant, write_ops)

    # --- entities ---

    async def create(self, tenant: str, payload: Any, ctx: ActiveContext) -> Entity:
        """POST /entities."""
        if not isinstance(payload, dict):
            raise InvalidRequestError("an entity must be a JSON object")
        entity = parse_entity(payload, ctx, now_iso())
        ops.check_no_nulls(entity)
        result = await self._one(tenant, entity["id"], lambda cur: ops.create(cur, entity))
        assert result.after is not None
        return result.after

    async def retrieve(self, tenant: str, entity_id: str) -> Entity:
        """GET /entities/{entityId}."""
        require_uri(entity_id, "entity id")
        entity = await self.store.get(tenant, entity_id)
        if entity is None:
            raise ResourceNotFoundError(f"entity {entity_id} not found")
        return entity

    async def query(self, tenant: str, query: EntityQuery) -> QueryResult:
        """GET /entities and POST /entityOperations/query."""
        order = query.extra.get("order_by")
        if not order:
            return await self.store.query(tenant, query)
        whole = replace(query, limit=1 << 62, offset=0)
        result = await self.store.query(tenant, whole)
        ordered = sort_entities(result.entities, order)
        page = ordered[query.offset: query.offset + query.limit]
        return QueryResult(page, len(ordered) if query.count else None)

    async def linked(
        self, tenant: str, entities: Sequence[Entity], levels: int
    ) -> dict[str, Entity]:
        """Entities that the Relationships of ``entities`` point to, ``levels`` deep
        (linked entity retrieval, ``join=inline|flat``)."""
        found: dict[str, Entity] = {}
        frontier = list(entities)
        seen = {e["id"] for e in entities}
        for _ in range(max(0, min(levels, 8))):
            targets: list[str] = []
            for e in frontier:
                for instances in e.get("attrs", {}).values():
                    for inst in instances:
                        obj = inst.get("object") if inst.get("type") == "Relationship" else None
                        for t in obj if isinstance(obj, list) else [obj] if obj else []:
                            if t not in seen:
                                seen.add(t)
                                targets.append(t)
            if not targets:
                break
            result = await self.store.query(
                tenant, EntityQuery(ids=tuple(targets), limit=len(targets))
            )
            for e in result.entities:
                found[e["id"]] = e
            frontier = result.entities
        return found

    async def delete(self, tenant: str, entity_id: str) -> None:
        """DELETE /entities/{entityId}."""
        require_uri(entity_id, "entity id")
        await self._one(tenant, entity_id, lambda cur: None if cur else ops.require(cur, entity_id))

    async def replace(self, tenant: str, entity_id: str, payload: Any, ctx: ActiveContext) -> None:
        """PUT /entities/{entityId}."""
        require_uri(entity_id, "entity id")
        new = parse_entity(payload, ctx, now_iso(), require_id=False, require_type=False)
        if "id" in new and new["id"] != entity_id:
            raise BadRequestDataError("the entity id in the body differs from the URL")
        ops.check_no_nulls(new)
        await self._one(tenant, entity_id, lambda cur: ops.replace_entity(cur, new, entity_id))

    async def merge(self, tenant: str, entity_id: str, payload: Any, ctx: ActiveContext) -> None:
        """PATCH /entities/{entityId} (merge-patch)."""
        require_uri(entity_id, "entity id")
        now = now_iso()
        patch = parse_entity(payload, ctx, now, require_id=False, require_type=False,
                             allow_null=True)
        if "id" in patch and patch["id"] != entity_id:
            raise BadRequestDataError("the entity id in the body differs from the URL")
        await self._one(tenant, entity_id, lambda cur: ops.merge_entity(cur, patch, entity_id, now))

    # --- attributes ---

    def _attrs_patch(self, payload: Any, ctx: ActiveContext, now: str, **kw: Any) -> Entity:
        if not isinstance(payload, dict):
            raise BadRequestDataError("the attributes must be a JSON object")
        patch = parse_entity(payload, ctx, now, require_id=False, require_type=False, **kw)
        return patch

    async def append_attrs(
        self, tenant: str, entity_id: str, payload: Any, ctx: ActiveContext, no_overwrite: bool
    ) -> UpdateReport:
        """POST /entities/{entityId}/attrs."""
        require_uri(entity_id, "entity id")
        now = now_iso()
        patch = self._attrs_patch(payload, ctx, now)
        ops.check_no_nulls(patch)
        report = UpdateReport()

        def fn(cur: Entity | None) -> Entity:
            report.updated.clear()
            report.not_updated.clear()
            return ops.append_attrs(cur, patch, entity_id, now, no_overwrite=no_overwrite,
                                    report=report)

        await self._one(tenant, entity_id, fn)
        return report

    async def update_attrs(
        self, tenant: str, entity_id: str, payload: Any, ctx: ActiveContext
    ) -> UpdateReport:
        """PATCH /entities/{entityId}/attrs."""
        require_uri(entity_id, "entity id")
        now = now_iso()
        patch = self._attrs_patch(payload, ctx, now, allow_null=True)
        report = UpdateReport()

        def fn(cur: Entity | None) -> Entity:
            report.updated.clear()
            report.not_updated.clear()
            return ops.update_attrs(cur, patch, entity_id, now, report=report)

        await self._one(tenant, entity_id, fn)
        return report

    async def partial_attr_update(
        self, tenant: str, entity_id: str, attr: str, payload: Any, ctx: ActiveContext
    ) -> None:
        """PATCH /entities/{entityId}/attrs/{attrId}."""
        require_uri(entity_id, "entity id")
        iri = expand_attr_name(attr, ctx)
        now = now_iso()
        if not isinstance(payload, dict) or not any(k != "@context" for k in payload):
            raise BadRequestDataError("the attribute fragment must be a non-empty JSON object")
        raw = {k: v for k, v in payload.items() if k != "@context"}
        placeholder = "type" not in raw and not any(k in raw for k in CONTENT_KEYS)
        if placeholder:  # only metadata or sub-attributes change: kind stays as stored
            raw.update(type="Property", value=0)
        insts = parse_attribute(raw, ctx, now, iri=iri, allow_null=True)
        if len(insts) != 1:
            raise BadRequestDataError("a partial update takes one attribute instance")
        if placeholder:
            del insts[0]["type"], insts[0]["value"]
        elif "type" not in raw:
            del insts[0]["type"]
        await self._one(
            tenant, entity_id,
            lambda cur: ops.partial_attr_update(cur, entity_id, iri, insts[0], now),
        )

    async def replace_attr(
        self, tenant: str, entity_id: str, attr: str, payload: Any, ctx: ActiveContext
    ) -> None:
        """PUT /entities/{entityId}/attrs/{attrId}."""
        require_uri(entity_id, "entity id")
        iri = expand_attr_name(attr, ctx)
        now = now_iso()
        insts = parse_attribute(payload, ctx, now, iri=iri)
        await self._one(
            tenant, entity_id, lambda cur: ops.replace_attr(cur, entity_id, iri, insts, now)
        )

    async def delete_attr(
        self,
        tenant: str,
        entity_id: str,
        attr: str,
        ctx: ActiveContext,
        dataset_id: str | None,
        delete_all: bool,
    ) -> None:
        """DELETE /entities/{entityId}/attrs/{attrId}."""
        require_uri(entity_id, "entity id")
        if attr == "scope":
            await self._one(tenant, entity_id, lambda cur: ops.delete_scope(cur, entity_id, now_iso()))
            return
        iri = expand_attr_name(attr, ctx)
        if dataset_id is not None:
            require_uri(dataset_id, "datasetId")
        now = now_iso()
        await self._one(
            tenant, entity_id,
            lambda cur: ops.delete_attr(cur, entity_id, iri, now, dataset_id=dataset_id,
                                        delete_all=delete_all),
        )

    async def purge(
        self,
        tenant: str,
        query: EntityQuery,
        keep: list[str] | None = None,
        drop: list[str] | None = None,
    ) -> int:
        """DELETE /entities?type=...[&keep=|&drop=]: delete the matching entities, or with
        keep/drop only remove attributes from them."""
        if keep is None and drop is None:
            return await self.store.purge(tenant, query)
        result = await self.store.query(tenant, query)
        now = now_iso()

        def fn(cur: Entity | None) -> Entity | None:
            if cur is None:
                return cur
            new = dict(cur)
            if keep is not None:
                new["attrs"] = {k: v for k, v in cur["attrs"].items() if k in keep}
            else:
                new["attrs"] = {k: v for k, v in cur["attrs"].items() if k not in (drop or [])}
            new["modifiedAt"] = now
            return new

        results = await self.store.write(tenant, [WriteOp(e["id"], fn) for e in result.entities])
        return sum(1 for r in results if r.ok)


def error_of(exc: Exception) -> DosiError:
    return exc if isinstance(exc, DosiError) else BadRequestDataError(str(exc))
