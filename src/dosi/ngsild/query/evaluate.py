"""Evaluate parsed queries on internal entities (docs/design/internals.md).

``matches(query, entity)`` is the definition every store must reproduce. ASTs are
compiled once into closures and cached (by identity), so evaluating one query over
many entities recompiles nothing. q semantics (clause 4.9) are in ``qcompile``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar

from dosi.errors import BadRequestDataError
from dosi.ngsild.query.ast import (
    ANY_TYPE,
    EntityQuery,
    GeoQuery,
    QExpr,
    ScopeAnd,
    ScopeExpr,
    ScopeMatch,
    ScopeOr,
    TypeAnd,
    TypeExpr,
    TypeName,
)
from dosi.ngsild.query.geopredicates import compile_geo
from dosi.ngsild.query.qcompile import compile_q
from dosi.ngsild.query.scopeq import scope_levels, scope_pattern_matches

Entity = dict[str, Any]
Pred = Callable[[Any], bool]
K = TypeVar("K")

_CACHE_MAX = 2048
_cache: dict[tuple[str, int], tuple[object, Any]] = {}


def _cached(kind: str, key: object, build: Callable[[], K]) -> K:
    """Memoise ``build()`` per AST object; the entry keeps the object alive so its id
    cannot be reused while cached."""
    slot = (kind, id(key))
    hit = _cache.get(slot)
    if hit is not None and hit[0] is key:
        return hit[1]  # type: ignore[no-any-return]
    value = build()
    if len(_cache) >= _CACHE_MAX:
        _cache.clear()
    _cache[slot] = (key, value)
    return value


# --- types ---


def _compile_types(expr: TypeExpr) -> Pred:
    if isinstance(expr, TypeName):
        if expr.iri == ANY_TYPE:
            return lambda types: True
        iri = expr.iri
        return lambda types: iri in types
    parts = [_compile_types(item) for item in expr.items]
    if isinstance(expr, TypeAnd):
        return lambda types: all(p(types) for p in parts)
    return lambda types: any(p(types) for p in parts)


def matches_types(expr: TypeExpr, entity: Entity) -> bool:
    """True if the entity's types satisfy the type selection (``*`` matches any)."""
    return _cached("types", expr, lambda: _compile_types(expr))(entity.get("type") or ())


# --- ids ---


def compile_id_pattern(pattern: str) -> re.Pattern[str]:
    """Compile an ``idPattern``; BadRequestDataError if it is not a valid regex."""
    hit = _cache.get(("idp", hash(pattern)))
    if hit is not None and hit[0] == pattern:
        return hit[1]  # type: ignore[no-any-return]
    try:
        rx = re.compile(pattern)
    except Exception as exc:  # noqa: BLE001 - re.error, OverflowError, RecursionError
        raise BadRequestDataError(f"invalid idPattern {pattern!r}: {exc}") from None
    if len(_cache) >= _CACHE_MAX:
        _cache.clear()
    _cache[("idp", hash(pattern))] = (pattern, rx)
    return rx


def matches_ids(query: EntityQuery, entity: Entity) -> bool:
    """``id`` list membership, else ``idPattern`` matched against the whole id.

    When both are given the id list takes precedence (as in an EntitySelector).
    """
    if query.ids:
        return entity.get("id") in _cached("ids", query.ids, lambda: frozenset(query.ids or ()))
    if query.id_pattern is not None:
        eid = entity.get("id")
        return (
            isinstance(eid, str) and compile_id_pattern(query.id_pattern).fullmatch(eid) is not None
        )
    return True


# --- scopeQ ---


def _compile_scope(expr: ScopeExpr) -> Pred:
    if isinstance(expr, ScopeMatch):
        pattern = scope_levels(expr.pattern)
        if "+" not in pattern and "#" not in pattern:
            return lambda scopes: pattern in scopes
        return lambda scopes: any(scope_pattern_matches(pattern, s) for s in scopes)
    parts = [_compile_scope(item) for item in expr.items]
    if isinstance(expr, ScopeAnd):
        return lambda scopes: all(p(scopes) for p in parts)
    assert isinstance(expr, ScopeOr)
    return lambda scopes: any(p(scopes) for p in parts)


def matches_scope(expr: ScopeExpr, entity: Entity) -> bool:
    """True if the entity's scopes satisfy the scopeQ; entities without scope never do."""
    raw = entity.get("scope")
    if not raw:
        return False
    scopes = [
        scope_levels(s) for s in ([raw] if isinstance(raw, str) else raw) if isinstance(s, str)
    ]
    return bool(scopes) and _cached("scope", expr, lambda: _compile_scope(expr))(scopes)


# --- geoQ ---


def matches_geo(geo: GeoQuery, entity: Entity) -> bool:
    """True if any instance of the target GeoProperty satisfies the geo-query.

    Entities without that GeoProperty do not match (clause 4.10).
    """
    instances = (entity.get("attrs") or {}).get(geo.geoproperty)
    if not instances:
        return False
    pred = _cached("geo", geo, lambda: compile_geo(geo))
    return any(pred(inst.get("value")) for inst in instances if isinstance(inst, dict))


# --- q ---


def matches_q(expr: QExpr, entity: Entity) -> bool:
    """True if the entity satisfies the q expression."""
    return _cached("q", expr, lambda: compile_q(expr))(entity)


# --- everything ---


def matches(query: EntityQuery, entity: Entity) -> bool:
    """True if the entity is selected by every filter of the query (all are ANDed).

    ``attrs`` keeps entities having at least one of the listed attributes.
    """
    if (query.ids or query.id_pattern is not None) and not matches_ids(query, entity):
        return False
    if query.types is not None and not matches_types(query.types, entity):
        return False
    if query.attrs:
        attrs = entity.get("attrs") or {}
        if not any(a in attrs for a in query.attrs):
            return False
    if query.q is not None and not matches_q(query.q, entity):
        return False
    if query.scope_q is not None and not matches_scope(query.scope_q, entity):
        return False
    return query.geo_q is None or matches_geo(query.geo_q, entity)
