"""Hourly rollups of numeric history on PostgreSQL: what makes aggregations over many
entities and long periods fast (``options=aggregatedValues``).

``attr_rollup_day`` (DDL with the history tables, ``temporal_sql``) holds one row per
(entity, attribute, datasetId, UTC day of observedAt) with, as arrays over the hours of
that day that have instances, the count, numeric count, sum, sum of squares, min and
max: a 30-day hourly query over 1,000 series reads 30,000 rows, not 720,000. A
background step (``maintain_history``) rolls up every hour older than ``ROLLUP_DELAY``
(appending to the day's row) and records how far it got (the watermark). Instances
that arrive later for an already rolled-up hour, or that are edited or deleted there,
mark that (entity, hour) dirty; the step recomputes the days of dirty hours from the
raw rows. An aggregation whose periods are whole hours reads the rollups for clean
hours below the watermark and the raw rows for everything else, so answers are the
same as from raw rows alone, only faster. distinctCount always reads raw rows.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from dosi.storage import temporal_sql as TS
from dosi.storage.temporal_base import AggregateQuery
from dosi.storage.temporal_pg_partitions import DIALECT, dt, ms_of

log = logging.getLogger(__name__)
HOUR = 3_600_000
DAY = 24 * HOUR
ROLLUP_DELAY = HOUR  # hours are rolled up once they are this far in the past
LATE = ROLLUP_DELAY - 10 * 60_000  # instances older than this mark their hour dirty
EPOCH = "TIMESTAMPTZ '1970-01-01 00:00:00+00'"
_ARRAYS = ("total", "n", "s", "sq", "mn", "mx", "av")
_ROLLUP_SELECT = (
    "SELECT tid, aid, dataset, day, array_agg(h ORDER BY h), "
    + ", ".join(f"array_agg({c} ORDER BY h)" for c in _ARRAYS)
    + f" FROM (SELECT tid, aid, dataset, date_bin('1 day', hour, {EPOCH}) AS day, "
    "(extract(epoch FROM hour) * 1000)::bigint AS h, "
    "total, n, s, sq, mn, mx, s / nullif(n, 0) AS av FROM (SELECT tid, aid, dataset, "
    f"date_bin('1 hour', ts, {EPOCH}) AS hour, count(*) AS total, count(num) AS n, "
    "sum(num) AS s, sum(num * num) AS sq, min(num) AS mn, max(num) AS mx FROM attr_history "
    "WHERE deleted_at IS NULL AND {cond} GROUP BY 1, 2, 3, 4) x) y "
    "GROUP BY tid, aid, dataset, day"
)
_INSERT = (
    "INSERT INTO attr_rollup_day (tid, aid, dataset, day, hour_ms, total, n, s, sq, mn, mx, av) "
)
_APPEND = " ON CONFLICT (tid, aid, dataset, day) DO UPDATE SET " + ", ".join(
    f"{c} = attr_rollup_day.{c} || EXCLUDED.{c}" for c in ("hour_ms", *_ARRAYS)
)
_UNNEST = (
    "unnest(r.hour_ms, r.total, r.n, r.s, r.sq, r.mn, r.mx) AS u(h, total_, n_, s_, sq_, mn_, mx_)"
)
_ARRAY_OF = {"total": "total", "n": "n", "sum": "s", "sumsq": "sq", "min": "mn", "max": "mx"}
_OUTER = {
    "total": "sum(total)::bigint",
    "distinct": "NULL",
    "n": "sum(n)::bigint",
    "sum": "sum(s)",
    "min": "min(mn)",
    "max": "max(mx)",
    "sumsq": "sum(sq)",
}


def mark_dirty_sql() -> str:
    """Capture: the (entity, hour) of late instances (parameters: tids, ts ms)."""
    return (
        "INSERT INTO rollup_dirty (tid, hour) SELECT DISTINCT v.tid, date_bin('1 hour', "
        f"{EPOCH} + v.ts * interval '1 millisecond', {EPOCH}) FROM unnest(%b::int8[], "
        "%b::int8[]) AS v(tid, ts) ON CONFLICT DO NOTHING"
    )


def usable(query: AggregateQuery, origin: int) -> bool:
    """Whether the rollups can answer (part of) this aggregation."""
    p = query.period
    return (
        query.time.timeproperty == "observedAt"
        and "distinctCount" not in query.methods
        and p is not None
        and not p.calendar
        and p.ms % HOUR == 0
        and origin % HOUR == 0
    )


class PgRollups:
    """Rollup upkeep and rollup-assisted aggregation of ``PostgresStore``."""

    _pool: AsyncConnectionPool

    async def _watermark(self, conn: psycopg.AsyncConnection[Any]) -> int | None:
        cur = await conn.execute("SELECT value FROM temporal_meta WHERE key = 'rollup_until'")
        row = await cur.fetchone()
        return int(row[0]) if row else None

    async def maintain_history(self, now: int) -> None:
        """Roll up the hours that closed since the last run, then the dirty hours."""
        target = (now - ROLLUP_DELAY) // HOUR * HOUR
        async with self._pool.connection() as conn:
            start = await self._watermark(conn)
            if start is None:
                row = await (await conn.execute("SELECT min(ts) FROM attr_history")).fetchone()
                start = ms_of(row[0]) // HOUR * HOUR if row and row[0] else target
            rolled, did_roll = start, False
            while start < target:
                end = min((start // DAY + 1) * DAY, target)  # within one day
                cur = await conn.execute(
                    "SELECT EXISTS (SELECT 1 FROM attr_history WHERE ts >= %s AND ts < %s)",
                    (dt(start), dt(end)),
                )
                row = await cur.fetchone()
                if row and row[0]:  # (empty days are skipped: the BRIN index says so)
                    try:
                        await self._roll(conn, start, end)
                    except psycopg.errors.SerializationFailure:
                        return  # a concurrent late write: next run
                    rolled, did_roll = end, True
                start = end
            if rolled < target:
                await self._set_watermark(conn, target)
            while await self._clean(conn, target):
                pass
            if did_roll:  # planner statistics for the rollup-assisted aggregations
                await conn.execute("ANALYZE attr_rollup_day")

    @staticmethod
    async def _set_watermark(conn: psycopg.AsyncConnection[Any], value: int) -> None:
        await conn.execute(
            "INSERT INTO temporal_meta VALUES ('rollup_until', %s) ON CONFLICT (key) "
            "DO UPDATE SET value = EXCLUDED.value",
            (value,),
        )

    async def _roll(self, conn: psycopg.AsyncConnection[Any], start: int, end: int) -> None:
        """Roll up the hours [start, end) of one day: appended to the day's rows."""
        async with conn.transaction():
            await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            lo, hi = dt(start), dt(end)
            await conn.execute("DELETE FROM attr_rollup_day WHERE day >= %s AND day < %s", (lo, hi))
            await conn.execute(
                _INSERT + _ROLLUP_SELECT.format(cond="ts >= %s AND ts < %s") + _APPEND,
                (lo, hi),
            )
            await conn.execute("DELETE FROM rollup_dirty WHERE hour >= %s AND hour < %s", (lo, hi))
            await self._set_watermark(conn, end)

    async def _clean(self, conn: psycopg.AsyncConnection[Any], below: int) -> bool:
        """Recompute the days of one batch of dirty hours (up to the watermark,
        ``below``); False when none is left."""
        try:
            async with conn.transaction():
                await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                cur = await conn.execute(
                    "DELETE FROM rollup_dirty WHERE (tid, hour) IN (SELECT tid, hour FROM "
                    "rollup_dirty WHERE hour < %s LIMIT 2000) RETURNING tid, hour",
                    (dt(below),),
                )
                dirty = await cur.fetchall()
                if not dirty:
                    return False
                days = sorted({(d[0], ms_of(d[1]) // DAY * DAY) for d in dirty})
                tids, starts = [d[0] for d in days], [dt(d[1]) for d in days]
                await conn.execute(
                    "DELETE FROM attr_rollup_day r USING unnest(%s::int8[], %s::timestamptz[]) "
                    "AS d(tid, day) WHERE r.tid = d.tid AND r.day = d.day",
                    (tids, starts),
                )
                cond = (
                    f"(tid, date_bin('1 day', ts, {EPOCH})) IN (SELECT * FROM "
                    "unnest(%s::int8[], %s::timestamptz[])) AND ts >= %s AND ts < %s"
                )
                hi = min(max(d[1] for d in days) + DAY, below)
                await conn.execute(
                    _INSERT + _ROLLUP_SELECT.format(cond=cond),
                    (tids, starts, min(starts), dt(hi)),
                )
        except psycopg.errors.SerializationFailure:
            return False
        return True

    async def _rollup_rows(
        self,
        conn: psycopg.AsyncConnection[Any],
        tids: Sequence[int],
        aids: Sequence[int] | None,
        query: AggregateQuery,
        origin: int,
    ) -> list[Any] | None:
        """``aggregate_sql``-shaped rows (period start in epoch ms) from rollups plus raw
        rows, or None when the rollups cannot help (the caller reads raw rows only)."""
        w = await self._watermark(conn)
        tf = query.time
        lower, upper = tf.time_at, tf.end_time_at if tf.timerel == "between" else None
        if tf.timerel == "before":
            lower, upper = None, tf.time_at
        r_lo = origin if lower is None else -(-(lower + (tf.timerel == "after")) // HOUR) * HOUR
        r_hi = min(w or 0, upper // HOUR * HOUR if upper is not None else w or 0)
        if w is None or r_hi <= r_lo or not usable(query, origin):
            return None
        assert query.period is not None
        cur = await conn.execute(
            "SELECT EXISTS (SELECT 1 FROM rollup_dirty WHERE hour >= %s AND hour < %s)",
            (dt(r_lo), dt(r_hi)),
        )
        row = await cur.fetchone()
        dirty = bool(row and row[0])
        head = lower is not None and (r_lo > lower or tf.timerel == "after")
        tail = upper is None or r_hi < upper
        cols = TS.aggregate_columns(query.methods)
        keys, kparams = _keys(tids, aids, query.datasets)
        lo, hi = dt(r_lo), dt(r_hi)
        await conn.execute("SET LOCAL work_mem = '128MB'")
        day_lo = dt(r_lo // DAY * DAY)
        if query.period.ms == HOUR and not (head or tail or dirty):
            return await _hourly(conn, keys, kparams, query.methods, r_lo, r_hi, day_lo)
        bin_ = f"date_bin('{int(query.period.ms)} milliseconds', {{t}}, %s::timestamptz)"
        cond, params = TS.where(DIALECT, tids, aids, query.datasets, tf)
        raw = (
            "tid, aid, dataset, {b} AS b, 1 AS total, (num IS NOT NULL)::int AS n, num AS s, "
            "num * num AS sq, num AS mn, num AS mx"
        )
        o = dt(origin)
        clean = (
            " AND NOT EXISTS (SELECT 1 FROM rollup_dirty d WHERE d.tid = r.tid AND d.hour = x.hour)"
            if dirty
            else ""
        )
        arms = [
            (
                f"SELECT tid, aid, dataset, {bin_.format(t='x.hour')} AS b, total_ AS total, "
                "n_ AS n, s_ AS s, sq_ AS sq, mn_ AS mn, mx_ AS mx FROM attr_rollup_day r, "
                f"LATERAL (SELECT {EPOCH} + u.h * interval '1 millisecond' AS hour, total_, n_, s_, sq_, "
                f"mn_, mx_ FROM {_UNNEST}) x WHERE {keys} AND r.day >= %s AND r.day < %s "
                f"AND x.hour >= %s AND x.hour < %s{clean}"
            )
        ]
        all_params: list[Any] = [o, *kparams, day_lo, hi, lo, hi]
        if head:
            arms.append(
                f"SELECT {raw.format(b=bin_.format(t='ts'))} FROM attr_history "
                f"WHERE {cond} AND ts < %s"
            )
            all_params += [o, *params, lo]
        if tail:
            arms.append(
                f"SELECT {raw.format(b=bin_.format(t='ts'))} FROM attr_history "
                f"WHERE {cond} AND ts >= %s"
            )
            all_params += [o, *params, hi]
        if dirty:
            arms.append(
                f"SELECT {raw.format(b=bin_.format(t='ts'))} FROM attr_history JOIN "
                f"rollup_dirty d USING (tid) WHERE {cond} AND ts >= d.hour AND "
                f"ts < d.hour + interval '1 hour' AND d.hour >= %s AND d.hour < %s"
            )
            all_params += [o, *params, lo, hi]
        outer = ", ".join(f"{_OUTER[c]} AS {c}_" for c in cols)
        partial = (
            f"SELECT tid, aid, dataset, (extract(epoch FROM x.b) * 1000)::bigint AS b, {outer} "
            f"FROM ({' UNION ALL '.join(arms)}) x GROUP BY tid, aid, dataset, x.b"
        )
        sql = TS.finish_sql(DIALECT, partial, query.methods)
        return await (await conn.execute(sql, all_params)).fetchall()


async def _hourly(
    conn: psycopg.AsyncConnection[Any],
    keys: str,
    kparams: list[Any],
    methods: Sequence[str],
    r_lo: int,
    r_hi: int,
    day_lo: Any,
) -> list[Any]:
    """Hourly periods over clean rolled-up hours: each period is one element of a day
    row's arrays, so the answer is those arrays (cut to [r_lo, r_hi)), joined into one
    row per series (``finish_sql``'s shape, period starts in ms). The few arrays are
    moved as they are; the methods' values are computed from them here
    (``method_values``): unnesting 30,000 rows in SQL would cost more."""
    cols = TS.aggregate_columns([m for m in methods if m != "avg"])
    arrays_sql = ", ".join(["av", *(_ARRAY_OF[c] for c in cols)])
    sql = (
        "SELECT tid, aid, dataset, (extract(epoch FROM day) * 1000)::bigint, CASE WHEN "
        f"cardinality(hour_ms) < 24 THEN hour_ms END, {arrays_sql} FROM attr_rollup_day "
        f"WHERE {keys} AND day >= %s AND day < %s ORDER BY tid, aid, dataset, day"
    )
    rows = await (await conn.execute(sql, [*kparams, day_lo, dt(r_hi)])).fetchall()
    out: list[list[Any]] = []
    for tid, aid, dataset, day, some, av, *arrays in rows:
        starts = some if some is not None else list(range(day, day + DAY, HOUR))
        if day < r_lo or day + DAY > r_hi:  # a day the query's bounds cut
            keep = [i for i, t in enumerate(starts) if r_lo <= t < r_hi]
            starts = [starts[i] for i in keep]
            av, arrays = [av[i] for i in keep], [[a[i] for i in keep] for a in arrays]
            if not starts:
                continue
        part = dict(zip(cols, arrays, strict=True))
        values = [av if m == "avg" else TS.method_values(m, part) for m in methods]
        last = out[-1] if out else None
        if last is not None and last[0] == tid and last[1] == aid and last[2] == dataset:
            last[3].extend(starts)
            for dest, v in zip(last[4:], values, strict=True):
                dest.extend(v)
        else:
            out.append([tid, aid, dataset, starts, *(list(v) for v in values)])
    return out


def _keys(
    tids: Sequence[int], aids: Sequence[int] | None, datasets: frozenset[str] | None
) -> tuple[str, list[Any]]:
    parts = [f"tid IN ({TS.aid_list(tids)})"]
    params: list[Any] = []
    if aids is not None:
        parts.append(f"aid IN ({TS.aid_list(aids)})" if aids else "0 = 1")
    if datasets is not None:
        parts.append(f"dataset IN ({','.join('%s' for _ in datasets)})" if datasets else "0 = 1")
        params.extend(sorted(datasets))
    return " AND ".join(parts), params
