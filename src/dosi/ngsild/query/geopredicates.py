"""Spatial predicates of geo-queries, run by the evaluator on GeoJSON geometries.

within/contains/intersects/disjoint/overlaps/equals are exact OGC predicates (shapely/
GEOS) on WGS84 lon/lat taken as planar coordinates, which is how GeoJSON defines the
edges between positions. The entity geometry is the subject: ``within`` means the
entity's geometry lies within the query geometry.

``near`` uses true distances in metres on a sphere of radius 6 371 008.8 m:

* point to point: the haversine great-circle distance (exact on the sphere);
* otherwise: both geometries are densified (edges split every 0.05 degrees) and
  projected with a spherical azimuthal equidistant projection centred on the query
  point, or on the entity point, or else on the query geometry's centroid; the
  distance between the nearest points is measured there. Distances from the centre
  are exact; others are approximate (well under 1 % within a few hundred km of the
  centre; the error grows with distance). The antimeridian is not handled.

Storage back-ends mirroring this in SQL (e.g. PostGIS ``ST_DWithin`` on geography,
which uses the WGS84 spheroid) may differ by up to ~0.5 % at the boundary.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import shapely
from shapely.validation import make_valid  # noqa: I001
from shapely.geometry import Point, shape
from shapely.geometry.base import BaseGeometry


from dosi.errors import BadRequestDataError
from dosi.ngsild.query.ast import GeoQuery

EARTH_RADIUS_M = 6_371_008.8
_M_PER_DEGREE = EARTH_RADIUS_M * math.pi / 180
_DENSIFY_DEGREES = 0.05


def haversine_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Great-circle distance in metres between two lon/lat points."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def _aeqd(lon0: float, lat0: float) -> Callable[[np.ndarray], np.ndarray]:
    """Spherical azimuthal equidistant projection centred on (lon0, lat0), in metres."""
    p0, l0 = math.radians(lat0), math.radians(lon0)
    sin_p0, cos_p0 = math.sin(p0), math.cos(p0)

    def project(coords: np.ndarray) -> np.ndarray:
        lam, phi = np.radians(coords[:, 0]), np.radians(coords[:, 1])
        dl = lam - l0
        cos_phi = np.cos(phi)
        a = np.sin((phi - p0) / 2) ** 2 + cos_p0 * cos_phi * np.sin(dl / 2) ** 2
        c = 2 * np.arctan2(np.sqrt(a), np.sqrt(np.clip(1 - a, 0, None)))
        az = np.arctan2(np.sin(dl) * cos_phi, cos_p0 * np.sin(phi) - sin_p0 * cos_phi * np.cos(dl))
        r = EARTH_RADIUS_M * c
        return np.column_stack((r * np.sin(az), r * np.cos(az)))

    return project


def distance_m(a: BaseGeometry, b: BaseGeometry) -> float:
    """Distance in metres between two lon/lat geometries (0 if they intersect).

    Exact for two points; otherwise measured on a local projection (module docstring).
    """
    if isinstance(a, Point) and isinstance(b, Point):
        return haversine_m(a.x, a.y, b.x, b.y)
    if isinstance(b, Point):
        centre = b
    elif isinstance(a, Point):
        centre = a
    else:
        centre = b.centroid
    project = _aeqd(centre.x, centre.y)
    pa = shapely.transform(shapely.segmentize(a, _DENSIFY_DEGREES), project)
    pb = shapely.transform(shapely.segmentize(b, _DENSIFY_DEGREES), project)
    return float(shapely.distance(pa, pb))


def check_query_geometry(geometry: dict[str, Any]) -> None:
    """Reject query geometries GEOS cannot build. Self-intersecting polygons are accepted
    (clients send them, and the ETSI suite does): predicates use their valid repair."""
    try:
        shape(geometry)
    except Exception as exc:  # noqa: BLE001 - shapely raises several types on bad input
        raise BadRequestDataError(f"invalid query geometry: {exc}") from None


def _lat_gap_m(g: BaseGeometry, ref: BaseGeometry) -> float:
    """A cheap lower bound of the distance: the latitude gap between bounding boxes."""
    _, gy0, _, gy1 = g.bounds
    _, ry0, _, ry1 = ref.bounds
    return float(max(0.0, gy0 - ry1, ry0 - gy1)) * _M_PER_DEGREE


def _xy(coords: Any) -> tuple[float, float] | None:
    """(lon, lat) of a GeoJSON position, or None if it is not one."""
    if isinstance(coords, list) and len(coords) >= 2:
        x, y = coords[0], coords[1]
        if type(x) in (int, float) and type(y) in (int, float):
            return float(x), float(y)
    return None


def _point_fast_path(query: GeoQuery, ref: BaseGeometry) -> Callable[[float, float], bool] | None:
    """Tests for entity Points that avoid building a shapely geometry per entity."""
    rel = query.georel
    if rel == "near" and isinstance(ref, Point):
        rx, ry = ref.x, ref.y
        max_d, min_d = query.max_distance, query.min_distance

        def near(x: float, y: float) -> bool:
            d = haversine_m(rx, ry, x, y)
            return (max_d is None or d <= max_d) and (min_d is None or d >= min_d)

        return near
    if rel == "within":
        return lambda x, y: bool(shapely.contains_xy(ref, x, y))
    if rel == "intersects":
        return lambda x, y: bool(shapely.intersects_xy(ref, x, y))
    if rel == "disjoint":
        return lambda x, y: not shapely.intersects_xy(ref, x, y)
    return None


def compile_geo(query: GeoQuery) -> Callable[[Any], bool]:
    """A predicate over one GeoJSON geometry dict of an entity, for this geo-query."""
    raw_ref = shape(query.geometry)
    ref = raw_ref if raw_ref.is_valid else make_valid(raw_ref)
    shapely.prepare(ref)
    rel = query.georel
    test: Callable[[BaseGeometry], bool]
    if rel == "near":
        max_d, min_d = query.max_distance, query.min_distance

        def test(g: BaseGeometry) -> bool:
            if max_d is not None and _lat_gap_m(g, ref) > max_d:
                return False
            d = distance_m(g, ref)
            return (max_d is None or d <= max_d) and (min_d is None or d >= min_d)
    elif rel == "within":

        def test(g: BaseGeometry) -> bool:
            return bool(shapely.contains(ref, g))
    elif rel == "contains":

        def test(g: BaseGeometry) -> bool:
            return bool(shapely.within(ref, g))
    elif rel == "intersects":

        def test(g: BaseGeometry) -> bool:
            return bool(shapely.intersects(ref, g))
    elif rel == "disjoint":

        def test(g: BaseGeometry) -> bool:
            return bool(shapely.disjoint(ref, g))
    elif rel == "overlaps":

        def test(g: BaseGeometry) -> bool:
            return bool(shapely.overlaps(ref, g))
    elif rel == "equals":

        def test(g: BaseGeometry) -> bool:
            if not g.is_valid or not raw_ref.is_valid:
                return bool(shapely.equals_exact(shapely.normalize(raw_ref),
                                                 shapely.normalize(g), 1e-9))
            return bool(shapely.equals(ref, g))
    else:
        raise BadRequestDataError(f"unknown georel {rel!r}")

    point_test = _point_fast_path(query, ref)

    def predicate(value: Any) -> bool:
        if not isinstance(value, dict):
            return False
        if point_test is not None and value.get("type") == "Point":
            xy = _xy(value.get("coordinates"))
            if xy is not None:
                return point_test(*xy)
        try:
            geom = shape(value)
            return False if geom.is_empty else test(geom)
        except Exception:  # noqa: BLE001 - malformed stored geometry or GEOS topology error
            return False

    return predicate
