"""Geo-queries (ETSI GS CIM 009 clause 4.10) and GeoJSON geometry validation.

``parse_geo_query`` reads the GET parameters (georel, geometry, coordinates,
geoproperty); ``geo_query_from_json`` the ``geoQ`` member of a Query or Subscription.
``validate_geometry`` checks any GeoJSON geometry (GeoProperty values use it too).
The spatial predicates the evaluator runs live in ``geopredicates``.

Errors are ``BadRequestData``: clause 5.7.2.4 asks for it when a geo-query is not
syntactically valid or is incomplete.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

import orjson

from dosi.errors import BadRequestDataError
from dosi.ngsild.query.ast import GeoQuery
from dosi.ngsild.query.geopredicates import check_query_geometry

NGSILD_LOCATION = "https://uri.etsi.org/ngsi-ld/location"
GEORELS = ("near", "within", "contains", "intersects", "disjoint", "overlaps", "equals")
QUERY_GEOMETRIES = (
    "Point",
    "LineString",
    "Polygon",
    "MultiPoint",
    "MultiLineString",
    "MultiPolygon",
)
_DISTANCE_RE = re.compile(r"(maxDistance|minDistance)==(\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)")
_MAX_COLLECTION_DEPTH = 4


def _bad(message: str) -> BadRequestDataError:
    return BadRequestDataError(message)


def parse_georel(text: str) -> tuple[str, float | None, float | None]:
    """``near;maxDistance==2000`` -> ``("near", 2000.0, None)``; others take no modifier.

    The distance is a PositiveNumber in metres: finite and greater than zero; exactly
    one of maxDistance/minDistance is required with ``near`` (clause 4.10 nearRel).
    """
    if not isinstance(text, str) or not text.strip():
        raise _bad("georel must be a non-empty string")
    rel, *mods = [part.strip() for part in text.split(";")]
    if rel not in GEORELS:
        raise _bad(f"unknown georel {rel!r}; expected one of {', '.join(GEORELS)}")
    if rel != "near":
        if mods:
            raise _bad(f"georel {rel!r} takes no modifier, got {text!r}")
        return rel, None, None
    if len(mods) != 1:
        raise _bad(
            f"georel near needs exactly one of maxDistance==<metres> or "
            f"minDistance==<metres>, got {text!r}"
        )
    m = _DISTANCE_RE.fullmatch(mods[0].replace(" ", ""))
    if m is None:
        raise _bad(f"invalid near modifier {mods[0]!r}; expected maxDistance==<metres>")
    distance = float(m.group(2))
    if not math.isfinite(distance) or distance <= 0:
        raise _bad(f"the distance in {text!r} must be a finite number greater than zero")
    if m.group(1) == "maxDistance":
        return rel, distance, None
    return rel, None, distance


def _parse_coordinates(raw: Any) -> Any:
    if isinstance(raw, list):
        return raw
    if not isinstance(raw, str) or not raw.strip():
        raise _bad("coordinates must be a JSON array such as [8,40]")
    text = raw.strip()
    for candidate in (text, f"[{text}]") if not text.startswith("[") else (text,):
        try:
            value = orjson.loads(candidate)
        except orjson.JSONDecodeError:
            continue
        if isinstance(value, list):
            return value
    raise _bad(f"coordinates {raw!r} is not a JSON array of finite numbers")


def _position(pos: Any, where: str) -> None:
    if not isinstance(pos, list) or not 2 <= len(pos) <= 3:
        raise _bad(f"{where}: a position is an array of 2 or 3 numbers, got {pos!r}")
    for n in pos:
        if isinstance(n, bool) or not isinstance(n, (int, float)) or not math.isfinite(n):
            raise _bad(f"{where}: coordinates must be finite numbers, got {pos!r}")
    lon, lat = pos[0], pos[1]
    if not -180 <= lon <= 180:
        raise _bad(f"{where}: longitude {lon} is outside [-180, 180]")
    if not -90 <= lat <= 90:
        raise _bad(f"{where}: latitude {lat} is outside [-90, 90]")


def _positions(value: Any, minimum: int, where: str) -> None:
    if not isinstance(value, list) or len(value) < minimum:
        raise _bad(f"{where}: expected an array of at least {minimum} positions")
    for i, pos in enumerate(value):
        _position(pos, f"{where}[{i}]")


def _polygon(value: Any, where: str) -> None:
    if not isinstance(value, list) or not value:
        raise _bad(f"{where}: a Polygon is a non-empty array of linear rings")
    for i, ring in enumerate(value):
        _positions(ring, 4, f"{where}[{i}] (a linear ring needs at least 4 positions)")
        if ring[0][:2] != ring[-1][:2]:
            raise _bad(f"{where}[{i}]: a linear ring must be closed (first == last position)")


def _many(value: Any, check: Callable[[Any, str], None], where: str) -> None:
    if not isinstance(value, list) or not value:
        raise _bad(f"{where}: expected a non-empty array")
    for i, item in enumerate(value):
        check(item, f"{where}[{i}]")


_COORD_CHECKS: dict[str, Callable[[Any, str], None]] = {
    "Point": _position,
    "LineString": lambda v, w: _positions(v, 2, w),
    "Polygon": _polygon,
    "MultiPoint": lambda v, w: _many(v, _position, w),
    "MultiLineString": lambda v, w: _many(v, lambda x, y: _positions(x, 2, y), w),
    "MultiPolygon": lambda v, w: _many(v, _polygon, w),
}


def _check_geometry(obj: Any, where: str, depth: int) -> None:
    if not isinstance(obj, dict):
        raise _bad(f"{where}: a GeoJSON geometry must be a JSON object")
    kind = obj.get("type")
    if kind == "GeometryCollection":
        members = obj.get("geometries")
        if depth >= _MAX_COLLECTION_DEPTH or not isinstance(members, list):
            raise _bad(f"{where}: GeometryCollection needs a 'geometries' array (not too deep)")
        for i, member in enumerate(members):
            _check_geometry(member, f"{where}.geometries[{i}]", depth + 1)
        return
    check = _COORD_CHECKS.get(kind) if isinstance(kind, str) else None
    if check is None:
        raise _bad(f"{where}: unknown GeoJSON geometry type {kind!r}")
    if "coordinates" not in obj:
        raise _bad(f"{where}: a {kind} needs 'coordinates'")
    check(obj["coordinates"], f"{where}.coordinates")


def validate_geometry(obj: Any) -> None:
    """Raise BadRequestDataError unless ``obj`` is a structurally valid GeoJSON geometry.

    Checks type, nesting, position arity (2 or 3), finite numbers, WGS84 ranges,
    LineStrings of >= 2 and closed rings of >= 4 positions. Topology (e.g. a
    self-intersecting polygon) is not checked here.
    """
    _check_geometry(obj, "geometry", 0)


def _build(
    georel: Any,
    geometry: Any,
    coordinates: Any,
    geoproperty: Any,
    expand: Callable[[str], str],
) -> GeoQuery:
    missing = [
        n
        for n, v in (("georel", georel), ("geometry", geometry), ("coordinates", coordinates))
        if v is None or v == ""
    ]
    if missing:
        raise _bad(
            "a geo-query needs georel, geometry and coordinates together; "
            f"missing: {', '.join(missing)}"
        )
    rel, max_d, min_d = parse_georel(georel)
    if geometry not in QUERY_GEOMETRIES:
        raise _bad(f"unknown geometry {geometry!r}; expected one of {', '.join(QUERY_GEOMETRIES)}")
    geom = {"type": geometry, "coordinates": _parse_coordinates(coordinates)}
    validate_geometry(geom)
    check_query_geometry(geom)
    if geoproperty is None or geoproperty == "":
        prop = NGSILD_LOCATION
    elif isinstance(geoproperty, str):
        prop = expand(geoproperty.strip())
    else:
        raise _bad("geoproperty must be a string")
    return GeoQuery(rel, geom, prop, max_d, min_d)


def parse_geo_query(
    georel: str | None,
    geometry: str | None,
    coordinates: str | None,
    geoproperty: str | None,
    expand: Callable[[str], str],
) -> GeoQuery:
    """The geo-query of GET /entities (``coordinates`` in its string form, e.g. ``[8,40]``)."""
    return _build(georel, geometry, coordinates, geoproperty, expand)


_GEOQ_MEMBERS = {"georel", "geometry", "coordinates", "geoproperty", "type"}


def geo_query_from_json(obj: Any, expand: Callable[[str], str]) -> GeoQuery:
    """The ``geoQ`` member of a Query or Subscription (coordinates: array or string)."""
    if not isinstance(obj, dict):
        raise _bad("geoQ must be a JSON object")
    unknown = sorted(set(obj) - _GEOQ_MEMBERS)
    if unknown:
        raise _bad(f"unknown member(s) in geoQ: {', '.join(unknown)}")
    for name in ("georel", "geometry", "geoproperty"):
        if obj.get(name) is not None and not isinstance(obj[name], str):
            raise _bad(f"geoQ.{name} must be a string")
    return _build(
        obj.get("georel"),
        obj.get("geometry"),
        obj.get("coordinates"),
        obj.get("geoproperty"),
        expand,
    )
