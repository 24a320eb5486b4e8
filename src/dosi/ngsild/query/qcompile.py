"""Compile a q AST into a predicate over internal entities (semantics of clause 4.9).

Target values, per instance reached by the attribute path:

* Property / GeoProperty: ``value`` (a JSON-LD value object ``{"@value": v}`` counts as v);
  Relationship: ``object``; ListRelationship: ``objectList``; VocabProperty: ``vocab``
  (expanded IRIs: compare with ``expandValues`` or full IRIs); JsonProperty: ``json``;
  ListProperty: ``valueList``; LanguageProperty: every string of its ``languageMap``,
  or with ``[lang]`` those of that language (``[*]``: any language).
* ``a.b.observedAt`` etc.: that member of the instance reached; ``createdAt`` /
  ``modifiedAt`` alone: the entity's system timestamps.
* ``[k1][k2]`` walks into the value (objects by member, arrays by index, ``*`` any);
  an undefined member makes the target non-existent.

A term holds if ANY instance (datasetId) satisfies it. Per instance, an array target
(or a languageMap) is a set of candidates: ``==``, ordering and ``~=`` need one
candidate to match; ``!=`` and ``!~=`` need NO candidate to match the positive form.
Every operator needs the target to exist (``!=`` on a missing attribute is false).
Types never mix (``"5" != 5``, ``true != 1``); a DateTime query value compares with
DateTime strings as instants; other strings compare lexicographically. Ranges are
inclusive; value lists mean "equal to any". Relationships only take ``==``/``!=``.
``~=`` is a regex *search* (``re.search``), as in NGSIv2 and the brokers.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from dosi.ngsild.entity import content_key
from dosi.ngsild.query.ast import And, AttrPath, Comparison, Or, QExpr, Range
from dosi.ngsild.query.q import CORE_MEMBERS, DATETIME_RE

NGSILD = "https://uri.etsi.org/ngsi-ld/"
ENTITY_TIMESTAMPS = {NGSILD + "createdAt": "createdAt", NGSILD + "modifiedAt": "modifiedAt"}
RELATIONSHIPS = frozenset({"Relationship", "ListRelationship"})
_ORDER = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}
_MISSING = object()

Entity = dict[str, Any]
Targets = list[tuple[bool, list[Any]]]  # per instance: (is a relationship, target values)
Test = Callable[[Any], bool]


@lru_cache(maxsize=65536)
def parse_datetime(text: str) -> datetime | None:
    """An ISO 8601 DateTime string as an aware datetime (naive = UTC), else None."""
    if not DATETIME_RE.fullmatch(text):
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _walk(values: list[Any], keys: tuple[str, ...]) -> list[Any]:
    for key in keys:
        nxt: list[Any] = []
        for v in values:
            if isinstance(v, dict):
                if key == "*":
                    nxt.extend(v.values())
                elif key in v:
                    nxt.append(v[key])
            elif isinstance(v, list):
                if key == "*":
                    nxt.extend(v)
                elif key.isascii() and key.isdigit() and int(key) < len(v):
                    nxt.append(v[int(key)])
        values = nxt
        if not values:
            break
    return values


def compile_path(path: AttrPath) -> Callable[[Entity], Targets]:
    """A function returning, per instance reached by the path, its target values."""
    attr, keys = path.attr, path.keys
    system = ENTITY_TIMESTAMPS.get(attr)
    if system is not None and not path.sub and not keys:
        return lambda e: [(False, [e[system]])] if system in e else []
    meta = path.sub[-1] if path.sub and path.sub[-1] in CORE_MEMBERS else None
    chain = path.sub[:-1] if meta is not None else path.sub

    def resolve(entity: Entity) -> Targets:
        instances = (entity.get("attrs") or {}).get(attr)
        if not instances:
            return []
        out: Targets = []
        for node in instances:
            for name in chain:
                subs = node.get("sub") if isinstance(node, dict) else None
                node = subs.get(name) if isinstance(subs, dict) else None
            if not isinstance(node, dict):
                continue
            if meta is not None:
                values = [node[meta]] if meta in node else []
                is_rel = False
            else:
                kind = node.get("type")
                key = content_key(kind) if isinstance(kind, str) else "value"
                content = node.get(key, _MISSING)
                if content is _MISSING:
                    continue
                is_rel = kind in RELATIONSHIPS
                if kind == "LanguageProperty" and isinstance(content, dict) and not keys:
                    values = list(content.values())
                else:
                    values = [content]
            if keys and values:
                values = _walk(values, keys)
            if values:
                out.append((is_rel, values))
        return out

    return resolve


def _candidates(values: list[Any]) -> Iterator[Any]:
    for v in values:
        for c in v if isinstance(v, list) else (v,):
            yield c["@value"] if isinstance(c, dict) and "@value" in c else c


def _is_number(c: Any) -> bool:
    return type(c) is int or type(c) is float


def _eq_test(q: Any) -> Test:
    if isinstance(q, bool):
        return lambda c: c is q
    if _is_number(q):
        return lambda c: _is_number(c) and c == q
    qdt = parse_datetime(q) if isinstance(q, str) else None
    if qdt is None:
        return lambda c: isinstance(c, str) and c == q
    return lambda c: isinstance(c, str) and (c == q or parse_datetime(c) == qdt)


def _order_test(op: str, q: Any) -> Test:
    cmp = _ORDER[op]
    if _is_number(q):
        return lambda c: _is_number(c) and cmp(c, q)
    if not isinstance(q, str):
        return lambda c: False
    qdt = parse_datetime(q)
    if qdt is None:
        return lambda c: isinstance(c, str) and cmp(c, q)

    def test(c: Any) -> bool:
        cdt = parse_datetime(c) if isinstance(c, str) else None
        return cdt is not None and cmp(cdt, qdt)

    return test


def _positive_test(op: str, value: Any) -> Test:
    if op == "~=":
        rx = re.compile(value)
        return lambda c: isinstance(c, str) and rx.search(c) is not None
    if op in _ORDER:
        return _order_test(op, value)
    if isinstance(value, Range):
        low, high = _order_test(">=", value.low), _order_test("<=", value.high)
        return lambda c: low(c) and high(c)
    if isinstance(value, tuple):
        tests = [_eq_test(v) for v in value]
        return lambda c: any(t(c) for t in tests)
    return _eq_test(value)


def _compile_comparison(cmp: Comparison) -> Callable[[Entity], bool]:
    resolve = compile_path(cmp.path)
    if cmp.op is None:
        return lambda e: bool(resolve(e))
    if cmp.op == "!":
        return lambda e: not resolve(e)
    negative = cmp.op in ("!=", "!~=")
    base = {"!=": "==", "!~=": "~="}.get(cmp.op, cmp.op)
    test = _positive_test(base, cmp.value)
    relationship_ok = base == "=="

    def predicate(entity: Entity) -> bool:
        for is_rel, values in resolve(entity):
            if is_rel and not relationship_ok:
                continue
            if any(test(c) for c in _candidates(values)) is not negative:
                return True
        return False

    return predicate


def compile_q(expr: QExpr) -> Callable[[Entity], bool]:
    """Compile a q AST into ``entity -> bool`` (regexes compiled once, here)."""
    if isinstance(expr, Comparison):
        return _compile_comparison(expr)
    parts = [compile_q(item) for item in expr.items]
    if isinstance(expr, And):
        return lambda e: all(p(e) for p in parts)
    assert isinstance(expr, Or)
    return lambda e: any(p(e) for p in parts)
