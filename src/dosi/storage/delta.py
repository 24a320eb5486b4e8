"""From a write's net changes to table rows: what both backends insert, update and
delete, in bulk (every write route, through ``EntityStore.write``).

Side tables are only rewritten where an entity's indexed facts differ (a value update
touches its ``entity_attr`` rows only), and discovery counters (``attr_stats``) only
move when types, attributes or their kinds and instance counts change.

``attr_stats(tenant, type, attr, kinds, entities, instances)`` holds signed deltas,
insert-only (no hot counter rows for concurrent writers to queue on), summed by
discovery (GET /types, GET /attributes) and compacted now and then
(``statements.STATS_COMPACT``). Keys: (type, '', '') counts entities of a type;
(type, attr, kinds) the entities of that type with that attribute;
('', attr, kinds) the attribute over all types, with its instance count.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from dosi.storage.plan import Change
from dosi.storage.rows import IndexRows

SIDE_TABLES = ("entity_type", "entity_attr", "entity_scope", "entity_geo")
_FIELD = dict(zip(SIDE_TABLES, ("types", "attrs", "scopes", "geos")))

StatKey = tuple[str, str, str]  # (type, attr, kinds)


@dataclass
class Delta:
    """Entity rows to insert, update and delete; per side table the row ids whose rows
    go (``clear``) and the entities whose new rows come (``fill``: change, rows,
    tables); and the discovery counter deltas (``stats``)."""

    inserts: list[Change] = field(default_factory=list)
    updates: list[Change] = field(default_factory=list)
    deletes: list[Change] = field(default_factory=list)
    clear: dict[str, list[int]] = field(default_factory=lambda: {t: [] for t in SIDE_TABLES})
    fill: list[tuple[Change, IndexRows, tuple[str, ...]]] = field(default_factory=list)
    stats: dict[StatKey, list[int]] = field(default_factory=dict)

    def stat_rows(self, tenant: str) -> list[tuple[str, str, str, str, int, int]]:
        """Non-zero counter deltas as attr_stats rows."""
        return [(tenant, *key, e, i) for key, (e, i) in self.stats.items() if e or i]


def delta(changes: Sequence[Change]) -> Delta:
    """Sort changed entities into inserts, updates and deletes, with their side rows."""
    d = Delta()
    for ch in changes:
        if not ch.changed:
            continue
        old, new = ch.rows()
        _count(d.stats, old, new)
        if ch.after is None:
            if ch.rid is None:
                continue
            d.deletes.append(ch)
            for t in SIDE_TABLES:
                if getattr(old, _FIELD[t]):
                    d.clear[t].append(ch.rid)
            continue
        if ch.rid is None:
            d.inserts.append(ch)
            tables = tuple(t for t in SIDE_TABLES if getattr(new, _FIELD[t]))
        else:
            d.updates.append(ch)
            tables = tuple(
                t for t in SIDE_TABLES if getattr(old, _FIELD[t]) != getattr(new, _FIELD[t])
            )
            for t in tables:
                if getattr(old, _FIELD[t]):
                    d.clear[t].append(ch.rid)
        if tables:
            d.fill.append((ch, new, tables))
    return d


def _shape(rows: IndexRows) -> tuple[tuple[str, ...], tuple[tuple[str, str, int], ...]]:
    return rows.types, tuple((a.attr, a.kinds, a.n) for a in rows.attrs)


def _count(stats: dict[StatKey, list[int]], old: IndexRows, new: IndexRows) -> None:
    """Add new's discovery counters and subtract old's, if their shapes differ."""
    if _shape(old) == _shape(new):
        return
    for rows, sign in ((old, -1), (new, 1)):
        for attr, kinds, n in _shape(rows)[1]:
            _add(stats, ("", attr, kinds), sign, sign * n)
            for t in rows.types:
                _add(stats, (t, attr, kinds), sign, sign * n)
        for t in rows.types:
            _add(stats, (t, "", ""), sign, 0)


def _add(stats: dict[StatKey, list[int]], key: StatKey, entities: int, instances: int) -> None:
    acc = stats.get(key)
    if acc is None:
        stats[key] = [entities, instances]
    else:
        acc[0] += entities
        acc[1] += instances


def side_rows(
    tenant: str, d: Delta, rid_of: Callable[[Change], int]
) -> dict[str, list[tuple[Any, ...]]]:
    """Rows to insert per side table, in these column orders:
    entity_type (tenant, type, rid); entity_attr (tenant, attr, rid, kinds, n, num, txt,
    flags); entity_scope (tenant, scope, rid); entity_geo (tenant, attr, dataset, rid,
    geometry dict)."""
    out: dict[str, list[tuple[Any, ...]]] = {t: [] for t in SIDE_TABLES}
    for ch, rows, tables in d.fill:
        rid = rid_of(ch)
        for t in tables:
            if t == "entity_type":
                out[t].extend((tenant, ty, rid) for ty in rows.types)
            elif t == "entity_attr":
                out[t].extend(
                    (tenant, attr, rid, kinds, n, num, txt, flags)
                    for attr, kinds, n, num, txt, flags in rows.attrs
                )
            elif t == "entity_scope":
                out[t].extend((tenant, sc, rid) for sc in rows.scopes)
            else:
                out[t].extend((tenant, g.attr, g.dataset, rid, g.geometry) for g in rows.geos)
    return out
