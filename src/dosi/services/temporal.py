"""Temporal use-cases (/ngsi-ld/v1/temporal/...): history of entities and their
attributes, over a store that keeps it (``HistoryStore``).

A temporal entity is the entity and its history: creating a temporal representation
also creates (or advances) the current entity with the latest instance of each
attribute, so every entity filter of the core API (type, q, geoQ, scopeQ) works on
temporal queries; deleting it deletes both. The other temporal writes edit history only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from dosi.errors import BadRequestDataError, ResourceNotFoundError
from dosi.ngsild.context import ActiveContext
from dosi.ngsild.entity import Entity, expand_attr_name, parse_instance
from dosi.ngsild.query.ast import EntityQuery
from dosi.ngsild.temporal import (
    TemporalOptions,
    TemporalPayload,
    merge_latest,
    parse_temporal_entity,
    to_ms,
)
from dosi.ngsild.values import now_iso, require_uri
from dosi.services.entities import EntityService
from dosi.storage.base import (
    AggregateQuery,
    AggregateSeries,
    EntityHistory,
    HistoryQuery,
    HistoryStore,
    WriteOp,
)


@dataclass
class TemporalEntity:
    """One entity's answer: its types, its current state (if it exists) and either its
    history or its aggregates."""

    entity_id: str
    types: list[str]
    current: Entity | None
    history: EntityHistory | None = None
    aggregates: list[AggregateSeries] | None = None

    @property
    def truncated(self) -> bool:
        return self.history is not None and self.history.truncated

    def empty_attrs(self, attrs: Sequence[str] | None) -> list[str]:
        """Attributes to show with no instance: those a truncated page left out."""
        if not self.truncated or self.current is None or self.history is None:
            return []
        shown = {i.attr for i in self.history.instances}
        return [
            a
            for a in self.current.get("attrs", {})
            if a not in shown and (attrs is None or a in attrs)
        ]


class TemporalService:
    """NGSI-LD temporal operations; ``limit`` caps the instances per entity answered."""

    def __init__(self, store: HistoryStore, entities: EntityService, limit: int) -> None:
        self.store = store
        self.entities = entities
        self.limit = limit

    # --- writes ---

    async def _write(self, tenant: str, payload: TemporalPayload, *, must_exist: bool) -> bool:
        assert payload.entity_id is not None
        eid = payload.entity_id
        history = [(iri, inst) for iri, insts in payload.instances.items() for inst in insts]
        await self.store.prepare_history(
            [to_ms(i["observedAt"]) for _, i in history if "observedAt" in i]
        )
        now = now_iso()

        def fn(cur: Entity | None) -> Entity:
            if cur is None and must_exist:
                raise ResourceNotFoundError(f"entity {eid} not found")
            return merge_latest(cur, payload, now)

        [result] = await self.store.write(tenant, [WriteOp(eid, fn, history=history)])
        if result.error is not None:
            raise result.error
        return result.before is None

    async def create_or_update(
        self, tenant: str, body: Any, ctx: ActiveContext
    ) -> tuple[str, bool]:
        """POST /temporal/entities: returns the entity id and whether it was created."""
        payload = parse_temporal_entity(body, ctx, now_iso())
        created = await self._write(tenant, payload, must_exist=False)
        assert payload.entity_id is not None
        return payload.entity_id, created

    async def append(self, tenant: str, entity_id: str, body: Any, ctx: ActiveContext) -> None:
        """POST /temporal/entities/{entityId}/attrs."""
        require_uri(entity_id, "entity id")
        payload = parse_temporal_entity(body, ctx, now_iso(), require_id=False, require_type=False)
        if payload.entity_id not in (None, entity_id):
            raise BadRequestDataError("the entity id in the body differs from the URL")
        if not payload.instances:
            raise BadRequestDataError("no attribute instance to add")
        await self._write(tenant, replace(payload, entity_id=entity_id), must_exist=True)

    def _attr(self, entity_id: str, attr: str, ctx: ActiveContext) -> str:
        require_uri(entity_id, "entity id")
        return expand_attr_name(attr, ctx)

    async def _require_entity(self, tenant: str, entity_id: str) -> None:
        if (
            await self.store.get(tenant, entity_id) is None
            and await self.store.history_types(tenant, entity_id) is None
        ):
            raise ResourceNotFoundError(f"temporal entity {entity_id} not found")

    async def update_instance(
        self,
        tenant: str,
        entity_id: str,
        attr: str,
        instance_id: str,
        body: Any,
        ctx: ActiveContext,
    ) -> None:
        """PATCH /temporal/entities/{entityId}/attrs/{attrId}/{instanceId}."""
        iri = self._attr(entity_id, attr, ctx)
        require_uri(instance_id, "instanceId")
        if not isinstance(body, dict):
            raise BadRequestDataError("the instance fragment must be a JSON object")
        raw = {k: v for k, v in body.items() if k != "@context"}
        patch = parse_instance(raw, ctx, now_iso(), iri=iri)
        await self._require_entity(tenant, entity_id)
        if not await self.store.update_instance(tenant, entity_id, iri, instance_id, patch):
            raise ResourceNotFoundError(f"no instance {instance_id} of {attr} in {entity_id}")

    async def delete_instance(
        self, tenant: str, entity_id: str, attr: str, instance_id: str, ctx: ActiveContext
    ) -> None:
        """DELETE /temporal/entities/{entityId}/attrs/{attrId}/{instanceId}."""
        iri = self._attr(entity_id, attr, ctx)
        require_uri(instance_id, "instanceId")
        await self._require_entity(tenant, entity_id)
        if not await self.store.delete_instance(tenant, entity_id, iri, instance_id):
            raise ResourceNotFoundError(f"no instance {instance_id} of {attr} in {entity_id}")

    async def delete_attr(
        self,
        tenant: str,
        entity_id: str,
        attr: str,
        ctx: ActiveContext,
        dataset_id: str | None,
        delete_all: bool,
    ) -> None:
        """DELETE /temporal/entities/{entityId}/attrs/{attrId}[?datasetId|deleteAll]."""
        iri = self._attr(entity_id, attr, ctx)
        if dataset_id is not None:
            require_uri(dataset_id, "datasetId")
        await self._require_entity(tenant, entity_id)
        if not await self.store.delete_attr_history(tenant, entity_id, iri, dataset_id, delete_all):
            raise ResourceNotFoundError(f"attribute {attr} of {entity_id} has no history")

    async def delete(self, tenant: str, entity_id: str) -> None:
        """DELETE /temporal/entities/{entityId}: the entity and all its history."""
        require_uri(entity_id, "entity id")
        [result] = await self.store.write(tenant, [WriteOp(entity_id, lambda cur: None)])
        removed = await self.store.delete_history(tenant, entity_id)
        if result.before is None and not removed:
            raise ResourceNotFoundError(f"temporal entity {entity_id} not found")

    # --- reads ---

    async def retrieve(
        self, tenant: str, entity_id: str, hq: HistoryQuery, opts: TemporalOptions
    ) -> TemporalEntity:
        """GET /temporal/entities/{entityId}."""
        require_uri(entity_id, "entity id")
        current = await self.store.get(tenant, entity_id)
        types = current["type"] if current else await self.store.history_types(tenant, entity_id)
        if types is None:
            raise ResourceNotFoundError(f"temporal entity {entity_id} not found")
        [found] = await self._fetch(
            tenant, [(entity_id, types, current)], hq, opts, keep_empty=True
        )
        if hq.attrs is not None:
            known = set(current["attrs"]) if current else set()
            known |= {i.attr for i in (found.history.instances if found.history else [])}
            known |= {s.attr for s in found.aggregates or []}
            if not known.intersection(hq.attrs):
                raise ResourceNotFoundError(f"entity {entity_id} has none of these attributes")
        return found

    async def query(
        self, tenant: str, query: EntityQuery, hq: HistoryQuery, opts: TemporalOptions
    ) -> tuple[list[TemporalEntity], int | None]:
        """GET /temporal/entities, POST /temporal/entityOperations/query: the entities
        the filters select (current state), those with matching history; and with
        ``count`` the number of entities the filters select."""
        result = await self.entities.query(tenant, query)
        picked = [(e["id"], e["type"], e) for e in result.entities]
        return await self._fetch(tenant, picked, hq, opts, keep_empty=False), result.count

    async def _fetch(
        self,
        tenant: str,
        picked: list[tuple[str, list[str], Entity | None]],
        hq: HistoryQuery,
        opts: TemporalOptions,
        *,
        keep_empty: bool,
    ) -> list[TemporalEntity]:
        ids = [eid for eid, _, _ in picked]
        out: list[TemporalEntity] = []
        if opts.representation == "aggregatedValues":
            tf = hq.time
            origin = tf.time_at if tf.timerel in ("after", "between") else None
            aq = AggregateQuery(
                hq.attrs, hq.datasets, tf, opts.aggr_methods, opts.aggr_period, origin
            )
            series = await self.store.aggregate(tenant, ids, aq)
            for eid, types, cur in picked:
                if eid in series or keep_empty:
                    out.append(TemporalEntity(eid, types, cur, aggregates=series.get(eid, [])))
            return out
        histories = await self.store.history(tenant, ids, replace(hq, limit=self.limit))
        for eid, types, cur in picked:
            h = histories.get(eid)
            if h is not None or keep_empty:
                out.append(TemporalEntity(eid, types, cur, history=h))
        return out
