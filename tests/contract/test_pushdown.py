"""What each backend answers in SQL alone (index lookups, SQL paging) and what it leaves
to the evaluator: common lookups must never fall back to scanning documents."""

from __future__ import annotations

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
    ScopeMatch,
    TypeAnd,
    TypeName,
    TypeOr,
)
from dosi.storage.sql import AttrFacts, Dialect, PgDialect, compile_query

from .support import CITY_HALL, NAME, ON, REF, SENSOR, TEMP, point, polygon

SQLITE, PG = Dialect(), PgDialect()
EXACT_BOTH = [
    EntityQuery(ids=("urn:a", "urn:b")),
    EntityQuery(types=TypeName(SENSOR)),
    EntityQuery(types=TypeOr((TypeName(SENSOR), TypeAnd((TypeName("x"), TypeName("y")))))),
    EntityQuery(types=TypeName(ANY_TYPE)),
    EntityQuery(attrs=(TEMP, NAME)),
    EntityQuery(q=Comparison(AttrPath(TEMP), ">", 20)),
    EntityQuery(q=Comparison(AttrPath(TEMP), "==", Range(1, 2))),
    EntityQuery(q=Comparison(AttrPath(TEMP), "==", (1, "a"))),
    EntityQuery(q=Comparison(AttrPath(TEMP), "!=", 3)),
    EntityQuery(q=Comparison(AttrPath(NAME), "<=", "abc")),
    EntityQuery(q=Comparison(AttrPath(REF), "==", "urn:ngsi-ld:Device:1")),
    EntityQuery(q=Comparison(AttrPath(ON), None)),
    EntityQuery(q=Comparison(AttrPath(ON), "!")),
    EntityQuery(
        q=Or(
            (
                Comparison(AttrPath(TEMP), ">", 1),
                And((Comparison(AttrPath(ON), None), Comparison(AttrPath(NAME), "==", "x"))),
            )
        )
    ),
    EntityQuery(scope_q=ScopeMatch("/Seoul/+/x/#")),
    EntityQuery(q=Comparison(AttrPath(NAME), "~=", "^Se(oul)?")),
]
EVALUATOR_BOTH = [
    EntityQuery(q=Comparison(AttrPath(TEMP), "==", True)),
    EntityQuery(q=Comparison(AttrPath(TEMP), ">", "2026-01-01T00:00:00Z")),
    EntityQuery(q=Comparison(AttrPath(TEMP, ("unitCode",)), "==", "CEL")),
    EntityQuery(q=Comparison(AttrPath(TEMP, (), ("a",)), "==", 1)),
    EntityQuery(q=Comparison(AttrPath("https://uri.etsi.org/ngsi-ld/createdAt"), ">", "x")),
]


@pytest.mark.parametrize("query", EXACT_BOTH)
@pytest.mark.parametrize("dialect", [SQLITE, PG], ids=["sqlite", "postgres"])
def test_pushed_down_exactly(dialect: Dialect, query: EntityQuery) -> None:
    assert compile_query(query, "", dialect).exact


@pytest.mark.parametrize("query", EVALUATOR_BOTH)
@pytest.mark.parametrize("dialect", [SQLITE, PG], ids=["sqlite", "postgres"])
def test_left_to_the_evaluator(dialect: Dialect, query: EntityQuery) -> None:
    assert not compile_query(query, "", dialect).exact


def test_attribute_facts_decide() -> None:
    gt = EntityQuery(q=Comparison(AttrPath(TEMP), ">", 1))
    eq = EntityQuery(q=Comparison(AttrPath(TEMP), "==", "x"))
    assert not compile_query(gt, "", SQLITE, AttrFacts(opaque=frozenset({TEMP}))).exact
    rel = AttrFacts(relational=frozenset({TEMP}))
    assert not compile_query(gt, "", SQLITE, rel).exact  # relationships are never ordered
    assert compile_query(eq, "", SQLITE, rel).exact


def test_dialect_differences() -> None:
    near = EntityQuery(geo_q=GeoQuery("near", point(*CITY_HALL), max_distance=100))
    within = EntityQuery(geo_q=GeoQuery("within", polygon(126.9, 37.5, 127.0, 37.6)))
    for q in (near, within):
        assert compile_query(q, "", PG).exact  # PostGIS predicates
        assert not compile_query(q, "", SQLITE).exact  # R*Tree prefilter + shapely
    portable = EntityQuery(id_pattern=r"urn:ngsi-ld:Thing:\d+")
    python_only = EntityQuery(id_pattern=r"(?i)urn:ngsi-ld:thing:(?P<n>\d+)")
    assert compile_query(portable, "", PG).exact and compile_query(portable, "", SQLITE).exact
    assert not compile_query(python_only, "", PG).exact
    assert compile_query(python_only, "", SQLITE).exact  # REGEXP is Python's re
