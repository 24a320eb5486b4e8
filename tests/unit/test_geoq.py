"""Geo-queries (clause 4.10): parameter parsing, geometry validation, spatial predicates."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import shape

from dosi.errors import BadRequestDataError, DosiError
from dosi.ngsild.context import build_context
from dosi.ngsild.query import (
    distance_m,
    geo_query_from_json,
    haversine_m,
    matches_geo,
    parse_geo_query,
    validate_geometry,
)
from dosi.ngsild.query.ast import GeoQuery

EX = build_context({"ex": "https://example.org/"}).expand
LOC = "https://uri.etsi.org/ngsi-ld/location"

# Seoul City Hall and Gangnam Station (lon, lat)
CITY_HALL = (126.9780, 37.5665)
GANGNAM = (127.0276, 37.4979)
SQUARE = [[[126.9, 37.5], [127.1, 37.5], [127.1, 37.6], [126.9, 37.6], [126.9, 37.5]]]


def point(lon: float, lat: float) -> dict:
    return {"type": "Point", "coordinates": [lon, lat]}


def entity(geometry: dict, prop: str = LOC) -> dict:
    return {
        "id": "urn:x",
        "type": ["T"],
        "attrs": {prop: [{"type": "GeoProperty", "value": geometry}]},
    }


def test_parse_get_parameters():
    q = parse_geo_query("near;maxDistance==2000", "Point", "[8,40]", None, EX)
    assert q == GeoQuery("near", point(8, 40), LOC, 2000.0, None)
    q = parse_geo_query("near;minDistance==10", "Point", "[8, 40]", "ex:area", EX)
    assert (q.min_distance, q.max_distance, q.geoproperty) == (
        10.0,
        None,
        "https://example.org/area",
    )
    q = parse_geo_query("within", "Polygon", str(SQUARE), None, EX)
    assert q.georel == "within" and q.geometry["coordinates"] == SQUARE
    for rel in ("contains", "intersects", "disjoint", "overlaps", "equals"):
        assert parse_geo_query(rel, "Point", "[8,40]", None, EX).georel == rel


def test_parse_geoq_json_member():
    q = geo_query_from_json(
        {
            "georel": "near;maxDistance==500",
            "geometry": "Point",
            "coordinates": [8, 40],
            "geoproperty": "location",
        },
        EX,
    )
    assert q == GeoQuery("near", point(8, 40), LOC, 500.0, None)
    assert (
        geo_query_from_json(
            {"georel": "within", "geometry": "Polygon", "coordinates": str(SQUARE)}, EX
        ).geometry["coordinates"]
        == SQUARE
    )


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        ((None, "Point", "[8,40]"), "missing: georel"),
        (("within", None, None), "missing: geometry, coordinates"),
        (("near", "Point", "[8,40]"), "exactly one of maxDistance"),
        (("near;maxDistance==5;minDistance==1", "Point", "[8,40]"), "exactly one"),
        (("near;maxDistance==0", "Point", "[8,40]"), "greater than zero"),
        (("near;maxDistance==-100", "Point", "[8,40]"), "invalid near modifier"),
        (("near;maxDistance==inf", "Point", "[8,40]"), "invalid near modifier"),
        (("near;maxDistance==1e400", "Point", "[8,40]"), "greater than zero"),
        (("near;distance==5", "Point", "[8,40]"), "invalid near modifier"),
        (("within;maxDistance==5", "Point", "[8,40]"), "takes no modifier"),
        (("touches", "Point", "[8,40]"), "unknown georel 'touches'"),
        (("within", "Circle", "[8,40]"), "unknown geometry"),
        (("within", "GeometryCollection", "[]"), "unknown geometry"),
        (("within", "Point", "[8,40"), "not a JSON array"),
        (("within", "Point", "[8]"), "2 or 3 numbers"),
        (("within", "Point", "[181,0]"), "longitude 181"),
        (("within", "Point", "[0,-91]"), "latitude -91"),
        (("within", "LineString", "[[0,0]]"), "at least 2 positions"),
        (("within", "Polygon", "[[[0,0],[1,0],[0,0]]]"), "at least 4 positions"),
        (("within", "Polygon", "[[[0,0],[1,0],[1,1],[0,1]]]"), "must be closed"),
    ],
)
def test_invalid_geo_queries_are_bad_request_data(args, fragment):
    with pytest.raises(BadRequestDataError) as err:
        parse_geo_query(*args, None, EX)
    assert fragment in str(err.value), str(err.value)


def test_geoq_json_errors():
    with pytest.raises(BadRequestDataError, match="JSON object"):
        geo_query_from_json("near", EX)
    with pytest.raises(BadRequestDataError, match="unknown member"):
        geo_query_from_json(
            {"georel": "within", "geometry": "Point", "coordinates": [1, 2], "radius": 3}, EX
        )
    with pytest.raises(BadRequestDataError, match="missing: coordinates"):
        geo_query_from_json({"georel": "within", "geometry": "Point"}, EX)


def test_validate_geometry_accepts_all_geojson_types():
    validate_geometry(point(126.97, 37.56))
    validate_geometry({"type": "Point", "coordinates": [126.97, 37.56, 38.5]})
    validate_geometry({"type": "MultiPoint", "coordinates": [[0, 0], [1, 1]]})
    validate_geometry({"type": "LineString", "coordinates": [[0, 0], [1, 1]]})
    validate_geometry({"type": "MultiLineString", "coordinates": [[[0, 0], [1, 1]]]})
    validate_geometry({"type": "Polygon", "coordinates": SQUARE})
    validate_geometry({"type": "MultiPolygon", "coordinates": [SQUARE]})
    validate_geometry({"type": "GeometryCollection", "geometries": [point(0, 0)]})


@pytest.mark.parametrize(
    ("geometry", "fragment"),
    [
        ("POINT(1 2)", "JSON object"),
        ({"type": "Point"}, "needs 'coordinates'"),
        ({"type": "Circle", "coordinates": [0, 0]}, "unknown GeoJSON geometry type"),
        ({"type": "Point", "coordinates": [True, 0]}, "finite numbers"),
        ({"type": "Point", "coordinates": ["1", 0]}, "finite numbers"),
        ({"type": "Point", "coordinates": [float("nan"), 0]}, "finite numbers"),
        ({"type": "MultiPoint", "coordinates": []}, "non-empty"),
        ({"type": "MultiPolygon", "coordinates": [[[[0, 0], [1, 0], [1, 1], [0, 0.5]]]]}, "closed"),
        ({"type": "GeometryCollection"}, "geometries"),
    ],
)
def test_validate_geometry_rejects(geometry, fragment):
    with pytest.raises(BadRequestDataError) as err:
        validate_geometry(geometry)
    assert fragment in str(err.value), str(err.value)


def test_haversine_between_seoul_landmarks():
    d = haversine_m(*CITY_HALL, *GANGNAM)
    assert d == pytest.approx(8793, abs=5)  # Seoul City Hall -> Gangnam Station: ~8.8 km
    assert distance_m(shape(point(*CITY_HALL)), shape(point(*GANGNAM))) == d


def test_near_point_to_point_in_metres():
    near_9k = parse_geo_query("near;maxDistance==9000", "Point", str(list(CITY_HALL)), None, EX)
    near_8k = parse_geo_query("near;maxDistance==8000", "Point", str(list(CITY_HALL)), None, EX)
    far_8k = parse_geo_query("near;minDistance==8000", "Point", str(list(CITY_HALL)), None, EX)
    far_9k = parse_geo_query("near;minDistance==9000", "Point", str(list(CITY_HALL)), None, EX)
    gangnam = entity(point(*GANGNAM))
    assert matches_geo(near_9k, gangnam) and not matches_geo(near_8k, gangnam)
    assert matches_geo(far_8k, gangnam) and not matches_geo(far_9k, gangnam)


def test_near_measures_to_the_closest_point_of_extended_geometries():
    q = parse_geo_query("near;maxDistance==2000", "LineString", "[[0,60],[10,60]]", None, EX)
    assert matches_geo(q, entity(point(10, 60.009)))  # ~1 km from the line's end
    q = parse_geo_query("near;maxDistance==2000", "LineString", "[[0,61],[10,61]]", None, EX)
    assert not matches_geo(q, entity(point(10, 60.009)))  # ~110 km away
    # mid-segment: a point 1 km north of the middle of a 10-degree segment along the equator
    q = parse_geo_query("near;maxDistance==1500", "LineString", "[[0,0],[10,0]]", None, EX)
    assert matches_geo(q, entity(point(5, 0.009)))


def test_near_is_metric_at_high_latitude():
    line = {"type": "LineString", "coordinates": [[1, 85], [0, 85.6]]}
    d = distance_m(shape(line), shape(point(0, 85)))
    assert 9_000 < d < 9_700  # one degree of longitude at 85N is ~9.7 km; 0.6 lat would be 67 km
    assert matches_geo(
        parse_geo_query("near;maxDistance==20000", "Point", "[0,85]", None, EX), entity(line)
    )
    assert not matches_geo(
        parse_geo_query("near;maxDistance==5000", "Point", "[0,85]", None, EX), entity(line)
    )


def test_near_to_a_polygon_is_zero_inside_it():
    polygon = {"type": "Polygon", "coordinates": SQUARE}
    q = parse_geo_query("near;maxDistance==1", "Point", str(list(CITY_HALL)), None, EX)
    assert matches_geo(q, entity(polygon))
    assert distance_m(shape(polygon), shape(point(127.2, 37.55))) == pytest.approx(
        haversine_m(127.1, 37.55, 127.2, 37.55), rel=1e-3
    )


def test_topological_relations_with_known_geometries():
    holed = [[[0, 0], [10, 0], [10, 10], [0, 10], [0, 0]], [[4, 4], [6, 4], [6, 6], [4, 6], [4, 4]]]
    within = parse_geo_query("within", "Polygon", str(holed), None, EX)
    assert matches_geo(within, entity(point(2, 2)))
    assert not matches_geo(within, entity(point(5, 5)))  # in the hole
    contains = parse_geo_query("contains", "Point", "[127.0,37.55]", None, EX)
    assert matches_geo(contains, entity({"type": "Polygon", "coordinates": SQUARE}))
    assert not matches_geo(contains, entity(point(127.0, 37.55 + 1e-6)))
    line = {"type": "LineString", "coordinates": [[126.8, 37.55], [127.2, 37.55]]}
    intersects = parse_geo_query("intersects", "Polygon", str(SQUARE), None, EX)
    disjoint = parse_geo_query("disjoint", "Polygon", str(SQUARE), None, EX)
    assert matches_geo(intersects, entity(line)) and not matches_geo(disjoint, entity(line))
    assert matches_geo(disjoint, entity(point(0, 0)))
    overlapping = [[[127.0, 37.55], [127.2, 37.55], [127.2, 37.7], [127.0, 37.7], [127.0, 37.55]]]
    overlaps = parse_geo_query("overlaps", "Polygon", str(overlapping), None, EX)
    assert matches_geo(overlaps, entity({"type": "Polygon", "coordinates": SQUARE}))
    assert not matches_geo(overlaps, entity(point(127.1, 37.6)))
    equals = parse_geo_query("equals", "Point", "[13.3986, 52.5547]", None, EX)
    assert matches_geo(equals, entity(point(13.3986, 52.5547)))
    assert not matches_geo(equals, entity(point(13.3986, 52.5548)))


def test_geoproperty_selects_the_target_and_missing_ones_do_not_match():
    space = "https://uri.etsi.org/ngsi-ld/observationSpace"
    q = parse_geo_query("near;maxDistance==2000", "Point", "[8,40]", "observationSpace", EX)
    assert q.geoproperty == space
    assert matches_geo(q, entity(point(8, 40.001), space))
    assert not matches_geo(q, entity(point(8, 40.001)))  # only location, not observationSpace
    assert not matches_geo(q, {"id": "urn:x", "type": ["T"], "attrs": {}})


def test_any_instance_of_a_multi_instance_geoproperty_may_match():
    e = entity(point(0, 0))
    e["attrs"][LOC].append({"type": "GeoProperty", "value": point(8, 40), "datasetId": "urn:d"})
    assert matches_geo(parse_geo_query("near;maxDistance==10", "Point", "[8,40]", None, EX), e)


def test_broken_stored_geometries_never_match():
    q = parse_geo_query("intersects", "Polygon", str(SQUARE), None, EX)
    bowtie = {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}
    assert not matches_geo(q, entity({"type": "Point"}))
    assert not matches_geo(q, entity("not a geometry"))  # type: ignore[arg-type]
    matches_geo(q, entity(bowtie))  # must not raise


@settings(max_examples=300, deadline=None, database=None)
@given(
    st.sampled_from(["near;maxDistance==5", "within", "near;x", "near;minDistance==1e9", ""]),
    st.sampled_from(["Point", "Polygon", "LineString", "MultiPolygon", "x"]),
    st.text(alphabet=st.sampled_from(list("[],0123456789.-e ")), max_size=30) | st.text(),
)
def test_random_input_only_raises_dosi_errors(georel, geometry, coordinates):
    try:
        q = parse_geo_query(georel, geometry, coordinates, None, EX)
    except DosiError:
        return
    assert math.isfinite(q.max_distance or 0)
    matches_geo(q, entity(point(0, 0)))


GEO_QUERIES = [
    parse_geo_query("near;maxDistance==9000", "Point", str(list(CITY_HALL)), None, EX),
    parse_geo_query("near;minDistance==5000", "Point", str(list(CITY_HALL)), None, EX),
    parse_geo_query("within", "Polygon", str(SQUARE), None, EX),
    parse_geo_query("intersects", "Polygon", str(SQUARE), None, EX),
    parse_geo_query("disjoint", "Polygon", str(SQUARE), None, EX),
]


@settings(max_examples=300, deadline=None, database=None)
@given(st.floats(126.8, 127.2), st.floats(37.4, 37.7), st.sampled_from(GEO_QUERIES))
def test_point_fast_path_agrees_with_the_general_path(lon, lat, query):
    fast = matches_geo(query, entity(point(lon, lat)))
    general = matches_geo(query, entity({"type": "MultiPoint", "coordinates": [[lon, lat]]}))
    if query.georel == "near":  # the general path projects; allow a hair at the boundary
        d = haversine_m(*CITY_HALL, lon, lat)
        limit = query.max_distance or query.min_distance
        if abs(d - limit) < 0.01:
            return
    assert fast == general


def test_self_intersecting_query_polygon_is_repaired_not_refused():
    """Clients (and the ETSI suite) send bow-tie polygons; `within` uses the valid repair."""
    bowtie = "[[[0,0],[2,2],[2,0],[0,2],[0,0]]]"
    q = parse_geo_query("within", "Polygon", bowtie, None, lambda t: t)
    inside = {"id": "urn:a:1", "type": ["T"], "attrs": {
        "https://uri.etsi.org/ngsi-ld/location": [
            {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [0.5, 1.0]}}]}}
    outside = {"id": "urn:a:2", "type": ["T"], "attrs": {
        "https://uri.etsi.org/ngsi-ld/location": [
            {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [1.0, 0.2]}}]}}
    assert matches_geo(q, inside) and not matches_geo(q, outside)
