"""History capture: which attribute instances a write appends to the history tables
(every write route, through ``EntityStore.write``; both backends, same transaction).

An instance is recorded when it is new or its content changed (system timestamps
aside); an instance that disappears from a still existing entity leaves a deletion
marker (``deletedAt``), as does a removed scope. Temporal API writes carry their
instances explicitly (``WriteOp.history``) and those are recorded instead of the diff.
Deleting an entity deletes its history when the policy says so (the default).
"""

from __future__ import annotations

import functools
import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import orjson

from dosi.ngsild.entity import content_key
from dosi.ngsild.temporal import to_ms
from dosi.storage.base import Entity, OpResult, WriteOp
from dosi.storage.plan import Change

NGSILD = "https://uri.etsi.org/ngsi-ld/"
SCOPE = NGSILD + "scope"
NULL = "urn:ngsi-ld:null"
INSTANCE_PREFIX = "urn:ngsi-ld:attribute:instance:"
_SYSTEM = frozenset({"createdAt", "modifiedAt", "observedAt", "datasetId", "instanceId"})


@dataclass(frozen=True)
class HistoryPolicy:
    """What is kept: history on or off, per tenant and per entity type (expanded IRIs)."""

    enabled: bool = True
    off_tenants: frozenset[str] = frozenset()
    off_types: frozenset[str] = frozenset()
    delete_with_entity: bool = True

    def keeps(self, tenant: str, entity: Entity | None) -> bool:
        if not self.enabled or tenant in self.off_tenants:
            return False
        return entity is None or not self.off_types.intersection(entity.get("type", ()))


class HistoryRow(NamedTuple):
    """One attribute instance in history; times are epoch ms (``ts`` orders and
    partitions: observedAt, else deletedAt, else modifiedAt). A tuple: thousands are
    built per batch write."""

    entity_id: str
    attr: str
    dataset: str  # "" is the default instance
    instance: int  # a random version-4 UUID as an int (PostgreSQL draws its own)
    ts: int
    observed_at: int | None
    created_at: int  # when the instance was recorded
    modified_at: int | None  # None until the instance itself is edited
    deleted_at: int | None
    num: float | None
    doc: str


@dataclass
class Capture:
    """What one write() call does to history."""

    rows: list[HistoryRow] = field(default_factory=list)
    purge: list[str] = field(default_factory=list)  # entity ids whose history goes
    replace: bool = False  # explicit rows replace instances with the same observedAt
    headers: dict[str, list[str]] = field(default_factory=dict)  # entity id -> types
    new_types: set[str] = field(default_factory=set)  # headers to (re)write: new, retyped


@dataclass
class KnownIds:
    """Committed ``tid`` per (tenant, entity id) and ``aid`` per attribute IRI: rows of
    ``temporal_entity`` and ``temporal_attr`` are never deleted, so a store keeps the
    integers it has seen and the write path need not look them up again. What a
    transaction looked up or created is kept only once it has committed (``learn``)."""

    tids: dict[tuple[str, str], int] = field(default_factory=dict)
    aids: dict[str, int] = field(default_factory=dict)

    def learn(self, learnt: KnownIds) -> None:
        self.tids.update(learnt.tids)
        self.aids.update(learnt.aids)


_V4_CLEAR = ~((0xF000 << 64) | (0xC000 << 48))
_V4_SET = (0x4000 << 64) | (0x8000 << 48)


def new_instance() -> int:
    """A random version-4 UUID (as an int): instance ids need uniqueness, not secrecy,
    and this is ten times cheaper than ``uuid.uuid4()`` on the write path."""
    return (random.getrandbits(128) & _V4_CLEAR) | _V4_SET


def instance_uri(value: uuid.UUID) -> str:
    return INSTANCE_PREFIX + str(value)


def parse_instance_uri(text: str) -> uuid.UUID | None:
    """The uuid of an instanceId this hub generated (None: not one of ours)."""
    if not text.startswith(INSTANCE_PREFIX):
        return None
    try:
        return uuid.UUID(text[len(INSTANCE_PREFIX) :])
    except ValueError:
        return None


_STAMPS = frozenset({"createdAt", "modifiedAt"})


