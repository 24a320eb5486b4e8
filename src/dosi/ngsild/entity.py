"""Parsing NGSI-LD payloads (normalized or concise) into the internal expanded form.

See docs/design/internals.md for the form. Everything here is pure: the caller gives
the active @context and the current time.
"""

from __future__ import annotations

from typing import Any

from dosi.errors import BadRequestDataError
from dosi.ngsild.context import NGSILD, ActiveContext
from dosi.ngsild.values import (
    NULL_URI,
    is_uri,
    require_datetime,
    require_name,
    require_uri,
)

Entity = dict[str, Any]
Instance = dict[str, Any]

KINDS = (
    "Property",
    "Relationship",
    "GeoProperty",
    "LanguageProperty",
    "VocabProperty",
    "JsonProperty",
    "ListProperty",
    "ListRelationship",
)
GEO_TYPES = frozenset(
    {"Point", "LineString", "Polygon", "MultiPoint", "MultiLineString", "MultiPolygon",
     "GeometryCollection"}
)
# members of an attribute that are not sub-attributes
ATTR_MEMBERS = frozenset(
    {
        "type", "value", "object", "objectType", "languageMap", "vocab", "json",
        "valueList", "objectList", "datasetId", "observedAt", "unitCode", "createdAt",
        "modifiedAt", "lang", "instanceId", "deletedAt", "previousValue", "previousObject",
        "previousLanguageMap", "previousVocab", "previousJson", "previousValueList",
        "previousObjectList", "@context",
    }
)
ENTITY_MEMBERS = frozenset({"id", "@id", "type", "@type", "scope", "@context", "createdAt",
                            "modifiedAt", "deletedAt"})
GEO_ATTRS = frozenset(
    {NGSILD + "location", NGSILD + "observationSpace", NGSILD + "operationSpace"}
)
CONTENT_KEYS = ("value", "object", "languageMap", "vocab", "json", "valueList", "objectList")
_CONTENT_KEY = {
    "Property": "value",
    "GeoProperty": "value",
    "Relationship": "object",
    "LanguageProperty": "languageMap",
    "VocabProperty": "vocab",
    "JsonProperty": "json",
    "ListProperty": "valueList",
    "ListRelationship": "objectList",
}


def content_key(kind: str) -> str:
    """The member holding an attribute's content (``value``, ``object``, ...) for its
    kind; ``value`` for an unknown kind. The one map of kinds to content members."""
    return _CONTENT_KEY.get(kind, "value")


def _geometry_validator():  # late import: geo validation lives with the geo-query code
    from dosi.ngsild.query.geo import validate_geometry

    return validate_geometry


def parse_entity(
    payload: Any,
    ctx: ActiveContext,
    now: str,
    *,
    require_id: bool = True,
    require_type: bool = True,
    allow_null: bool = False,
) -> Entity:
    """Parse an entity body into the internal form with fresh system timestamps.

    ``allow_null`` lets ``urn:ngsi-ld:null`` through (merge-patch semantics)."""
    if not isinstance(payload, dict):
        raise BadRequestDataError("an entity must be a JSON object")
    entity: Entity = {}
    raw_id = payload.get("id", payload.get("@id"))
    if raw_id is not None:
        entity["id"] = require_uri(raw_id, "entity id")
    elif require_id:
        raise BadRequestDataError("entity id is missing")
    raw_type = payload.get("type", payload.get("@type"))
    if raw_type is not None:
        entity["type"] = parse_types(raw_type, ctx)
    elif require_type:
        raise BadRequestDataError("entity type is missing")
    if "scope" in payload:
        entity["scope"] = parse_scope(payload["scope"])
    attrs: dict[str, list[Instance]] = {}
    for name, raw in payload.items():
        if name in ENTITY_MEMBERS:
            continue
        iri = expand_attr_name(name, ctx)
        attrs[iri] = parse_attribute(raw, ctx, now, iri=iri, allow_null=allow_null)
    entity["attrs"] = attrs
    entity["createdAt"] = now
    entity["modifiedAt"] = now
    return entity


