"""EntityStore.query and purge: pushdown and evaluator fallback give the same answers."""

from __future__ import annotations

from typing import Any

import pytest

from dosi.ngsild.query.ast import (
    ANY_TYPE,
    And,
    AttrPath,
    Comparison,
    EntityQuery,
    GeoQuery,
    Or,
    Range,
    ScopeAnd,
    ScopeMatch,
    ScopeOr,
    TypeAnd,
    TypeName,
    TypeOr,
)
from dosi.ngsild.query.evaluate import matches
from dosi.storage.base import Entity, Store

from .support import (
    AREA,
    CAMERA,
    CITY_HALL,
    EX,
    NAME,
    OBSERVATION_SPACE,
    ON,
    PLACES,
    REF,
    ROAD,
    SENSOR,
    TEMP,
    city,
    entity,
    haversine_m,
    point,
    polygon,
    prop,
    put,
    urn,
)

ALL = [e["id"] for e in city()]


def short(ids: list[str]) -> list[str]:
    return [i.rsplit(":", 1)[1] for i in ids]


@pytest.fixture
async def seoul(store: Store) -> list[Entity]:
    entities = city()
    await put(store, *entities)
    return entities


async def ids_of(store: Store, tenant: str = "", **kw: Any) -> list[str]:
    res = await store.query(tenant, EntityQuery(limit=1000, **kw))
    return short([e["id"] for e in res.entities])


def cmp(attr: str, op: str | None, value: Any = None, *sub: str) -> Comparison:
    return Comparison(AttrPath(attr, tuple(sub)), op, value)


async def test_get_all_in_created_order(store: Store, seoul: list[Entity]) -> None:
    res = await store.query("", EntityQuery(limit=100, count=True))
    assert [e["id"] for e in res.entities] == ALL and res.count == 10
    assert res.entities == seoul


async def test_ids_and_id_pattern(store: Store, seoul: list[Entity]) -> None:
    assert await ids_of(store, ids=(urn("busan"), urn("hall"), urn("missing"))) == ["hall", "busan"]
    assert await ids_of(store, id_pattern=r"urn:ngsi-ld:Thing:[a-h].*") == [
        "hall",
        "deoksu",
        "gwanghwamun",
        "gangnam",
        "busan",
    ]
    assert await ids_of(store, id_pattern="Thing:hall") == []  # whole-id match
    assert await ids_of(store, id_pattern=r"(?i)URN:NGSI-LD:thing:HALL") == ["hall"]
    # an id list takes precedence over idPattern
    assert await ids_of(store, ids=(urn("busan"),), id_pattern="nothing") == ["busan"]


async def test_type_expressions(store: Store, seoul: list[Entity]) -> None:
    sensors = ["hall", "plaza", "deoksu", "gwanghwamun", "namsan", "gangnam", "busan", "nowhere"]
    assert await ids_of(store, types=TypeName(SENSOR)) == sensors
    assert await ids_of(store, types=TypeAnd((TypeName(SENSOR), TypeName(CAMERA)))) == ["deoksu"]
    assert await ids_of(store, types=TypeOr((TypeName(AREA), TypeName(ROAD)))) == [
        "plazaArea",
        "sejongRoad",
    ]
    assert await ids_of(
        store, types=TypeOr((TypeName(AREA), TypeAnd((TypeName(SENSOR), TypeName(CAMERA)))))
    ) == ["deoksu", "plazaArea"]
    assert await ids_of(store, types=TypeName(ANY_TYPE)) == short(ALL)
    assert await ids_of(store, types=TypeName(EX + "Nothing")) == []


