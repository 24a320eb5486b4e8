"""What a change means to a subscription, and what its notification shows (clause
5.2.12 / 5.8.6): pure functions on internal entities (docs/design/internals.md).

``trigger_for`` names the notificationTrigger a change fires (or None); ``data_entity``
builds the entity a notification carries, in internal form, with deleted attributes
as NGSI-LD Null instances; ``render_data`` renders it and adds ``previousValue`` &c.
(showChanges) and ``deletedAt``.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from dosi.ngsild.context import ActiveContext
from dosi.ngsild.entity import Entity, Instance, content_key
from dosi.ngsild.render import RenderOptions, render_entity
from dosi.ngsild.values import NULL_URI

_SYSTEM = ("createdAt", "modifiedAt")


def _strip(inst: Instance) -> dict[str, Any]:
    out = {k: v for k, v in inst.items() if k not in _SYSTEM}
    if "sub" in out:
        out["sub"] = {k: _strip(v) for k, v in out["sub"].items()}
    return out


def _by_dataset(instances: list[Instance]) -> dict[str | None, Instance]:
    return {i.get("datasetId"): i for i in instances}


@dataclass
class AttrChanges:
    """Attribute IRIs with an instance created, updated (content, not only its
    modifiedAt) or deleted; ``deleted_instances`` per IRI (datasetId -> instance)."""

    created: set[str] = field(default_factory=set)
    updated: set[str] = field(default_factory=set)
    deleted: set[str] = field(default_factory=set)
    deleted_instances: dict[str, dict[str | None, Instance]] = field(default_factory=dict)
    other: bool = False  # types or scopes changed


def attr_changes(before: Entity, after: Entity) -> AttrChanges:
    ch = AttrChanges()
    old, new = before.get("attrs", {}), after.get("attrs", {})
    for iri in old.keys() | new.keys():
        o, n = _by_dataset(old.get(iri, [])), _by_dataset(new.get(iri, []))
        if n.keys() - o.keys():
            ch.created.add(iri)
        gone = o.keys() - n.keys()
        if gone:
            ch.deleted.add(iri)
            ch.deleted_instances[iri] = {k: o[k] for k in gone}
        if any(_strip(o[k]) != _strip(n[k]) for k in o.keys() & n.keys()):
            ch.updated.add(iri)
    ch.other = before.get("type") != after.get("type") or before.get("scope") != after.get("scope")
    return ch


def trigger_for(
    triggers: Collection[str], watched: Collection[str] | None,
    before: Entity | None, after: Entity | None, changes: AttrChanges | None = None,
) -> str | None:
    """The notificationTrigger this change fires for a subscription, or None
    (``changes``: ``attr_changes(before, after)`` if already known)."""
    def seen(attrs: Collection[str]) -> bool:
        return bool(attrs) if watched is None else any(a in watched for a in attrs)

    if before is None and after is not None:
        if "entityCreated" in triggers:
            return "entityCreated"
        if "attributeCreated" in triggers and seen(after.get("attrs", {}).keys()):
            return "attributeCreated"
        return None
    if after is None and before is not None:
        if "entityDeleted" in triggers:
            return "entityDeleted"
        if "attributeDeleted" in triggers and seen(before.get("attrs", {}).keys()):
            return "attributeDeleted"
        return None
    if before is None or after is None:
        return None
    ch = changes if changes is not None else attr_changes(before, after)
    if "attributeCreated" in triggers and seen(ch.created):
        return "attributeCreated"
    if "attributeUpdated" in triggers and seen(ch.updated):
        return "attributeUpdated"
    if "attributeDeleted" in triggers and seen(ch.deleted):
        return "attributeDeleted"
    if "entityUpdated" in triggers and (ch.created or ch.updated or ch.deleted or ch.other):
        return "entityUpdated"
    return None


def _null_instance(inst: Instance, entity_gone: bool, at: str, keep_dataset: bool) -> Instance:
    kind = inst.get("type", "Property")
    key = content_key(kind)
    null: Any = NULL_URI
    if kind == "LanguageProperty" and not entity_gone:
        null = {"@none": NULL_URI}
    out: Instance = {"type": kind, key: null, "deletedAt": at,
                     "_previous": inst.get(key)}
    if keep_dataset and "datasetId" in inst:
        out["datasetId"] = inst["datasetId"]
    for meta in _SYSTEM:
        if meta in inst:
            out[meta] = inst[meta]
    return out


def data_entity(
    before: Entity | None, after: Entity | None, *, triggers: Collection[str],
    watched: Collection[str] | None, show_changes: bool, at: str,
) -> Entity:
    """The entity a notification reports, in internal form. Deleted attributes appear
    as NGSI-LD Null instances carrying their old content under ``_previous``; with
    showChanges, updated instances carry theirs too; a deleted entity has ``deletedAt``."""
    if after is None:
        assert before is not None
        out: Entity = {k: before[k] for k in ("id", "type", "scope", *_SYSTEM) if k in before}
        out["deletedAt"] = at
        attrs: dict[str, list[Instance]] = {}
        if show_changes or "entityDeleted" not in triggers:
            for iri, insts in before.get("attrs", {}).items():
                if show_changes or watched is None or iri in watched:
                    attrs[iri] = [_null_instance(insts[0], True, at, False)]
        out["attrs"] = attrs
        return out
    out = dict(after)
    if before is None:
        return out
    attrs = {k: list(v) for k, v in after.get("attrs", {}).items()}
    ch = attr_changes(before, after)
    if "attributeDeleted" in triggers:
        for iri, gone in ch.deleted_instances.items():
            if watched is not None and iri not in watched:
                continue
            if iri in attrs:
                attrs[iri] += [_null_instance(i, False, at, True) for i in gone.values()]
            else:
                attrs[iri] = [_null_instance(next(iter(gone.values())), False, at, False)]
    if show_changes:
        for iri in ch.updated:
            old = _by_dataset(before["attrs"].get(iri, []))
            attrs[iri] = [
                {**i, "_previous": old[i.get("datasetId")].get(content_key(i["type"]))}
                if i.get("datasetId") in old and "_previous" not in i else i
                for i in attrs[iri]
            ]
    out["attrs"] = attrs
    return out


def render_data(
    entity: Entity, ctx: ActiveContext, opts: RenderOptions, show_changes: bool,
    linked: dict[str, Entity] | None = None,
) -> dict[str, Any]:
    """Render a ``data_entity`` result: previous contents (showChanges), deletedAt."""
    out = render_entity(entity, ctx, opts, linked)
    if "deletedAt" in entity:
        out["deletedAt"] = entity["deletedAt"]
    if opts.format == "keyValues":
        return _datasets_by_id(entity, ctx, out)
    for iri, insts in entity.get("attrs", {}).items():
        name = ctx.compact(iri)
        rendered = out.get(name)
        if rendered is None:
            continue
        items = rendered if isinstance(rendered, list) else [rendered]
        for inst, item in zip(insts, items):
            if not isinstance(item, dict):
                continue
            if show_changes and "_previous" in inst and inst["_previous"] is not None:
                key = content_key(inst["type"])
                prev = inst["_previous"]
                if inst["type"] == "VocabProperty":
                    prev = [ctx.compact(v) for v in prev] if isinstance(prev, list) \
                        else ctx.compact(prev)
                item["previous" + key[0].upper() + key[1:]] = prev
            if opts.sys_attrs and "deletedAt" in inst:
                item["deletedAt"] = inst["deletedAt"]
    return out


def _datasets_by_id(entity: Entity, ctx: ActiveContext, out: dict[str, Any]) -> dict[str, Any]:
    """keyValues of a multi-instance attribute: ``{"dataset": {datasetId|@none: value}}``."""
    for iri, insts in entity.get("attrs", {}).items():
        name = ctx.compact(iri)
        rendered = out.get(name)
        if isinstance(rendered, list) and len(rendered) == len(insts) and len(insts) > 1:
            out[name] = {"dataset": {i.get("datasetId", "@none"): v
                                     for i, v in zip(insts, rendered)}}
    return out
