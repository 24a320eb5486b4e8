"""Monthly partitions of ``attr_history`` on PostgreSQL, and retention.

``attr_history`` is range-partitioned on ``ts`` by calendar month (UTC), with a DEFAULT
partition so an insert never fails. Months around now are created at start-up; a
temporal API write creates the months it needs before its transaction
(``prepare_history``); rows that still land in the default partition (a late
observation through the core API) are moved into a new month partition by a background
step after that write commits. Retention drops whole month partitions when every rule
allows it, and deletes in batches otherwise.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from dosi.storage import temporal_retention as TR
from dosi.storage import temporal_sql as TS
from dosi.storage.temporal_base import RetentionRule

_LOCK = 0x64687374  # 'dhst': serialises partition changes across processes
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


_MS = timedelta(milliseconds=1)


def dt(ms: int) -> datetime:
    """Epoch ms as a timestamptz parameter."""
    return EPOCH + ms * _MS


def ms_of(value: datetime) -> int:
    return (value - EPOCH) // _MS


def _types_has(ph: str) -> str:
    return f"types ? {ph}"


DIALECT = TS.TemporalDialect(
    ph="%s",
    time=dt,
    json_text=lambda col, key: f"({col}->>'{key}')",
    row_order="instance",
)


def month_of(ms: int) -> tuple[int, int]:
    d = dt(ms)
    return d.year, d.month


def _month_bounds(year: int, month: int) -> tuple[datetime, datetime]:
    lo = datetime(year, month, 1, tzinfo=UTC)
    hi = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
    return lo, hi


class PgHistoryPartitions:
    """Partition upkeep and retention of ``PostgresStore``'s history."""

    _pool: AsyncConnectionPool
    _months: set[int]
    _maintenance: set[asyncio.Task[None]]

    async def _existing_months(self, conn: psycopg.AsyncConnection[Any]) -> set[int]:
        cur = await conn.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = 'attr_history'::regclass"
        )
        out = set()
        for (name,) in await cur.fetchall():
            if name.startswith("attr_history_p") and name[14:].isdigit():
                y, m = int(name[14:18]), int(name[18:20])
                out.add(y * 12 + m - 1)
        return out

    async def _ensure_months(self, months: set[int]) -> None:
        """Create month partitions, moving any rows of those months out of the default."""
        async with self._pool.connection() as conn:
            self._months |= await self._existing_months(conn)
            for key in sorted(months - self._months):
                y, m = divmod(key, 12)
                name = f"attr_history_p{y:04d}{m + 1:02d}"
                lo, hi = _month_bounds(y, m + 1)
                async with conn.transaction():
                    await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK,))
                    await conn.execute("LOCK TABLE attr_history_default IN ACCESS EXCLUSIVE MODE")
                    if key in await self._existing_months(conn):
                        self._months.add(key)
                        continue
                    await conn.execute(
                        f"CREATE TABLE {name} (LIKE attr_history INCLUDING DEFAULTS)"
                    )
                    await conn.execute(
                        f"WITH moved AS (DELETE FROM attr_history_default WHERE ts >= %s "
                        f"AND ts < %s RETURNING *) INSERT INTO {name} SELECT * FROM moved",
                        (lo, hi),
                    )
                    await conn.execute(
                        f"ALTER TABLE attr_history ATTACH PARTITION {name} FOR VALUES "
                        f"FROM ('{lo.isoformat()}') TO ('{hi.isoformat()}')"
                    )
                self._months.add(key)

    async def prepare_history(self, times: Sequence[int]) -> None:
        """Before a temporal API write: the month partitions its instances need."""
        months = {y * 12 + m - 1 for y, m in (month_of(t) for t in times)}
        if months - self._months:
            await self._ensure_months(months)

    async def _prepare_now(self) -> None:
        now = int(time.time() * 1000)
        y, m = month_of(now)
        key = y * 12 + m - 1
        await self._ensure_months({key - 1, key, key + 1})

    async def enforce_retention(self, rules: Sequence[RetentionRule], now: int, batch: int) -> int:
        """Drop month partitions older than every rule allows, then batched deletes."""
        total = 0
        if rules and any(r.tenant is None and r.type is None for r in rules):
            cutoff = now - max(r.keep_ms for r in rules)
            async with self._pool.connection() as conn:
                for key in sorted(await self._existing_months(conn)):
                    y, m = divmod(key, 12)
                    _, hi = _month_bounds(y, m + 1)
                    if ms_of(hi) > cutoff:
                        continue
                    name = f"attr_history_p{y:04d}{m + 1:02d}"
                    async with conn.transaction():
                        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK,))
                        n = await (await conn.execute(f"SELECT count(*) FROM {name}")).fetchone()
                        await conn.execute(f"DROP TABLE {name}")
                        await conn.execute("DELETE FROM attr_rollup_day WHERE day < %s", (hi,))
                    total += int(n[0]) if n else 0
                    self._months.discard(key)
        for rule, others in TR.rule_order(rules):
            cond, params = TR.retention_where(
                DIALECT, rule, others, dt(now - rule.keep_ms), _types_has
            )
            sql = (
                f"DELETE FROM attr_history WHERE (tableoid, ctid) IN (SELECT tableoid, ctid "
                f"FROM attr_history WHERE {cond} LIMIT {int(batch)})"
            )
            while True:
                async with self._pool.connection() as conn:
                    n = (await conn.execute(sql, params)).rowcount
                total += n
                if n < batch:
                    break
            await self._expire_rollups(rule, others, now - rule.keep_ms)
        return total

    async def _expire_rollups(
        self, rule: RetentionRule, others: Sequence[RetentionRule], cutoff: int
    ) -> None:
        """Rollup days wholly past retention go; the hours of the day the cutoff cuts
        are recomputed."""
        hour = cutoff // 3_600_000 * 3_600_000
        # a day row [day, day + 24 h) is wholly before ``hour`` when day < hour - 23 h
        cond, params = TR.retention_where(
            DIALECT, rule, others, dt(hour - 23 * 3_600_000), _types_has, "day"
        )
        async with self._pool.connection() as conn, conn.transaction():
            await conn.execute(f"DELETE FROM attr_rollup_day WHERE {cond}", params)
            cond, params = TR.retention_where(
                DIALECT, rule, others, dt(hour + 3_600_000), _types_has, "day"
            )
            await conn.execute(
                "INSERT INTO rollup_dirty SELECT DISTINCT tid, 'epoch'::timestamptz + h * "
                "interval '1 millisecond' "
                f"FROM attr_rollup_day, unnest(hour_ms) AS h WHERE {cond} ON CONFLICT DO NOTHING",
                params,
            )