async def test_attrs_any_of(store: Store, seoul: list[Entity]) -> None:
    assert await ids_of(store, attrs=(ON,)) == ["hall", "nowhere"]
    assert await ids_of(store, attrs=(REF, ON)) == ["hall", "plaza", "nowhere"]
    assert await ids_of(store, attrs=(OBSERVATION_SPACE,)) == ["sejongRoad"]


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        (cmp(TEMP, ">", 20), ["hall", "plaza", "gwanghwamun", "busan"]),
        (cmp(TEMP, "==", 21.5), ["hall"]),
        (cmp(TEMP, "==", 25), ["plaza"]),
        (cmp(TEMP, "<=", 18), ["deoksu", "namsan"]),
        (cmp(TEMP, "==", Range(15, 20)), ["deoksu", "namsan", "nowhere"]),
        (cmp(TEMP, "==", (18, 25)), ["plaza", "deoksu"]),
        (cmp(TEMP, "==", "hot"), ["gangnam"]),
        (cmp(NAME, "==", "Seoul Plaza"), ["plaza"]),
        (cmp(NAME, ">", "N"), ["plaza", "namsan", "plazaArea", "sejongRoad", "nowhere"]),
        (cmp(NAME, "==", Range("A", "D")), ["hall", "busan"]),
        (cmp(REF, "==", "urn:ngsi-ld:Device:1"), ["hall"]),
        (cmp(ON, None), ["hall", "nowhere"]),
        (
            cmp(ON, "!"),
            [
                "plaza",
                "deoksu",
                "gwanghwamun",
                "namsan",
                "gangnam",
                "busan",
                "plazaArea",
                "sejongRoad",
            ],
        ),
        (cmp(ON, "==", True), ["hall"]),
        (
            Or((cmp(TEMP, ">", 26), cmp(NAME, "==", "Deoksugung"))),
            ["deoksu", "gwanghwamun", "busan"],
        ),
        (And((cmp(TEMP, ">", 20), cmp(REF, "==", "urn:ngsi-ld:Device:1"))), ["hall"]),
        (cmp(TEMP, "==", "CEL", "unitCode"), ["hall"]),
    ],
)
async def test_q(store: Store, seoul: list[Entity], q: Any, expected: list[str]) -> None:
    assert await ids_of(store, q=q) == expected


@pytest.mark.parametrize(
    ("scope", "expected"),
    [
        (ScopeMatch("/Seoul/Jung-gu"), ["plaza", "namsan"]),
        (ScopeMatch("/Seoul/Jung-gu/#"), ["hall", "plaza", "deoksu", "namsan"]),
        (ScopeMatch("/Seoul/+"), ["plaza", "gwanghwamun", "namsan", "gangnam"]),
        (ScopeMatch("/Seoul/Jung-gu/+"), ["hall", "deoksu"]),
        (ScopeMatch("/+/Jung-gu"), ["plaza", "namsan"]),
        (
            ScopeMatch("/#"),
            ["hall", "plaza", "deoksu", "gwanghwamun", "namsan", "gangnam", "busan"],
        ),
        (ScopeAnd((ScopeMatch("/Seoul/Yongsan-gu"), ScopeMatch("/Seoul/Jung-gu"))), ["namsan"]),
        (ScopeOr((ScopeMatch("/Busan"), ScopeMatch("/Seoul/Jongno-gu"))), ["gwanghwamun", "busan"]),
    ],
)
async def test_scope_q(store: Store, seoul: list[Entity], scope: Any, expected: list[str]) -> None:
    assert await ids_of(store, scope_q=scope) == expected


SQUARE = polygon(126.975, 37.564, 126.980, 37.568)  # around Seoul City Hall


@pytest.mark.parametrize(
    ("geo", "expected"),
    [
        (GeoQuery("within", SQUARE), ["hall", "plaza", "deoksu", "plazaArea"]),
        (
            GeoQuery("near", point(*CITY_HALL), max_distance=300),
            ["hall", "plaza", "deoksu", "plazaArea"],
        ),
        (GeoQuery("near", point(*CITY_HALL), min_distance=3000), ["gangnam", "busan"]),
        (
            GeoQuery("near", point(*CITY_HALL), max_distance=1200),
            ["hall", "plaza", "deoksu", "gwanghwamun", "plazaArea", "sejongRoad"],
        ),
        (
            GeoQuery(
                "intersects",
                {"type": "LineString", "coordinates": [[126.970, 37.5657], [126.980, 37.5657]]},
            ),
            ["plazaArea"],
        ),
        (
            GeoQuery(
                "intersects",
                {"type": "LineString", "coordinates": [[126.976, 37.572], [126.978, 37.572]]},
            ),
            ["sejongRoad"],
        ),
        (GeoQuery("contains", point(126.977, 37.5657)), ["plazaArea"]),
        (GeoQuery("disjoint", SQUARE), ["gwanghwamun", "namsan", "gangnam", "busan", "sejongRoad"]),
        (
            GeoQuery("within", polygon(126.9, 37.5, 127.1, 37.6), geoproperty=OBSERVATION_SPACE),
            ["sejongRoad"],
        ),
    ],
)
async def test_geo_q(store: Store, seoul: list[Entity], geo: GeoQuery, expected: list[str]) -> None:
    assert await ids_of(store, geo_q=geo) == expected


