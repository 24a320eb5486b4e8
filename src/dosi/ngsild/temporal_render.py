"""Rendering temporal representations of entities: normalized (instances with
``instanceId``), simplified (``temporalValues``) and aggregated (``aggregatedValues``),
with ``pick``/``omit``, and the ``Content-Range`` of a partial (206) answer.

Pure: instances come in as records with the attributes below (the storage layer's
``StoredInstance`` has them); names are compacted with the caller's @context.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from dosi.ngsild.context import ActiveContext
from dosi.ngsild.render import RenderOptions, render_instance
from dosi.ngsild.temporal import TimeFilter, iso

PLURAL = {
    "Property": ("values", None),
    "GeoProperty": ("values", None),
    "Relationship": ("objects", None),
    "LanguageProperty": ("languageMaps", "languageMap"),
    "VocabProperty": ("vocabs", "vocab"),
    "JsonProperty": ("jsons", "json"),
    "ListProperty": ("valueLists", "valueList"),
    "ListRelationship": ("objectLists", "objectList"),
}
CONTENT = {"Property": "value", "GeoProperty": "value", "Relationship": "object"}


class InstanceRecord(Protocol):
    attr: str
    dataset: str
    instance_id: str
    t: int
    observed_at: int | None
    created_at: int
    modified_at: int
    deleted_at: int | None
    doc: dict[str, Any]


class SeriesRecord(Protocol):
    attr: str
    dataset: str
    kind: str
    methods: tuple[str, ...]
    starts: list[int]
    ends: list[int]
    columns: list[list[Any]]


@dataclass(frozen=True)
class TemporalView:
    """What to render: representation, sysAttrs, lang, pick/omit (as ``RenderOptions``)."""

    representation: str = "normalized"
    options: RenderOptions = field(default_factory=RenderOptions)


def _keep(opts: RenderOptions, name: str, iri: str | None = None) -> bool:
    pick, omit = opts.pick, opts.omit
    if pick is not None and name not in pick and (iri is None or iri not in pick):
        return False
    return omit is None or not (name in omit or (iri is not None and iri in omit))


def _head(
    entity_id: str, types: Sequence[str], ctx: ActiveContext, opts: RenderOptions
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if _keep(opts, "id"):
        out["id"] = entity_id
    if _keep(opts, "type") and types:
        names = [ctx.compact(t) for t in types]
        out["type"] = names[0] if len(names) == 1 else names
    return out


def _internal(rec: InstanceRecord) -> dict[str, Any]:
    inst = dict(rec.doc)
    if rec.dataset:
        inst["datasetId"] = rec.dataset
    if rec.observed_at is not None:
        inst["observedAt"] = iso(rec.observed_at)
    inst["createdAt"] = iso(rec.created_at)
    inst["modifiedAt"] = iso(rec.modified_at)
    return inst


def _normalized(rec: InstanceRecord, ctx: ActiveContext, opts: RenderOptions) -> Any:
    out = render_instance(_internal(rec), ctx, opts)
    if isinstance(out, dict):
        out["instanceId"] = rec.instance_id
        if rec.deleted_at is not None:
            out["deletedAt"] = iso(rec.deleted_at)
    return out


def _simplified(recs: list[InstanceRecord], ctx: ActiveContext) -> dict[str, Any]:
    kind = recs[0].doc.get("type", "Property")
    key, inner = PLURAL.get(kind, ("values", None))
    content_key = CONTENT.get(kind, inner or "value")
    pairs = []
    for r in recs:
        content = r.doc.get(content_key)
        if kind == "VocabProperty":
            content = (
                [ctx.compact(v) for v in content]
                if isinstance(content, list)
                else ctx.compact(content)
            )
        pairs.append([{inner: content} if inner else content, iso(r.t)])
    out: dict[str, Any] = {"type": kind}
    if recs[0].dataset:
        out["datasetId"] = recs[0].dataset
    out[key] = pairs
    return out


@functools.lru_cache(maxsize=65536)
def _iso(ms: int) -> str:
    """Period bounds repeat across every series of an answer."""
    return iso(ms)


def _one_or_many(items: list[dict[str, Any]]) -> Any:
    return items[0] if len(items) == 1 else items


def render_temporal(
    entity_id: str,
    types: Sequence[str],
    instances: Iterable[InstanceRecord],
    ctx: ActiveContext,
    view: TemporalView,
    empty_attrs: Iterable[str] = (),
) -> dict[str, Any]:
    """One entity's temporal representation (normalized or temporalValues);
    ``empty_attrs`` are shown with no instance (cut off by pagination)."""
    opts = replace(view.options, format="normalized")
    out = _head(entity_id, types, ctx, opts)
    by_attr: dict[str, list[InstanceRecord]] = {}
    for rec in instances:
        by_attr.setdefault(rec.attr, []).append(rec)
    for iri in empty_attrs:
        by_attr.setdefault(iri, [])
    for iri, recs in by_attr.items():
        name = ctx.compact(iri)
        if not _keep(opts, name, iri):
            continue
        if view.representation == "temporalValues":
            groups: dict[str, list[InstanceRecord]] = {}
            for r in recs:
                groups.setdefault(r.dataset, []).append(r)
            out[name] = (
                _one_or_many([_simplified(g, ctx) for g in groups.values()]) if groups else []
            )
        else:
            out[name] = [_normalized(r, ctx, opts) for r in recs]
    return out


def render_aggregated(
    entity_id: str,
    types: Sequence[str],
    series: Iterable[SeriesRecord],
    ctx: ActiveContext,
    view: TemporalView,
) -> dict[str, Any]:
    """One entity's aggregated temporal representation (``aggregatedValues``)."""
    opts = view.options
    out = _head(entity_id, types, ctx, opts)
    by_attr: dict[str, list[dict[str, Any]]] = {}
    for s in series:
        name = ctx.compact(s.attr)
        if not _keep(opts, name, s.attr):
            continue
        item: dict[str, Any] = {"type": s.kind}
        if s.dataset:
            item["datasetId"] = s.dataset
        starts, ends = [_iso(t) for t in s.starts], [_iso(t) for t in s.ends]
        for method, column in zip(s.methods, s.columns, strict=True):
            dest = [[v, a, b] for v, a, b in zip(column, starts, ends) if v is not None]
            if dest:
                item[method] = dest
        by_attr.setdefault(name, []).append(item)
    for name, items in by_attr.items():
        out[name] = _one_or_many(items)
    return out


def content_range(times: Sequence[int], tf: TimeFilter, last_n: int | None) -> str:
    """``Content-Range: date-time <start>-<end>/<size>`` of a partial answer: ascending
    from timeAt (after, between) or the first instance shown, to the last shown; with
    ``lastN`` descending from endTimeAt/timeAt (between/before) or the most recent shown."""
    lo, hi = (min(times), max(times)) if times else (0, 0)
    if last_n is None:
        start = tf.time_at if tf.timerel in ("after", "between") and tf.time_at is not None else lo
        return f"date-time {iso(start)}-{iso(hi)}/*"
    if tf.timerel == "between" and tf.end_time_at is not None:
        start = tf.end_time_at
    elif tf.timerel == "before" and tf.time_at is not None:
        start = tf.time_at
    else:
        start = hi
    return f"date-time {iso(start)}-{iso(lo)}/{last_n}"
