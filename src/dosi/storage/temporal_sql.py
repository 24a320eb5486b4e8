"""History tables and the SQL both backends share; each backend supplies a
``TemporalDialect`` (placeholders, time values, JSON access, period arithmetic).

Tables (DDL in ``SQLITE_DDL`` / ``POSTGRES_DDL``):

- ``temporal_entity(tid, tenant, id, types)``: one row per entity that ever had
  history; never deleted, so its ``tid`` is stable and history rows stay small.
- ``temporal_attr(aid, iri)``: attribute IRIs as small integers.
- ``attr_history``: one row per attribute instance: ``ts`` (observedAt, else deletedAt,
  else modifiedAt; the time index and, on PostgreSQL, the monthly partition key),
  the other times, ``num`` (numbers, for aggregations) and ``doc`` (the instance).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from dosi.errors import BadRequestDataError
from dosi.ngsild.entity import CONTENT_KEYS
from dosi.ngsild.temporal import TimeFilter
from dosi.storage.temporal_base import (
    AggregateQuery,
    AggregateSeries,
    HistoryQuery,
    StoredInstance,
)

SQLITE_DDL = """
CREATE TABLE IF NOT EXISTS temporal_entity (
  tid INTEGER PRIMARY KEY, tenant TEXT NOT NULL, id TEXT NOT NULL, types TEXT NOT NULL,
  UNIQUE (tenant, id)
);
CREATE TABLE IF NOT EXISTS temporal_attr (aid INTEGER PRIMARY KEY, iri TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS attr_history (
  hid INTEGER PRIMARY KEY,
  tid INTEGER NOT NULL, aid INTEGER NOT NULL, dataset TEXT NOT NULL, instance BLOB NOT NULL,
  ts INTEGER NOT NULL, observed_at INTEGER, created_at INTEGER NOT NULL,
  modified_at INTEGER, deleted_at INTEGER, num REAL, doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS attr_history_key ON attr_history (tid, aid, ts);
"""

POSTGRES_DDL = """
CREATE TABLE IF NOT EXISTS temporal_entity (
  tid bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  tenant text NOT NULL, id text NOT NULL COLLATE "C", types jsonb NOT NULL,
  UNIQUE (tenant, id)
);
CREATE TABLE IF NOT EXISTS temporal_attr (
  aid bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, iri text NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS attr_history (
  tid bigint NOT NULL, aid bigint NOT NULL, dataset text NOT NULL, instance uuid NOT NULL,
  ts timestamptz NOT NULL, observed_at timestamptz, created_at timestamptz NOT NULL,
  modified_at timestamptz, deleted_at timestamptz, num double precision,
  doc jsonb NOT NULL
) PARTITION BY RANGE (ts);
CREATE TABLE IF NOT EXISTS attr_history_default PARTITION OF attr_history DEFAULT;
CREATE INDEX IF NOT EXISTS attr_history_key ON attr_history (tid, aid, ts);
CREATE INDEX IF NOT EXISTS attr_history_time ON attr_history USING brin (ts)
  WITH (pages_per_range = 32);
CREATE TABLE IF NOT EXISTS attr_rollup_day (
  tid bigint NOT NULL, aid bigint NOT NULL, dataset text NOT NULL, day timestamptz NOT NULL,
  hour_ms int8[] NOT NULL, total int8[] NOT NULL, n int8[] NOT NULL, s float8[] NOT NULL,
  sq float8[] NOT NULL, mn float8[] NOT NULL, mx float8[] NOT NULL, av float8[] NOT NULL,
  PRIMARY KEY (tid, aid, dataset, day)
);
CREATE TABLE IF NOT EXISTS rollup_dirty (
  tid bigint NOT NULL, hour timestamptz NOT NULL, PRIMARY KEY (tid, hour)
);
CREATE TABLE IF NOT EXISTS temporal_meta (key text PRIMARY KEY, value bigint NOT NULL);
DO $$ BEGIN  -- databases made with hourly rollup rows: roll up again, by day
  IF to_regclass('attr_rollup') IS NOT NULL THEN
    DROP TABLE attr_rollup;
    DELETE FROM temporal_meta WHERE key = 'rollup_until';
    DELETE FROM rollup_dirty;
  END IF;
END $$;
DO $$ BEGIN  -- databases made before modified_at became optional
  IF EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = 'attr_history'::regclass
             AND attname = 'modified_at' AND attnotnull) THEN
    ALTER TABLE attr_history ALTER COLUMN modified_at DROP NOT NULL;
  END IF;
END $$;
"""

TIME_COLUMN = {
    "observedAt": "ts",
    "createdAt": "created_at",
    "modifiedAt": "coalesce(modified_at, created_at)",
    "deletedAt": "deleted_at",
}
COLUMNS = (
    "aid, dataset, instance, {t} AS t, observed_at, created_at, "
    "coalesce(modified_at, created_at) AS modified, deleted_at, doc"
)


@dataclass(frozen=True)
class TemporalDialect:
    """What differs between the backends' history SQL."""

    ph: str  # parameter placeholder
    time: Callable[[int], Any]  # epoch ms -> a parameter
    json_text: Callable[[str, str], str]  # (column, key) -> SQL of that member as text
    row_order: str  # tie-breaker column for stable order
    sqrt: str = "sqrt"
    greatest: str = "greatest"
    list_of: Callable[[str], str] = lambda x: f"array_agg({x} ORDER BY b)"  # per series
    loads_list: Callable[[Any], list[Any]] = list
    presort: bool = False  # list_of keeps input order: sort the input first


def aid_list(aids: Sequence[int]) -> str:
    return ",".join(str(int(a)) for a in aids)


def where(
    d: TemporalDialect,
    tids: Sequence[int],
    aids: Sequence[int] | None,
    datasets: frozenset[str] | None,
    time: TimeFilter,
) -> tuple[str, list[Any]]:
    """The WHERE clause of a history read (``aids`` None: every attribute)."""
    col = TIME_COLUMN[time.timeproperty]
    parts = [f"tid IN ({aid_list(tids)})" if len(tids) != 1 else f"tid = {int(tids[0])}"]
    params: list[Any] = []
    if aids is not None:
        parts.append(f"aid IN ({aid_list(aids)})" if aids else "0 = 1")
    if datasets is not None:
        parts.append(f"dataset IN ({','.join(d.ph for _ in datasets)})" if datasets else "0 = 1")
        params.extend(sorted(datasets))
    parts.append("deleted_at IS NOT NULL" if col == "deleted_at" else "deleted_at IS NULL")
    if time.timerel == "after":
        parts.append(f"{col} > {d.ph}")
        params.append(d.time(time.time_at or 0))
    elif time.timerel == "before":
        parts.append(f"{col} < {d.ph}")
        params.append(d.time(time.time_at or 0))
    elif time.timerel == "between":
        parts.append(f"{col} >= {d.ph} AND {col} < {d.ph}")
        params.extend([d.time(time.time_at or 0), d.time(time.end_time_at or 0)])
    return " AND ".join(parts), params


def history_sql(
    d: TemporalDialect, tid: int, aids: Sequence[int] | None, query: HistoryQuery
) -> tuple[str, list[Any]]:
    """One entity's instances: the first ``limit + 1`` in time order, or with ``lastN``
    the most recent N per (attribute, datasetId), most recent first."""
    cond, params = where(d, [tid], aids, query.datasets, query.time)
    t = TIME_COLUMN[query.time.timeproperty]
    cols = COLUMNS.format(t=t)
    if query.last_n is None:
        sql = (
            f"SELECT {cols} FROM attr_history WHERE {cond} "
            f"ORDER BY {t}, {d.row_order} LIMIT {int(query.limit) + 1}"
        )
        return sql, params
    sql = (
        f"SELECT aid, dataset, instance, t, observed_at, created_at, modified, "
        f"deleted_at, doc FROM (SELECT {cols}, {d.row_order} AS o, row_number() OVER "
        f"(PARTITION BY aid, dataset ORDER BY {t} DESC, {d.row_order} DESC) AS rn "
        f"FROM attr_history WHERE {cond}) x WHERE rn <= {int(query.last_n)} "
        f"ORDER BY t DESC, o DESC LIMIT {int(query.limit) + 1}"
    )
    return sql, params


def known_span(query: AggregateQuery) -> tuple[int, int] | None:
    """(origin, latest) when the query itself bounds it (no need to ask the database):
    a between query with its origin given."""
    tf = query.time
    if query.origin is not None and tf.timerel == "between" and tf.end_time_at is not None:
        return query.origin, tf.end_time_at - 1
    return None


def span_sql(
    d: TemporalDialect, tids: Sequence[int], aids: Sequence[int] | None, query: AggregateQuery
) -> tuple[str, list[Any]]:
    """The earliest and latest time of the instances an aggregation covers."""
    cond, params = where(d, tids, aids, query.datasets, query.time)
    t = TIME_COLUMN[query.time.timeproperty]
    return f"SELECT min({t}), max({t}) FROM attr_history WHERE {cond}", params


_NEEDS = {
    "totalCount": ("total",),
    "distinctCount": ("distinct",),
    "sum": ("n", "sum"),
    "avg": ("n", "sum"),
    "min": ("n", "min"),
    "max": ("n", "max"),
    "sumsq": ("n", "sumsq"),
    "stddev": ("n", "sum", "sumsq"),
}


def aggregate_columns(methods: Sequence[str]) -> list[str]:
    """The partial aggregates the methods need (each computed once)."""
    return list(dict.fromkeys(c for m in methods for c in _NEEDS[m]))


def aggregate_sql(
    d: TemporalDialect,
    tids: Sequence[int],
    aids: Sequence[int] | None,
    query: AggregateQuery,
    bucket: str,
    bucket_out: str = "b",
) -> tuple[str, list[Any]]:
    """Per (entity, attribute, datasetId, period) the methods' values, in period order;
    ``bucket`` is the SQL of the period. Everything is computed by the database."""
    cond, params = where(d, tids, aids, query.datasets, query.time)
    content = "coalesce(" + ", ".join(d.json_text("doc", k) for k in CONTENT_KEYS) + ")"
    expr = {
        "total": "count(*)",
        "distinct": f"count(DISTINCT {content})",
        "n": "count(num)",
        "sum": "sum(num)",
        "min": "min(num)",
        "max": "max(num)",
        "sumsq": "sum(num * num)",
    }
    cols = ", ".join(f"{expr[c]} AS {c}_" for c in aggregate_columns(query.methods))
    inner = (
        f"SELECT tid, aid, dataset, {bucket_out} AS b, {cols} FROM (SELECT tid, aid, dataset, "
        f"num, doc, {bucket} AS b FROM attr_history WHERE {cond}) h GROUP BY tid, aid, dataset, b"
    )
    return finish_sql(d, inner, query.methods), params


def method_sql(d: TemporalDialect, method: str) -> str:
    """SQL of one method's value from partial aggregates (columns ``total_``,
    ``distinct_``, ``n_``, ``sum_``, ``sumsq_``, ``min_``, ``max_``)."""
    if method == "stddev":
        var = "(sumsq_ - sum_ * sum_ / n_) / (n_ - 1)"
        return f"CASE WHEN n_ > 1 THEN {d.sqrt}({d.greatest}({var}, 0.0)) WHEN n_ = 1 THEN 0.0 END"
    return {
        "totalCount": "total_",
        "distinctCount": "distinct_",
        "sum": "sum_",
        "avg": "sum_ / nullif(n_, 0)",
        "min": "min_",
        "max": "max_",
        "sumsq": "sumsq_",
    }[method]


def method_values(method: str, part: dict[str, list[Any]]) -> list[Any]:
    """``method_sql`` in Python, element by element over lists of partial aggregates
    (keys ``total``, ``n``, ``sum``, ``sumsq``, ``min``, ``max``)."""
    if method == "avg":
        return [s / n if n else None for s, n in zip(part["sum"], part["n"], strict=True)]
    if method == "stddev":
        return [
            (max((q - s * s / n) / (n - 1), 0.0) ** 0.5 if n > 1 else 0.0) if n else None
            for n, s, q in zip(part["n"], part["sum"], part["sumsq"], strict=True)
        ]
    key = {"totalCount": "total", "sum": "sum", "min": "min", "max": "max", "sumsq": "sumsq"}
    return part[key[method]]


def finish_sql(d: TemporalDialect, partial: str, methods: Sequence[str]) -> str:
    """The methods' values from a query of partial aggregates (columns tid, aid,
    dataset, b and ``<name>_`` for each of ``aggregate_columns(methods)``): one row per
    series, periods and each method's values as lists (few rows, fast to move)."""
    values = ", ".join(d.list_of(method_sql(d, m)) for m in methods)
    source = (
        f"(SELECT * FROM ({partial}) q ORDER BY tid, aid, dataset, b)"
        if d.presort
        else f"({partial})"
    )
    return (
        f"SELECT tid, aid, dataset, {d.list_of('b')}, {values} FROM {source} p "
        f"GROUP BY tid, aid, dataset"
    )


def decode_row(
    row: Sequence[Any],
    attr_of: dict[int, str],
    to_ms: Callable[[Any], int],
    instance_uri: Callable[[Any], str],
    loads: Callable[[Any], Any],
) -> StoredInstance:
    """A ``history_sql`` row as a StoredInstance."""
    aid, dataset, inst, t, obs, created, modified, deleted, doc = row[:9]
    return StoredInstance(
        attr_of[aid],
        dataset,
        instance_uri(inst),
        to_ms(t),
        to_ms(obs) if obs is not None else None,
        to_ms(created),
        to_ms(modified),
        to_ms(deleted) if deleted is not None else None,
        loads(doc),
    )


def bucket_bounds(query: AggregateQuery, origin: int, latest: int) -> list[int] | None:
    """Period start times for calendar periods (months, years): from ``origin`` past
    ``latest``; None when periods are fixed lengths (computed arithmetically)."""
    period = query.period
    if period is None or not period.calendar:
        return None
    out = [origin]
    while out[-1] <= latest:
        if len(out) > 100_000:
            raise BadRequestDataError("aggrPeriodDuration is too short for this time range")
        out.append(period.add(origin, len(out)))
    return out


def assemble(
    d: TemporalDialect,
    rows: Sequence[Sequence[Any]],
    eid_of: dict[int, str],
    attr_of: dict[int, str],
    query: AggregateQuery,
    origin: int,
    latest: int,
    bounds: list[int] | None,
    starts_given: bool = False,
) -> dict[str, list[AggregateSeries]]:
    """``finish_sql`` rows as AggregateSeries per entity, with period bounds. A row's
    periods are period numbers, or with ``starts_given`` (fixed-length periods) the
    periods' start times (epoch ms)."""
    out: dict[str, list[AggregateSeries]] = {}
    period = query.period
    step = period.ms if period is not None else 0
    for row in rows:
        periods = d.loads_list(row[3])
        columns = [d.loads_list(c) for c in row[4:]]
        if d.presort and any(a > b for a, b in itertools.pairwise(periods)):
            order = sorted(range(len(periods)), key=periods.__getitem__)
            periods = [periods[i] for i in order]
            columns = [[c[i] for i in order] for c in columns]
        if period is None:
            starts, ends = [origin] * len(periods), [latest] * len(periods)
        elif bounds is not None:
            starts, ends = [bounds[i] for i in periods], [bounds[i + 1] for i in periods]
        else:
            starts = periods if starts_given else [origin + i * step for i in periods]
            ends = [t + step for t in starts]
        series = AggregateSeries(
            attr_of[row[1]], row[2], "Property", query.methods, starts, ends, columns
        )
        out.setdefault(eid_of[row[0]], []).append(series)
    return out