def test_geo_fixture_distances_are_far_from_the_thresholds() -> None:
    d = {k: haversine_m(CITY_HALL, v) for k, v in PLACES.items()}
    assert d["deoksu"] < 280 and 320 < d["gwanghwamun"] < 1100
    assert d["namsan"] < 2500 and d["gangnam"] > 3500


async def test_filters_combine(store: Store, seoul: list[Entity]) -> None:
    assert await ids_of(
        store,
        types=TypeName(SENSOR),
        q=cmp(TEMP, ">", 20),
        scope_q=ScopeMatch("/Seoul/#"),
        geo_q=GeoQuery("within", SQUARE),
    ) == ["hall", "plaza"]


async def test_pagination_and_count(store: Store, seoul: list[Entity]) -> None:
    pages = []
    for offset in range(0, 12, 3):
        res = await store.query("", EntityQuery(limit=3, offset=offset, count=True))
        assert res.count == 10
        pages += [e["id"] for e in res.entities]
    assert pages == ALL
    res = await store.query("", EntityQuery(limit=0, count=True, types=TypeName(SENSOR)))
    assert res.entities == [] and res.count == 8
    res = await store.query("", EntityQuery(limit=5))
    assert res.count is None and len(res.entities) == 5


async def test_pagination_when_the_evaluator_finishes(store: Store, seoul: list[Entity]) -> None:
    """``!=`` is not pushed down exactly: paging happens after the evaluator."""
    q = cmp(NAME, "!=", "Busan")
    full = await store.query("", EntityQuery(q=q, limit=100, count=True))
    expected = [e["id"] for e in seoul if matches(EntityQuery(q=q), e)]
    assert [e["id"] for e in full.entities] == expected and full.count == len(expected)
    pages = []
    for offset in range(0, len(expected) + 2, 2):
        res = await store.query("", EntityQuery(q=q, limit=2, offset=offset, count=True))
        assert res.count == len(expected)
        pages += [e["id"] for e in res.entities]
    assert pages == expected


async def test_ties_in_created_at_order_by_id(store: Store) -> None:
    await put(store, entity("b", i=0), entity("c", i=0), entity("a", i=0), entity("z", i=-0))
    assert await ids_of(store) == ["a", "b", "c", "z"]


# --- every pushed-down answer must equal the evaluator's ---

CROSS = [
    EntityQuery(q=cmp(TEMP, ">", 20)),
    EntityQuery(q=cmp(TEMP, "!=", 21.5)),
    EntityQuery(q=cmp(TEMP, "<", "z")),
    EntityQuery(q=cmp(TEMP, "==", (18, "hot"))),
    EntityQuery(q=cmp(TEMP, "==", Range(15, 30))),
    EntityQuery(q=cmp(NAME, "~=", "^Se")),
    EntityQuery(q=cmp(NAME, "!~=", "^Se")),
    EntityQuery(q=cmp(EX + "when", ">", "2026-01-01T00:00:00Z")),
    EntityQuery(q=cmp(EX + "when", "==", "2026-03-01T00:00:00Z")),
    EntityQuery(q=cmp(EX + "multi", ">", 1)),
    EntityQuery(q=cmp(EX + "multi", "==", 5)),
    EntityQuery(q=cmp(EX + "list", "==", 2)),
    EntityQuery(q=cmp(ON, "==", False)),
    EntityQuery(q=cmp(ON, "!")),
    EntityQuery(q=Or((cmp(ON, "!"), cmp(TEMP, ">=", 25)))),
    EntityQuery(q=Comparison(AttrPath(EX + "obj", (), ("a",)), "==", 1)),
    EntityQuery(
        q=Comparison(
            AttrPath("https://uri.etsi.org/ngsi-ld/createdAt"), ">", "2026-01-01T00:00:05.000Z"
        )
    ),
    EntityQuery(id_pattern=r"urn:ngsi-ld:Thing:(h|b).*"),
    EntityQuery(id_pattern=r"urn:ngsi-ld:Thing:\w{4,5}"),
    EntityQuery(geo_q=GeoQuery("overlaps", polygon(126.977, 37.565, 126.978, 37.566))),
    EntityQuery(geo_q=GeoQuery("equals", point(*CITY_HALL))),
    EntityQuery(geo_q=GeoQuery("near", point(*CITY_HALL), max_distance=2000)),
]


