"""Index rows derived from an entity: what the side tables hold for it.

Both backends keep the full entity as one document and, next to it, small side tables
that make types, attributes, simple values, scopes and geometries searchable (see
``dosi.storage.sql`` for why). This module is the one place that decides what goes into
them, so SQLite and PostgreSQL index exactly the same facts.

One ``entity_attr`` row per attribute of an entity: its kinds and instance count (for
``attrs=``, ``q=attr`` and discovery) and, when the attribute is one default instance
holding a number or a short string (a Property value or a Relationship object), that
value in ``num`` or ``txt`` for q comparisons. Flags say what SQL cannot compare:

- ``OPAQUE``: some instance holds content a q term could match that is not in
  num/txt (several instances, booleans, arrays, ``@value`` objects, language maps,
  long strings...): q comparisons on the attribute are then only prefiltered in SQL and
  the evaluator decides;
- ``RELATIONSHIP``: some instance is a Relationship (ordering operators and ``~=``
  never match those, ``==`` does).

Content no q term can ever match (a GeoJSON geometry, a JSON object without
``@value``) needs neither: that is what keeps every geometry from being opaque.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from dosi.ngsild.entity import content_key

MAX_INDEXED_TEXT = 256
"""Longer strings are not put in the value indexes (btree entries must stay small)."""

OPAQUE = 1
RELATIONSHIP = 2

_RELS = ("Relationship", "ListRelationship")


class AttrRow(NamedTuple):
    attr: str
    kinds: str  # the kinds of its instances, sorted, comma-separated
    n: int  # number of instances
    num: float | None
    txt: str | None
    flags: int


class GeoRow(NamedTuple):
    """One GeoProperty instance: attribute IRI, datasetId ('' = default), geometry."""

    attr: str
    dataset: str
    geometry: dict[str, Any]


class IndexRows(NamedTuple):
    """The side-table rows of one entity, without its row id."""

    types: tuple[str, ...]
    attrs: tuple[AttrRow, ...]
    scopes: tuple[str, ...]
    geos: tuple[GeoRow, ...]


EMPTY = IndexRows((), (), (), ())


def index_rows(entity: dict[str, Any] | None) -> IndexRows:
    """The rows the side tables must hold for ``entity`` (None: no rows)."""
    if entity is None:
        return EMPTY
    attrs: list[AttrRow] = []
    geos: list[GeoRow] = []
    for attr, instances in (entity.get("attrs") or {}).items():
        if len(instances) == 1:
            inst = instances[0]
            kind = inst.get("type", "Property")
            row = _single(attr, kind, inst)
            if kind == "GeoProperty" and isinstance(inst.get("value"), dict):
                geos.append(GeoRow(attr, inst.get("datasetId") or "", inst["value"]))
        else:
            row = _multi(attr, instances, geos)
        attrs.append(row)
    return IndexRows(
        tuple(entity.get("type") or ()),
        tuple(attrs),
        tuple(dict.fromkeys(entity.get("scope") or ())),
        tuple(geos),
    )


def _single(attr: str, kind: str, inst: dict[str, Any]) -> AttrRow:
    content = inst.get(content_key(kind))
    rel = RELATIONSHIP if kind in _RELS else 0
    if kind == "Property" or kind == "Relationship":  # one instance: its datasetId is moot
        cls = type(content)
        if kind == "Property" and (cls is int or cls is float):
            return AttrRow(attr, kind, 1, float(content), None, 0)
        if cls is str and len(content) <= MAX_INDEXED_TEXT:
            return AttrRow(attr, kind, 1, None, content, rel)
    return AttrRow(attr, kind, 1, None, None, rel | (0 if _inert(kind, content) else OPAQUE))


def _multi(attr: str, instances: list[dict[str, Any]], geos: list[GeoRow]) -> AttrRow:
    kinds: set[str] = set()
    flags = 0
    for inst in instances:
        kind = inst.get("type", "Property")
        kinds.add(kind)
        if kind in _RELS:
            flags |= RELATIONSHIP
        if not _inert(kind, inst.get(content_key(kind))):
            flags |= OPAQUE
        if kind == "GeoProperty" and isinstance(inst.get("value"), dict):
            geos.append(GeoRow(attr, inst.get("datasetId") or "", inst["value"]))
    return AttrRow(attr, ",".join(sorted(kinds)), len(instances), None, None, flags)


def _inert(kind: str, content: Any) -> bool:
    """Content no q comparison without [keys] can match (qcompile's candidates)."""
    return isinstance(content, dict) and "@value" not in content and kind != "LanguageProperty"


def bbox(geometry: dict[str, Any]) -> tuple[float, float, float, float] | None:
    """Bounding box (min lon, min lat, max lon, max lat) of a GeoJSON geometry."""
    if geometry.get("type") == "GeometryCollection":
        boxes = [
            b
            for g in geometry.get("geometries") or ()
            if isinstance(g, dict)
            if (b := bbox(g)) is not None
        ]
        if not boxes:
            return None
        return (
            min(b[0] for b in boxes),
            min(b[1] for b in boxes),
            max(b[2] for b in boxes),
            max(b[3] for b in boxes),
        )
    coords = geometry.get("coordinates")
    if geometry.get("type") == "Point" and isinstance(coords, (list, tuple)) and len(coords) >= 2:
        x, y = float(coords[0]), float(coords[1])
        return (x, y, x, y)
    xs: list[float] = []
    ys: list[float] = []
    stack = [coords]
    while stack:
        c = stack.pop()
        if isinstance(c, (list, tuple)) and c:
            if isinstance(c[0], (int, float)) and not isinstance(c[0], bool):
                if len(c) >= 2:
                    xs.append(float(c[0]))
                    ys.append(float(c[1]))
            else:
                stack.extend(c)
    if not xs:
        return None
    return (min(xs), min(ys), max(xs), max(ys))
