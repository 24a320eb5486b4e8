"""SQL statements both backends run as written (``?`` placeholders, converted by
``Dialect.sql``): discovery (GET /types, GET /attributes), the per-query attribute probe
of ``dosi.storage.sql``, and the @context store (/jsonldContexts)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from dosi.storage.base import AttributeInfo, TypeInfo
from dosi.storage.sql import AttrFacts, Dialect

# --- discovery (GET /types, GET /attributes): sums of attr_stats (dosi.storage.delta) ---

STATS_SUM = (
    "SELECT type, attr, kinds, sum(entities), sum(instances) FROM attr_stats "
    "WHERE tenant = ? GROUP BY type, attr, kinds HAVING sum(entities) <> 0"
)
STATS_INSERT = "INSERT INTO attr_stats VALUES (?, ?, ?, ?, ?, ?)"
# counters of entities about to be purged, from their side rows ({victims}: row ids)
STATS_PURGE = (
    (
        "INSERT INTO attr_stats SELECT tt.tenant, tt.type, '', '', -count(*), 0 "
        "FROM {types} tt WHERE tt.rid IN ({victims}) GROUP BY tt.tenant, tt.type"
    ),
    (
        "INSERT INTO attr_stats SELECT tt.tenant, tt.type, a.attr, a.kinds, -count(*), "
        "-sum(a.n) FROM {types} tt JOIN entity_attr a ON a.rid = tt.rid "
        "WHERE tt.rid IN ({victims}) GROUP BY tt.tenant, tt.type, a.attr, a.kinds"
    ),
    (
        "INSERT INTO attr_stats SELECT a.tenant, '', a.attr, a.kinds, -count(*), -sum(a.n) "
        "FROM entity_attr a WHERE a.rid IN ({victims}) GROUP BY a.tenant, a.attr, a.kinds"
    ),
)
STATS_COMPACT_EVERY = 2_000  # counter rows a process adds to a tenant between compactions
STATS_AGGREGATE = (
    "SELECT tenant, type, attr, kinds, sum(entities), sum(instances) FROM {source} "
    "GROUP BY tenant, type, attr, kinds HAVING sum(entities) <> 0 OR sum(instances) <> 0"
)


def stats_purge(dialect: Dialect, victims: str) -> list[str]:
    """The three counter statements for a purge whose row ids ``victims`` selects."""
    return [dialect.sql(s.format(types=dialect.type_rows, victims=victims)) for s in STATS_PURGE]


def type_infos(rows: Iterable[Sequence[Any]]) -> list[TypeInfo]:
    """TypeInfo objects from the rows of STATS_SUM."""
    out: dict[str, TypeInfo] = {}
    for t, attr, kinds, entities, _ in rows:
        if not t:
            continue
        info = out.setdefault(t, TypeInfo(t, 0, {}))
        if attr:
            info.attributes.setdefault(attr, set()).update(kinds.split(","))
        else:
            info.entity_count = int(entities)
    return [i for i in out.values() if i.entity_count > 0]


def attribute_infos(rows: Iterable[Sequence[Any]]) -> list[AttributeInfo]:
    """AttributeInfo objects from the rows of STATS_SUM."""
    out: dict[str, AttributeInfo] = {}
    for t, attr, kinds, _, instances in rows:
        if not attr:
            continue
        info = out.setdefault(attr, AttributeInfo(attr, set(), set(), 0))
        if t:
            info.type_names.add(t)
        else:
            info.attribute_types.update(kinds.split(","))
            info.count += int(instances)
    return list(out.values())


_PROBE_ONE = (
    "SELECT CAST(? AS text), "
    "EXISTS (SELECT 1 FROM entity_attr WHERE tenant = ? AND attr = ? AND flags <> 0 "
    "AND flags IN (1, 3)), "
    "EXISTS (SELECT 1 FROM entity_attr WHERE tenant = ? AND attr = ? AND flags <> 0 "
    "AND flags IN (2, 3))"
)


def probe(dialect: Dialect, tenant: str, attrs: set[str]) -> tuple[str, list[Any]]:
    """SQL giving (attr, opaque, relational) for each of ``attrs``: two index seeks
    each, whatever the number of entities (``rows.OPAQUE``, ``rows.RELATIONSHIP``)."""
    params: list[Any] = []
    for a in sorted(attrs):
        params.extend((a, tenant, a, tenant, a))
    return dialect.sql(" UNION ALL ".join([_PROBE_ONE] * len(attrs))), params


def facts_from(rows: list[tuple[Any, ...]]) -> AttrFacts:
    return AttrFacts(frozenset(r[0] for r in rows if r[1]), frozenset(r[0] for r in rows if r[2]))


# --- @contexts (/jsonldContexts): the same statements on both backends ---

CONTEXT_COLUMNS = "id, url, kind, body, created_at, last_used_at, hits"
CONTEXT_DROP_URL = "DELETE FROM context WHERE url = ? AND id <> ?"
CONTEXT_UPSERT = (
    "INSERT INTO context (id, url, kind, body, created_at, hits) VALUES (?, ?, ?, ?, ?, 0) "
    "ON CONFLICT (id) DO UPDATE SET url = excluded.url, kind = excluded.kind, "
    "body = excluded.body"
)
CONTEXT_GET = (
    f"SELECT {CONTEXT_COLUMNS} FROM context WHERE id = ? OR url = ? ORDER BY (id = ?) DESC LIMIT 1"
)
CONTEXT_LIST = f"SELECT {CONTEXT_COLUMNS} FROM context"
CONTEXT_DELETE = "DELETE FROM context WHERE id = ? OR url = ?"
CONTEXT_TOUCH = "UPDATE context SET hits = hits + 1, last_used_at = ? WHERE id = ? OR url = ?"


def context_record(row: tuple[Any, ...], body: Any) -> dict[str, Any]:
    """A context row as the record ``ContextStore.get_context`` returns."""
    return {
        "id": row[0],
        "url": row[1],
        "kind": row[2],
        "body": body,
        "createdAt": row[4],
        "lastUsedAt": row[5],
        "numberOfHits": row[6],
    }
