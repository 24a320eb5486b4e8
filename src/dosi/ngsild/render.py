"""Rendering internal entities as NGSI-LD representations.

normalized, concise and keyValues (simplified), with ``sysAttrs``, ``lang``,
``pick``/``omit``/``attrs`` projections and the GeoJSON Feature form. Names are
compacted with the caller's active @context.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from dosi.ngsild.context import NGSILD, ActiveContext
from dosi.ngsild.entity import Entity, Instance, content_key
from dosi.ngsild.projection import Projection

LOCATION = NGSILD + "location"


@dataclass(frozen=True)
class RenderOptions:
    """How to render: ``format`` is normalized, concise or keyValues."""

    format: str = "normalized"
    sys_attrs: bool = False
    lang: str | None = None
    pick: Projection | None = None  # names as given and expanded; id/type allowed
    omit: Projection | None = None
    attrs: frozenset[str] | None = None  # expanded IRIs (attrs=)
    geometry_property: str = LOCATION  # expanded IRI
    join: str | None = None  # "inline" or "flat": linked entity retrieval
    join_level: int = 1
    dataset_ids: frozenset[str] | None = None  # only these instances ("@none": default)


def render_entity(
    entity: Entity,
    ctx: ActiveContext,
    opts: RenderOptions,
    linked: dict[str, Entity] | None = None,
    level: int = 0,
) -> dict[str, Any]:
    """One entity; with ``opts.join == "inline"`` and ``linked`` given, Relationships
    carry the entities they point to (up to ``opts.join_level`` levels)."""
    out: dict[str, Any] = {}
    keep = _member_filter(opts)
    if keep("id"):
        out["id"] = entity["id"]
    if keep("type"):
        types = [ctx.compact(t) for t in entity["type"]]
        out["type"] = types[0] if len(types) == 1 else types
    if "scope" in entity and keep("scope"):
        sc = entity["scope"]
        out["scope"] = sc[0] if len(sc) == 1 else sc
    if opts.sys_attrs:
        for key in ("createdAt", "modifiedAt"):
            if key in entity:
                out[key] = entity[key]
    for iri, instances in entity.get("attrs", {}).items():
        name = ctx.compact(iri)
        if opts.attrs is not None and iri not in opts.attrs:
            continue
        if not keep(name, iri):
            continue
        if opts.dataset_ids is not None:
            instances = [i for i in instances if i.get("datasetId", "@none") in opts.dataset_ids]
            if not instances:
                continue
        rendered = [render_instance(i, ctx, opts) for i in instances]
        if opts.join == "inline" and linked is not None and level < opts.join_level:
            sub_opts = _sub_options(opts, name, iri)
            for k, inst in enumerate(instances):
                target = _link_target(inst)
                if target is None or target not in linked:
                    continue
                child = render_entity(linked[target], ctx, sub_opts, linked, level + 1)
                if opts.format == "keyValues":
                    rendered[k] = child
                elif isinstance(rendered[k], dict):
                    rendered[k]["entity"] = child
        out[name] = rendered[0] if len(rendered) == 1 else rendered
    return out


def _link_target(inst: Instance) -> str | None:
    if inst.get("type") == "Relationship" and isinstance(inst.get("object"), str):
        return inst["object"]
    return None


def _sub(proj: Projection | None, name: str, iri: str) -> Projection | None:
    if proj is None:
        return None
    if name in proj:
        return proj[name]
    return proj.get(iri)


def _sub_options(opts: RenderOptions, name: str, iri: str) -> RenderOptions:
    return replace(opts, pick=_sub(opts.pick, name, iri), omit=_sub(opts.omit, name, iri),
                   attrs=None)


def _member_filter(opts: RenderOptions):
    pick, omit = opts.pick, opts.omit

    def keep(name: str, iri: str | None = None) -> bool:
        if pick is not None and name not in pick and (iri is None or iri not in pick):
            return False
        if omit is not None:
            hit = name if name in omit else iri if iri is not None and iri in omit else None
            if hit is not None and omit[hit] is None:
                return False
        return True

    return keep


def render_flat(
    entities: list[Entity], ctx: ActiveContext, opts: RenderOptions, linked: dict[str, Entity]
) -> list[dict[str, Any]]:
    """``join=flat``: the entities, then every linked entity once, each projected by the
    sub-projection of the Relationship that reached it."""
    out = [render_entity(e, ctx, opts) for e in entities]
    seen = {e["id"] for e in entities}
    frontier = [(e, opts) for e in entities]
    for _ in range(opts.join_level):
        nxt = []
        for entity, eopts in frontier:
            keep = _member_filter(eopts)
            for iri, instances in entity.get("attrs", {}).items():
                name = ctx.compact(iri)
                if not keep(name, iri):
                    continue
                for inst in instances:
                    target = _link_target(inst)
                    if target is None or target in seen or target not in linked:
                        continue
                    seen.add(target)
                    sub_opts = _sub_options(eopts, name, iri)
                    out.append(render_entity(linked[target], ctx, sub_opts))
                    nxt.append((linked[target], sub_opts))
        frontier = nxt
    return out


def render_instance(inst: Instance, ctx: ActiveContext, opts: RenderOptions) -> Any:
    kind = inst["type"]
    key = content_key(kind)
    content = inst.get(key)
    if kind == "VocabProperty":
        content = (
            [ctx.compact(v) for v in content] if isinstance(content, list)
            else ctx.compact(content)
        )
    if kind == "LanguageProperty" and opts.lang is not None:
        return _render_lang(inst, content, ctx, opts)
    if opts.format == "keyValues":
        return content
    out: dict[str, Any] = {}
    if opts.format == "normalized":
        out["type"] = kind
    out[key] = content
    if "objectType" in inst:
        ot = inst["objectType"]
        out["objectType"] = [ctx.compact(x) for x in ot] if isinstance(ot, list) else ctx.compact(ot)
    for meta in ("datasetId", "observedAt", "unitCode"):
        if meta in inst:
            out[meta] = inst[meta]
    if opts.sys_attrs:
        for meta in ("createdAt", "modifiedAt"):
            if meta in inst:
                out[meta] = inst[meta]
    for sub_iri, sub in inst.get("sub", {}).items():
        out[ctx.compact(sub_iri)] = render_instance(sub, ctx, opts)
    if opts.format == "concise" and len(out) == 1 and kind in ("Property", "GeoProperty"):
        return content
    return out


def _render_lang(inst: Instance, lmap: dict[str, Any], ctx: ActiveContext, opts: RenderOptions):
    chosen_lang, text = pick_language(lmap, opts.lang or "")
    if opts.format == "keyValues":
        return text
    out: dict[str, Any] = {}
    if opts.format == "normalized":
        out["type"] = "Property"
    out["value"] = text
    if chosen_lang is not None:
        out["lang"] = chosen_lang
    for meta in ("datasetId", "observedAt"):
        if meta in inst:
            out[meta] = inst[meta]
    if opts.sys_attrs:
        for meta in ("createdAt", "modifiedAt"):
            if meta in inst:
                out[meta] = inst[meta]
    for sub_iri, sub in inst.get("sub", {}).items():
        out[ctx.compact(sub_iri)] = render_instance(sub, ctx, opts)
    return out


def pick_language(lmap: dict[str, Any], wanted: str) -> tuple[str | None, Any]:
    """Choose a string from a languageMap for a ``lang`` request (``*``, lists, q-values)."""
    prefs: list[tuple[float, str]] = []
    for i, part in enumerate(wanted.split(",")):
        tag, _, qpart = part.strip().partition(";q=")
        try:
            qv = float(qpart) if qpart else 1.0
        except ValueError:
            qv = 1.0
        if tag:
            prefs.append((-qv + i * 1e-6, tag))
    prefs.sort()
    for _, tag in prefs:
        if tag == "*":
            break
        if tag in lmap:
            return tag, lmap[tag]
        for lang, text in lmap.items():
            if lang.split("-")[0] == tag.split("-")[0]:
                return lang, text
    if "@none" in lmap:
        return "@none", lmap["@none"]
    if lmap:
        lang = next(iter(lmap))
        return lang, lmap[lang]
    return None, None


def render_feature(entity: Entity, ctx: ActiveContext, opts: RenderOptions) -> dict[str, Any]:
    """GeoJSON Feature of an entity (Accept: application/geo+json)."""
    body = render_entity(entity, ctx, opts)
    body.pop("id", None)
    geometry = None
    insts = entity.get("attrs", {}).get(opts.geometry_property)
    if insts:
        inst = insts[0]
        if inst.get("type") == "GeoProperty":
            geometry = inst.get("value")
    return {"id": entity["id"], "type": "Feature", "geometry": geometry, "properties": body}


def render_feature_collection(
    entities: list[Entity], ctx: ActiveContext, opts: RenderOptions
) -> dict[str, Any]:
    return {
        "type": "FeatureCollection",
        "features": [render_feature(e, ctx, opts) for e in entities],
    }