def parse_types(raw: Any, ctx: ActiveContext) -> list[str]:
    items = raw if isinstance(raw, list) else [raw]
    if not items:
        raise BadRequestDataError("entity type must not be empty")
    out: list[str] = []
    for t in items:
        iri = ctx.expand(require_name(t, "entity type"))
        if iri.startswith("@") or iri in KINDS:
            raise BadRequestDataError(f"{t!r} cannot be an entity type")
        if iri not in out:
            out.append(iri)
    return out


def parse_scope(raw: Any) -> list[str]:
    items = raw if isinstance(raw, list) else [raw]
    for s in items:
        if not isinstance(s, str) or not s.startswith("/") or " " in s:
            raise BadRequestDataError(f"invalid scope {s!r}: scopes are paths like /a/b")
    return list(dict.fromkeys(items))


def expand_attr_name(name: str, ctx: ActiveContext) -> str:
    require_name(name, "attribute name")
    iri = ctx.expand(name)
    if iri.startswith(NGSILD) and name in ("id", "type", "scope"):
        raise BadRequestDataError(f"{name!r} cannot be used as an attribute name")
    return iri


def parse_attribute(
    raw: Any, ctx: ActiveContext, now: str, *, iri: str = "", allow_null: bool = False
) -> list[Instance]:
    """Parse an attribute (one instance or a list of multi-attribute instances)."""
    if isinstance(raw, list) and raw and all(
        isinstance(x, dict) and _looks_like_instance(x) for x in raw
    ):
        instances = [parse_instance(x, ctx, now, iri=iri, allow_null=allow_null) for x in raw]
        seen: set[str | None] = set()
        for inst in instances:
            ds = inst.get("datasetId")
            if ds in seen:
                raise BadRequestDataError(
                    f"attribute {iri!r} has two instances with datasetId {ds!r}"
                )
            seen.add(ds)
        return instances
    return [parse_instance(raw, ctx, now, iri=iri, allow_null=allow_null)]


def _looks_like_instance(obj: dict[str, Any]) -> bool:
    return any(k in obj for k in ("type", "value", "object", "languageMap", "vocab", "json",
                                  "valueList", "objectList", "datasetId"))


def _infer_kind(obj: dict[str, Any]) -> str:
    t = obj.get("type")
    if isinstance(t, str) and t in KINDS:
        return t
    if isinstance(t, str) and t in GEO_TYPES and ("coordinates" in obj or "geometries" in obj):
        return "GeoJSON"
    if t is not None:
        raise BadRequestDataError(f"unknown attribute type {t!r}")
    for key, kind in (
        ("object", "Relationship"),
        ("languageMap", "LanguageProperty"),
        ("vocab", "VocabProperty"),
        ("json", "JsonProperty"),
        ("valueList", "ListProperty"),
        ("objectList", "ListRelationship"),
        ("value", "Property"),
    ):
        if key in obj:
            if key == "value" and isinstance(obj["value"], dict) and obj["value"].get(
                "type"
            ) in GEO_TYPES:
                return "GeoProperty"
            return kind
    return "Value"


