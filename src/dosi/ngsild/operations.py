"""The NGSI-LD write operations as pure functions on internal entities.

Each takes the current entity (or None) and returns the new one; services wrap them
into store write functions. Update results (what was updated, what was not and why)
are reported through an ``UpdateReport`` the caller passes in.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from dosi.errors import AlreadyExistsError, BadRequestDataError, ResourceNotFoundError
from dosi.ngsild.entity import Entity, Instance, is_null_instance

ABSENT = object()


@dataclass
class UpdateReport:
    """Which attributes an update changed and which it did not (with reasons)."""

    updated: list[str] = field(default_factory=list)
    not_updated: list[tuple[str, str]] = field(default_factory=list)


def _touch(entity: Entity, now: str) -> Entity:
    entity["modifiedAt"] = now
    return entity


def create(current: Entity | None, new: Entity) -> Entity:
    if current is not None:
        raise AlreadyExistsError(f"entity {new['id']} already exists")
    return new


def require(current: Entity | None, entity_id: str) -> Entity:
    if current is None:
        raise ResourceNotFoundError(f"entity {entity_id} not found")
    return copy.deepcopy(current)


def _keep_created(old: Instance | None, new: Instance) -> Instance:
    if old is not None and "createdAt" in old:
        new["createdAt"] = old["createdAt"]
    return new


def _find(instances: list[Instance], dataset_id: Any) -> int:
    for i, inst in enumerate(instances):
        if inst.get("datasetId") == dataset_id:
            return i
    return -1


def _put_instance(instances: list[Instance], inst: Instance) -> None:
    i = _find(instances, inst.get("datasetId"))
    if i >= 0:
        instances[i] = _keep_created(instances[i], inst)
    else:
        instances.append(inst)


def replace_entity(current: Entity | None, new: Entity, entity_id: str) -> Entity:
    """PUT /entities/{id}: everything but id and createdAt is replaced."""
    cur = require(current, entity_id)
    out = dict(new)
    out["id"] = cur["id"]
    if "type" not in out:
        out["type"] = cur["type"]
    out["createdAt"] = cur["createdAt"]
    return out


def append_attrs(
    current: Entity | None,
    patch: Entity,
    entity_id: str,
    now: str,
    *,
    no_overwrite: bool = False,
    report: UpdateReport | None = None,
) -> Entity:
    """POST /entities/{id}/attrs (and batch upsert with update): add or overwrite."""
    cur = require(current, entity_id)
    report = report if report is not None else UpdateReport()
    _merge_types(cur, patch)
    if "scope" in patch:
        if no_overwrite:
            cur["scope"] = list(dict.fromkeys(cur.get("scope", []) + patch["scope"]))
        else:
            cur["scope"] = list(patch["scope"])
    for iri, instances in patch.get("attrs", {}).items():
        existing = cur["attrs"].get(iri)
        if existing is None:
            cur["attrs"][iri] = instances
            report.updated.append(iri)
            continue
        for inst in instances:
            if no_overwrite and _find(existing, inst.get("datasetId")) >= 0:
                report.not_updated.append((iri, "attribute exists and noOverwrite was set"))
                continue
            _put_instance(existing, inst)
            if iri not in report.updated:
                report.updated.append(iri)
    return _touch(cur, now)


def _merge_types(cur: Entity, patch: Entity) -> None:
    for t in patch.get("type", []):
        if t not in cur["type"]:
            cur["type"].append(t)


def _merge_types_scope(cur: Entity, patch: Entity) -> None:
    _merge_types(cur, patch)
    if "scope" in patch:
        cur["scope"] = list(dict.fromkeys(cur.get("scope", []) + patch["scope"]))


def update_attrs(
    current: Entity | None,
    patch: Entity,
    entity_id: str,
    now: str,
    *,
    report: UpdateReport | None = None,
) -> Entity:
    """PATCH /entities/{id}/attrs: replace the attributes given (instances by datasetId),
    adding those the entity lacks, as the conformance suite expects; entity types are
    added; a scope is replaced only where the entity has one."""
    cur = require(current, entity_id)
    report = report if report is not None else UpdateReport()
    changed = False
    if patch.get("type"):
        _merge_types(cur, patch)
        changed = True
    if "scope" in patch:
        if "scope" in cur:
            cur["scope"] = list(patch["scope"])
            report.updated.append("scope")
        else:
            report.not_updated.append(("scope", "the entity has no scope to update"))
    for iri, instances in patch.get("attrs", {}).items():
        existing = cur["attrs"].get(iri)
        if existing is None:
            cur["attrs"][iri] = [i for i in instances if not is_null_instance(i)]
            if not cur["attrs"][iri]:
                del cur["attrs"][iri]
            report.updated.append(iri)
            continue
        for inst in instances:
            i = _find(existing, inst.get("datasetId"))
            if is_null_instance(inst):
                if i >= 0:
                    existing.pop(i)
            elif i < 0:
                existing.append(inst)
            else:
                existing[i] = _keep_created(existing[i], inst)
        if not existing:
            del cur["attrs"][iri]
        report.updated.append(iri)
    return _touch(cur, now) if (report.updated or changed) else cur


def merge_instance(old: Instance, patch: Instance, now: str) -> Instance:
    """Merge-patch one instance: members in the patch replace, sub-attributes merge."""
    out = dict(old)
    for key, val in patch.items():
        if key == "sub":
            subs = dict(out.get("sub", {}))
            for sub_iri, sub_inst in val.items():
                if is_null_instance(sub_inst):
                    subs.pop(sub_iri, None)
                elif sub_iri in subs:
                    subs[sub_iri] = merge_instance(subs[sub_iri], sub_inst, now)
                else:
                    subs[sub_iri] = sub_inst
            if subs:
                out["sub"] = subs
            else:
                out.pop("sub", None)
        elif key == "createdAt":
            continue
        else:
            out[key] = val
    if patch.get("type") and patch["type"] != old.get("type"):
        _drop_other_content(out, patch)
    out["modifiedAt"] = now
    return out


def _drop_other_content(out: Instance, patch: Instance) -> None:
    for key in ("value", "object", "languageMap", "vocab", "json", "valueList", "objectList"):
        if key in out and key not in patch:
            del out[key]


def merge_entity(current: Entity | None, patch: Entity, entity_id: str, now: str) -> Entity:
    """PATCH /entities/{id} (merge-patch) and batch merge."""
    cur = require(current, entity_id)
    _merge_types_scope(cur, patch)
    for iri, instances in patch.get("attrs", {}).items():
        existing = cur["attrs"].get(iri)
        for inst in instances:
            if is_null_instance(inst):
                if existing is not None:
                    i = _find(existing, inst.get("datasetId"))
                    if i >= 0:
                        existing.pop(i)
                    if not existing:
                        cur["attrs"].pop(iri, None)
                        existing = None
                continue
            if existing is None:
                existing = cur["attrs"][iri] = []
            i = _find(existing, inst.get("datasetId"))
            if i >= 0:
                existing[i] = merge_instance(existing[i], inst, now)
            else:
                existing.append(inst)
    return _touch(cur, now)


def partial_attr_update(
    current: Entity | None, entity_id: str, iri: str, patch: Instance, now: str
) -> Entity:
    """PATCH /entities/{id}/attrs/{attrId}."""
    cur = require(current, entity_id)
    existing = cur["attrs"].get(iri)
    if not existing:
        raise ResourceNotFoundError(f"attribute {iri} not found in {entity_id}")
    i = _find(existing, patch.get("datasetId"))
    if i < 0:
        raise ResourceNotFoundError(f"attribute {iri} has no instance with this datasetId")
    if "type" in patch and patch["type"] != existing[i].get("type") and not is_null_instance(
        patch
    ):
        raise BadRequestDataError(
            f"attribute {iri} is a {existing[i].get('type')}, not a {patch['type']}"
        )
    if is_null_instance(patch):
        existing.pop(i)
        if not existing:
            del cur["attrs"][iri]
    else:
        existing[i] = merge_instance(existing[i], patch, now)
    return _touch(cur, now)


def replace_attr(
    current: Entity | None, entity_id: str, iri: str, instances: list[Instance], now: str
) -> Entity:
    """PUT /entities/{id}/attrs/{attrId}."""
    cur = require(current, entity_id)
    existing = cur["attrs"].get(iri)
    if not existing:
        raise ResourceNotFoundError(f"attribute {iri} not found in {entity_id}")
    for inst in instances:
        i = _find(existing, inst.get("datasetId"))
        if i < 0:
            raise ResourceNotFoundError(f"attribute {iri} has no instance with this datasetId")
        existing[i] = _keep_created(existing[i], inst)
    return _touch(cur, now)


def delete_attr(
    current: Entity | None,
    entity_id: str,
    iri: str,
    now: str,
    *,
    dataset_id: str | None = None,
    delete_all: bool = False,
) -> Entity:
    """DELETE /entities/{id}/attrs/{attrId}[?datasetId=..|deleteAll=true]."""
    cur = require(current, entity_id)
    existing = cur["attrs"].get(iri)
    if not existing:
        raise ResourceNotFoundError(f"attribute {iri} not found in {entity_id}")
    if delete_all:
        del cur["attrs"][iri]
    else:
        i = _find(existing, dataset_id)
        if i < 0:
            raise ResourceNotFoundError(
                f"attribute {iri} has no instance with datasetId {dataset_id}"
            )
        existing.pop(i)
        if not existing:
            del cur["attrs"][iri]
    return _touch(cur, now)


def delete_scope(current: Entity | None, entity_id: str, now: str) -> Entity:
    """DELETE /entities/{id}/attrs/scope."""
    cur = require(current, entity_id)
    if "scope" not in cur:
        raise ResourceNotFoundError(f"entity {entity_id} has no scope")
    del cur["scope"]
    return _touch(cur, now)


def check_no_nulls(entity: Entity) -> None:
    for iri, instances in entity.get("attrs", {}).items():
        for inst in instances:
            if is_null_instance(inst):
                raise BadRequestDataError(f"attribute {iri}: urn:ngsi-ld:null is only for merge")