def same_content(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether two instances differ only in their system timestamps (also in
    sub-attributes): then an update recorded nothing new."""
    n = 0
    for key, value in b.items():
        if key in _STAMPS:
            continue
        n += 1
        other = a.get(key, _STAMPS)
        if other == value:
            continue
        if key != "sub" or not isinstance(other, dict) or other.keys() != value.keys():
            return False
        if not all(same_content(other[k], value[k]) for k in value):
            return False
    return n == sum(1 for key in a if key not in _STAMPS)


def row_of(
    entity_id: str, attr: str, inst: dict[str, Any], now: int, deleted_at: int | None = None
) -> HistoryRow:
    """A history row for one internal-form instance."""
    doc = dict(inst)
    obs = doc.pop("observedAt", None)
    observed = _cached_ms(obs) if isinstance(obs, str) else None
    doc.pop("createdAt", None)
    created = _ms(doc.pop("modifiedAt", None), now)  # this instance came to be then
    dataset = doc.pop("datasetId", None) or ""
    doc.pop("instanceId", None)
    value = doc.get("value")
    num = float(value) if type(value) in (int, float) and doc.get("type") == "Property" else None
    ts = observed if observed is not None else deleted_at if deleted_at is not None else created
    return _new_row(  # HistoryRow(...) without its Python-level __new__
        HistoryRow,
        (
            entity_id,
            attr,
            dataset,
            new_instance(),
            ts,
            observed,
            created,
            None,
            deleted_at,
            num,
            orjson.dumps(doc).decode(),
        ),
    )


_new_row = tuple.__new__


@functools.lru_cache(maxsize=4096)
def _cached_ms(value: str) -> int:
    """Timestamps repeat within a write (one "now", shared observation times)."""
    return to_ms(value)


def _ms(value: Any, default: int) -> int:
    try:
        return _cached_ms(value) if isinstance(value, str) else default
    except ValueError:
        return default


def deletion_marker(kind: str, dataset: str | None) -> dict[str, Any]:
    """The instance recorded when an attribute instance is deleted."""
    key = content_key(kind)
    content: Any = {"@none": NULL} if kind == "LanguageProperty" else NULL
    inst: dict[str, Any] = {"type": kind, key: content}
    if dataset:
        inst["datasetId"] = dataset
    return inst


def diff_rows(change: Change, now: int) -> list[HistoryRow]:
    """New or changed instances of ``change.after``, and markers for removed ones."""
    before, after = change.before or {}, change.after
    assert after is not None
    eid = change.entity_id
    rows: list[HistoryRow] = []
    old_attrs = before.get("attrs", {})
    new_attrs = after.get("attrs", {})
    kept = 0  # old attributes whose one instance is still there (the common case)
    for iri, insts in new_attrs.items():
        prevs = old_attrs.get(iri)
        if prevs is None:
            rows.extend(row_of(eid, iri, inst, now) for inst in insts)
        elif len(insts) == 1 == len(prevs) and insts[0].get("datasetId") == prevs[0].get(
            "datasetId"
        ):  # the common case: one instance, kept
            kept += 1
            if not same_content(prevs[0], insts[0]):
                rows.append(row_of(eid, iri, insts[0], now))
        else:
            old = {i.get("datasetId"): i for i in prevs}
            for inst in insts:
                prev = old.get(inst.get("datasetId"))
                if prev is None or not same_content(prev, inst):
                    rows.append(row_of(eid, iri, inst, now))
    for iri, insts in old_attrs.items() if kept < len(old_attrs) else ():  # else none removed
        news = new_attrs.get(iri, ())
        if len(insts) == 1 == len(news) and insts[0].get("datasetId") == news[0].get("datasetId"):
            continue
        kept = {i.get("datasetId") for i in news}
        for inst in insts:
            if inst.get("datasetId") not in kept:
                marker = deletion_marker(inst.get("type", "Property"), inst.get("datasetId"))
                marker["modifiedAt"] = after.get("modifiedAt")
                stamp = _ms(after.get("modifiedAt"), now)
                rows.append(row_of(eid, iri, marker, now, deleted_at=stamp))
    if before.get("scope") and not after.get("scope"):
        marker = {"type": "Property", "value": [], "modifiedAt": after.get("modifiedAt")}
        stamp = _ms(after.get("modifiedAt"), now)
        rows.append(row_of(eid, SCOPE, marker, now, deleted_at=stamp))
    return rows


def capture(
    tenant: str,
    policy: HistoryPolicy,
    ops: Sequence[WriteOp],
    results: Sequence[OpResult],
    changes: Sequence[Change],
    now: int,
) -> Capture:
    """The history effect of one write() call, from its applied changes."""
    out = Capture()
    if not policy.enabled or tenant in policy.off_tenants:
        return out
    explicit: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for op, res in zip(ops, results):
        if op.history is not None and res.ok:
            explicit.setdefault(op.entity_id, []).extend(op.history)
    for ch in changes:
        if not ch.changed:
            continue
        if ch.after is None:
            if ch.before is not None and policy.delete_with_entity:
                out.purge.append(ch.entity_id)
            continue
        if not policy.keeps(tenant, ch.after):
            continue
        if ch.entity_id in explicit:
            out.replace = True
            rows = [row_of(ch.entity_id, iri, inst, now) for iri, inst in explicit[ch.entity_id]]
        else:
            rows = diff_rows(ch, now)
        retyped = ch.before is None or ch.before.get("type") != ch.after.get("type")
        if rows or retyped:
            out.headers[ch.entity_id] = list(ch.after["type"])
        if retyped:
            out.new_types.add(ch.entity_id)
        out.rows.extend(rows)
    return out
