"""Fast path for mapped device observations: straight to the store, one transaction a batch.

The generic pipeline parses every entity as JSON-LD (tens of microseconds each). Device
messages of a declared group need none of that: the entity type and attribute names
are known, so they are expanded once per group; each batch becomes one merge op per
entity (the newest value of each attribute) whose ``WriteOp.history`` lists every
observation of the batch, so nothing observed is lost from history even when a device
sends twice within one batch. History rows with the same ``observedAt`` replace each
other, so a message the broker redelivers after a crash does not count twice.
Bad messages never come here: the coordinator sends them through the pipeline, which
rejects them with the reason into the dead-letter store.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from dosi.ingest.adapters.mqtt.mapping import DeviceGroup, DeviceMessage
from dosi.ngsild import operations as ops
from dosi.ngsild.context import ActiveContext
from dosi.ngsild.values import now_iso
from dosi.storage.base import Entity, EntityStore, WriteOp

Resolve = Callable[[Any], Awaitable[ActiveContext]]


class FastObservationWriter:
    """Writes device messages of known groups to an ``EntityStore`` in one ``write`` call."""

    def __init__(self, store: EntityStore, resolve: Resolve) -> None:
        self.store, self.resolve = store, resolve
        self._names: dict[str, tuple[str, dict[str, str]]] = {}

    async def prepare(self, group: DeviceGroup) -> None:
        """Expand the group's type and attribute names once (its @context, then core)."""
        ctx = await self.resolve(group.context or None)
        attrs = {spec.name: ctx.expand(spec.name) for spec in group.attributes.values()}
        if group.time_attribute:
            attrs[group.time_attribute] = ctx.expand(group.time_attribute)
        self._names[group.name] = (ctx.expand(group.entity_type), attrs)

    async def write(self, batch: Sequence[tuple[DeviceGroup, DeviceMessage]], tenant: str = ""
                    ) -> list[str]:
        """Write the batch to ``tenant``; returns the entity ids whose write failed."""
        now = now_iso()
        patches: dict[str, Entity] = {}
        history: dict[str, list[tuple[str, dict[str, Any]]]] = {}
        for group, msg in batch:
            if group.name not in self._names:
                await self.prepare(group)
            type_iri, names = self._names[group.name]
            patch = patches.get(msg.entity_id)
            if patch is None:
                patch = patches[msg.entity_id] = {"id": msg.entity_id, "type": [type_iri],
                                                  "attrs": {}}
                history[msg.entity_id] = []
            elif type_iri not in patch["type"]:
                patch["type"].append(type_iri)
            rows = history[msg.entity_id]
            for o in msg.observations:
                iri = names[o.attr]
                inst: dict[str, Any] = {"type": "Property", "value": o.value}
                if o.unit:
                    inst["unitCode"] = o.unit
                if o.observed_at:
                    inst["observedAt"] = o.observed_at
                inst["createdAt"] = inst["modifiedAt"] = now
                patch["attrs"][iri] = [inst]
                rows.append((iri, inst))
        write_ops = [WriteOp(eid, _merge_fn(patch, now), history=history[eid])
                     for eid, patch in patches.items()]
        results = await self.store.write(tenant, write_ops)
        return [r.entity_id for r in results if not r.ok]


def _merge_fn(patch: Entity, now: str) -> Callable[[Entity | None], Entity]:
    def fn(current: Entity | None) -> Entity:
        if current is None:
            return {"id": patch["id"], "type": list(patch["type"]), "createdAt": now,
                    "modifiedAt": now, "attrs": {k: list(v) for k, v in patch["attrs"].items()}}
        return ops.merge_entity(current, patch, patch["id"], now)

    return fn
