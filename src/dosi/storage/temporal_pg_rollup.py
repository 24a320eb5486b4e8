"""Hourly rollups of numeric history on PostgreSQL: what makes aggregations over many
entities and long periods fast (``options=aggregatedValues``).

``attr_rollup`` (DDL with the history tables, ``temporal_sql``) holds, per (entity, attribute, datasetId, hour of observedAt), the count,
numeric count, sum, sum of squares, min and max. A background step (``maintain_history``)
rolls up every hour older than ``ROLLUP_DELAY`` and records how far it got (the
watermark). Instances that arrive later for an already rolled-up hour, or that are
edited or deleted there, mark that (entity, hour) dirty; the step recomputes dirty hours
from the raw rows. An aggregation whose periods are whole hours reads the rollup for
clean hours below the watermark and the raw rows for everything else, so answers are the
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
ROLLUP_DELAY = HOUR  # hours are rolled up once they are this far in the past
LATE = ROLLUP_DELAY - 10 * 60_000  # instances older than this mark their hour dirty
_ROLLUP_SELECT = (
    "SELECT tid, aid, dataset, date_trunc('hour', ts) AS hour, count(*), count(num), sum(num), "
    "sum(num * num), min(num), max(num) FROM attr_history WHERE deleted_at IS NULL AND {cond} "
    "GROUP BY 1, 2, 3, 4"
)
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
    """Capture: the (entity, hour) of late instances (parameters: tenant, ids, ts ms)."""
    return (
        "INSERT INTO rollup_dirty (tid, hour) SELECT DISTINCT te.tid, date_trunc('hour', "
        "'epoch'::timestamptz + v.ts * interval '1 millisecond') FROM unnest(%b::text[], "
        "%b::int8[]) AS v(eid, ts) JOIN temporal_entity te ON te.tenant = %s AND te.id = v.eid "
        "ON CONFLICT DO NOTHING"
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
                end = min(start + 24 * HOUR, target)
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
                await conn.execute("ANALYZE attr_rollup")

    @staticmethod
    async def _set_watermark(conn: psycopg.AsyncConnection[Any], value: int) -> None:
        await conn.execute(
            "INSERT INTO temporal_meta VALUES ('rollup_until', %s) ON CONFLICT (key) "
            "DO UPDATE SET value = EXCLUDED.value",
            (value,),
        )

    async def _roll(self, conn: psycopg.AsyncConnection[Any], start: int, end: int) -> None:
        async with conn.transaction():
            await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            lo, hi = dt(start), dt(end)
            await conn.execute("DELETE FROM attr_rollup WHERE hour >= %s AND hour < %s", (lo, hi))
            await conn.execute(
                "INSERT INTO attr_rollup " + _ROLLUP_SELECT.format(cond="ts >= %s AND ts < %s"),
                (lo, hi),
            )
            await conn.execute("DELETE FROM rollup_dirty WHERE hour >= %s AND hour < %s", (lo, hi))
            await self._set_watermark(conn, end)

    async def _clean(self, conn: psycopg.AsyncConnection[Any], below: int) -> bool:
        """Recompute one batch of dirty hours; False when none is left."""
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
                tids, hours = [d[0] for d in dirty], [d[1] for d in dirty]
                await conn.execute(
                    "DELETE FROM attr_rollup r USING unnest(%s::int8[], %s::timestamptz[]) "
                    "AS d(tid, hour) WHERE r.tid = d.tid AND r.hour = d.hour",
                    (tids, hours),
                )
                cond = (
                    "(tid, date_trunc('hour', ts)) IN (SELECT * FROM unnest(%s::int8[], "
                    "%s::timestamptz[])) AND ts >= %s AND ts < %s"
                )
                await conn.execute(
                    "INSERT INTO attr_rollup " + _ROLLUP_SELECT.format(cond=cond),
                    (tids, hours, min(hours), dt(ms_of(max(hours)) + HOUR)),
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
        if query.period.ms == HOUR and not (head or tail or dirty):
            # every period is one rollup row: no regrouping
            partial = (
                f"SELECT tid, aid, dataset, (extract(epoch FROM hour) * 1000)::bigint AS b, "
                f"{', '.join(f'{c} AS {c}_' for c in cols)} FROM attr_rollup WHERE {keys} "
                f"AND hour >= %s AND hour < %s"
            )
            sql = TS.finish_sql(DIALECT, partial, query.methods)
            return await (await conn.execute(sql, [*kparams, lo, hi])).fetchall()
        bin_ = f"date_bin('{int(query.period.ms)} milliseconds', {{t}}, %s::timestamptz)"
        cond, params = TS.where(DIALECT, tids, aids, query.datasets, tf)
        raw = (
            "tid, aid, dataset, {b} AS b, 1 AS total, (num IS NOT NULL)::int AS n, num AS s, "
            "num * num AS sq, num AS mn, num AS mx"
        )
        o = dt(origin)
        clean = (
            " AND NOT EXISTS (SELECT 1 FROM rollup_dirty d WHERE d.tid = r.tid AND d.hour = r.hour)"
            if dirty
            else ""
        )
        arms = [
            (
                f"SELECT tid, aid, dataset, {bin_.format(t='hour')} AS b, total, n, sum AS s, "
                f"sumsq AS sq, min AS mn, max AS mx FROM attr_rollup r WHERE {keys} "
                f"AND hour >= %s AND hour < %s{clean}"
            )
        ]
        all_params: list[Any] = [o, *kparams, lo, hi]
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