def parse_instance(
    raw: Any, ctx: ActiveContext, now: str, *, iri: str = "", allow_null: bool = False
) -> Instance:
    """Parse one attribute instance, normalized or concise."""
    if raw is None:
        raise BadRequestDataError(f"attribute {iri!r} must not be null")
    if raw == NULL_URI and allow_null:
        return {"type": "Property", "value": NULL_URI}
    if not isinstance(raw, dict):
        return _finish({"type": _concise_kind(iri, raw), "value": raw}, iri, now)
    kind = _infer_kind(raw)
    if kind == "GeoJSON":
        return _finish({"type": "GeoProperty", "value": raw}, iri, now)
    if kind == "Value":
        # a concise Property whose value is a JSON object
        return _finish({"type": "Property", "value": raw}, iri, now)
    inst: Instance = {"type": kind}
    ckey = _CONTENT_KEY[kind]
    if ckey not in raw:
        raise BadRequestDataError(f"attribute {iri!r} of type {kind} has no {ckey!r}")
    content = raw[ckey]
    if content is None:
        raise BadRequestDataError(f"attribute {iri!r}: {ckey} must not be null")
    if content == NULL_URI and allow_null:
        inst[ckey] = content
    else:
        inst[ckey] = _parse_content(kind, content, ctx, iri)
    if "objectType" in raw and kind in ("Relationship", "ListRelationship"):
        ot = raw["objectType"]
        inst["objectType"] = (
            [ctx.expand(require_name(x, "objectType")) for x in ot]
            if isinstance(ot, list)
            else ctx.expand(require_name(ot, "objectType"))
        )
    if "datasetId" in raw:
        inst["datasetId"] = require_uri(raw["datasetId"], "datasetId")
    if "observedAt" in raw:
        inst["observedAt"] = require_datetime(raw["observedAt"], "observedAt")
    if "unitCode" in raw:
        if not isinstance(raw["unitCode"], str):
            raise BadRequestDataError("unitCode must be a string")
        inst["unitCode"] = raw["unitCode"]
    sub: dict[str, Instance] = {}
    for name, val in raw.items():
        if name in ATTR_MEMBERS:
            continue
        sub_iri = expand_attr_name(name, ctx)
        sub[sub_iri] = parse_instance(val, ctx, now, iri=sub_iri, allow_null=allow_null)
    if sub:
        inst["sub"] = sub
    return _finish(inst, iri, now)


def _concise_kind(iri: str, value: Any) -> str:
    return "Property"


def _parse_content(kind: str, content: Any, ctx: ActiveContext, iri: str) -> Any:
    if kind == "Relationship":
        if isinstance(content, list):
            if not content:
                raise BadRequestDataError(f"relationship {iri!r} has an empty object list")
            return [require_uri(_obj(x), "relationship object") for x in content]
        return require_uri(_obj(content), "relationship object")
    if kind == "GeoProperty":
        if content != NULL_URI:
            _geometry_validator()(content)
        return content
    if kind == "LanguageProperty":
        if not isinstance(content, dict) or not content:
            raise BadRequestDataError(f"languageMap of {iri!r} must be a non-empty object")
        for lang, text in content.items():
            ok = isinstance(text, str) or (
                isinstance(text, list) and all(isinstance(x, str) for x in text)
            )
            if not ok or not isinstance(lang, str):
                raise BadRequestDataError(f"languageMap of {iri!r} must map languages to strings")
        return content
    if kind == "VocabProperty":
        if isinstance(content, list):
            return [ctx.expand(require_name(x, "vocab value")) for x in content]
        return ctx.expand(require_name(content, "vocab value"))
    if kind == "ListProperty":
        if not isinstance(content, list):
            raise BadRequestDataError(f"valueList of {iri!r} must be an array")
        return content
    if kind == "ListRelationship":
        if not isinstance(content, list):
            raise BadRequestDataError(f"objectList of {iri!r} must be an array")
        return [require_uri(_obj(x), "relationship object") for x in content]
    if kind == "Property" and isinstance(content, dict) and content.get("type") in GEO_TYPES:
        return content
    return content


def _obj(x: Any) -> Any:
    if isinstance(x, dict) and "object" in x:
        return x["object"]
    return x


def _finish(inst: Instance, iri: str, now: str) -> Instance:
    if iri in GEO_ATTRS and inst["type"] == "Property":
        value = inst.get("value")
        if isinstance(value, dict) and value.get("type") in GEO_TYPES:
            inst["type"] = "GeoProperty"
    if inst["type"] == "GeoProperty" and inst["value"] != NULL_URI:
        _geometry_validator()(inst["value"])
    inst["createdAt"] = now
    inst["modifiedAt"] = now
    return inst


def is_null_instance(inst: Instance) -> bool:
    """Whether a merge-patch instance asks for deletion (``urn:ngsi-ld:null``)."""
    kind = inst.get("type", "Property")
    key = _CONTENT_KEY.get(kind, "value")
    content = inst.get(key, inst.get("value"))
    if content == NULL_URI or content == [NULL_URI]:
        return True
    return kind == "LanguageProperty" and content == {"@none": NULL_URI}


def valid_entity_id(value: Any) -> bool:
    return is_uri(value)