async def test_results_equal_the_evaluator(store: Store, seoul: list[Entity]) -> None:
    extra = [
        entity("dated", i=20, when=prop("2026-03-01T00:00:00.000Z")),
        entity("dated2", i=21, when=prop("2025-12-31T23:00:00Z")),
        entity(
            "multi",
            i=22,
            multi=[
                {"type": "Property", "value": 1},
                {"type": "Property", "value": 5, "datasetId": "urn:d:1"},
            ],
        ),
        entity("multi2", i=23, multi=prop(3)),
        entity("list", i=24, list=prop([1, 2, 3])),
        entity("obj", i=25, obj=prop({"a": 1})),
    ]
    await put(store, *extra)
    everything = seoul + extra
    for query in CROSS:
        expected = [e["id"] for e in everything if matches(query, e)]
        for limit, offset in ((100, 0), (2, 1)):
            q = EntityQuery(**{**query.__dict__, "limit": limit, "offset": offset, "count": True})
            res = await store.query("", q)
            assert res.count == len(expected), query
            assert [e["id"] for e in res.entities] == expected[offset : offset + limit], query


async def test_purge(store: Store, seoul: list[Entity]) -> None:
    assert await store.purge("", EntityQuery(types=TypeName(AREA), limit=0)) == 1
    assert urn("plazaArea") not in [
        e["id"] for e in (await store.query("", EntityQuery(limit=100))).entities
    ]
    assert AREA not in {t.type for t in await store.types("")}
    # a filter the evaluator finishes (regex), limit and offset ignored
    gone = {urn("plazaArea")}
    q = EntityQuery(q=cmp(NAME, "~=", "Se.*"), limit=1, offset=1)
    expected = [e["id"] for e in seoul if matches(q, e) and e["id"] not in gone]
    assert await store.purge("", q) == len(expected) > 0
    for eid in expected:
        assert await store.get("", eid) is None
    gone.update(expected)
    q = EntityQuery(geo_q=GeoQuery("within", SQUARE))
    inside = [e["id"] for e in seoul if matches(q, e) and e["id"] not in gone]
    assert await store.purge("", q) == len(inside) > 0
    gone.update(inside)
    left = await store.query("", EntityQuery(limit=100, count=True))
    assert left.count == 10 - len(gone)
    assert await store.purge("", EntityQuery()) == left.count
    assert await store.types("") == [] and await store.attributes("") == []


async def test_purge_finished_by_the_evaluator(store: Store, seoul: list[Entity]) -> None:
    q = EntityQuery(q=Or((cmp(TEMP, "==", "CEL", "unitCode"), cmp(NAME, "~=", "(?i)^busan$"))))
    expected = [e["id"] for e in seoul if matches(q, e)]
    assert expected == [urn("hall"), urn("busan")]
    assert await store.purge("", q) == 2
    left = await store.query("", EntityQuery(limit=100, count=True))
    assert left.count == 8 and not {urn("hall"), urn("busan")} & {e["id"] for e in left.entities}
    assert {t.type: t.entity_count for t in await store.types("")}[SENSOR] == 6


async def test_a_long_id_list(store: Store, seoul: list[Entity]) -> None:
    ids = tuple(urn(f"nobody{i}") for i in range(40_000)) + (urn("busan"), urn("hall"))
    res = await store.query("", EntityQuery(ids=ids, limit=100, count=True))
    assert [e["id"] for e in res.entities] == [urn("hall"), urn("busan")] and res.count == 2
