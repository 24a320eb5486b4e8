"""Complexity limits on queries, checked on the parsed query so that every path
(GET and POST queries, temporal queries, subscriptions' filters) is covered: how deep
and how long a ``q`` may be, how many vertices a ``geoQ`` geometry may have, and how
long a temporal range may be."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dosi.errors import BadRequestDataError
from dosi.ngsild.query.ast import And, Comparison, EntityQuery, Or, QExpr


@dataclass(frozen=True)
class QueryLimits:
    q_depth: int = 12
    q_terms: int = 200
    geo_vertices: int = 10_000
    temporal_span_ms: int | None = None  # None: any range


def q_shape(q: QExpr) -> tuple[int, int]:
    """(nesting depth, number of comparisons)."""
    if isinstance(q, Comparison):
        return 1, 1
    assert isinstance(q, (And, Or))
    shapes = [q_shape(i) for i in q.items]
    return 1 + max(d for d, _ in shapes), sum(n for _, n in shapes)


def vertices(coords: Any) -> int:
    if isinstance(coords, (list, tuple)) and coords and isinstance(coords[0], (int, float)):
        return 1
    if isinstance(coords, (list, tuple)):
        return sum(vertices(c) for c in coords)
    return 0


def check_query(query: EntityQuery, limits: QueryLimits) -> None:
    if query.q is not None:
        depth, terms = q_shape(query.q)
        if depth > limits.q_depth:
            raise BadRequestDataError(
                f"q is nested {depth} levels deep; at most {limits.q_depth} are allowed")
        if terms > limits.q_terms:
            raise BadRequestDataError(
                f"q has {terms} comparisons; at most {limits.q_terms} are allowed")
    if query.geo_q is not None:
        n = vertices(query.geo_q.geometry.get("coordinates"))
        if n > limits.geo_vertices:
            raise BadRequestDataError(
                f"the geoQ geometry has {n} vertices; at most {limits.geo_vertices} are allowed")


def check_span(time_at: int | None, end_at: int | None, timerel: str | None,
               last_n: int | None, limits: QueryLimits) -> None:
    """A temporal query must stay within ``temporal_span_ms`` unless it asks for the
    last N instances only."""
    span = limits.temporal_span_ms
    if span is None or last_n:
        return
    if timerel == "between" and time_at is not None and end_at is not None:
        if end_at - time_at <= span:
            return
        raise BadRequestDataError(
            f"the temporal range is longer than the {span // 86_400_000} days allowed")
    raise BadRequestDataError(
        "the temporal range is unbounded: give timerel=between with timeAt and endAt "
        f"(at most {span // 86_400_000} days apart) or lastN")
