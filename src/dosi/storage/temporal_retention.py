"""Retention SQL both backends share: which history rows a set of retention rules
expires (the most specific rule that matches an entity applies)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from dosi.storage.temporal_base import RetentionRule
from dosi.storage.temporal_sql import TemporalDialect


def rule_order(rules: Sequence[RetentionRule]) -> list[tuple[RetentionRule, list[RetentionRule]]]:
    """Each retention rule with the more specific rules whose entities it leaves alone
    (tenant and type > type > tenant > neither)."""

    def rank(r: RetentionRule) -> int:
        return (2 if r.type else 0) + (1 if r.tenant else 0) + (1 if r.tenant and r.type else 0)

    return [(r, [o for o in rules if rank(o) > rank(r)]) for r in rules]


def rule_match(
    d: TemporalDialect, rule: RetentionRule, types_has: Callable[[str], str]
) -> tuple[str, list[Any]]:
    """SQL over ``temporal_entity`` (no alias) true for the entities a rule covers."""
    parts, params = ["1 = 1"], []
    if rule.tenant is not None:
        parts.append(f"tenant = {d.ph}")
        params.append(rule.tenant)
    if rule.type is not None:
        parts.append(types_has(d.ph))
        params.append(rule.type)
    return " AND ".join(parts), params


def rule_entities(
    d: TemporalDialect,
    rule: RetentionRule,
    others: Sequence[RetentionRule],
    types_has: Callable[[str], str],
) -> tuple[str, list[Any]]:
    """SQL on ``tid``: the entities a rule covers and no more specific rule does."""
    sql, out = "1 = 1", []
    if rule.tenant is not None or rule.type is not None:
        m, params = rule_match(d, rule, types_has)
        sql += f" AND tid IN (SELECT tid FROM temporal_entity WHERE {m})"
        out += params
    for o in others:
        om, oparams = rule_match(d, o, types_has)
        sql += f" AND tid NOT IN (SELECT tid FROM temporal_entity WHERE {om})"
        out += oparams
    return sql, out


def retention_where(
    d: TemporalDialect,
    rule: RetentionRule,
    others: Sequence[RetentionRule],
    cutoff: Any,
    types_has: Callable[[str], str],
    col: str = "ts",
) -> tuple[str, list[Any]]:
    """History rows a rule expires: older than its cutoff, of entities it covers and
    no more specific rule does."""
    cond, params = rule_entities(d, rule, others, types_has)
    return f"{col} < {d.ph} AND {cond}", [cutoff, *params]
