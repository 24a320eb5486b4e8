"""History on PostgreSQL: ``TemporalStore`` for ``PostgresStore`` (a mixin) and the
capture step run inside each write transaction. Time partitions and retention:
``temporal_pg_partitions``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from typing import Any

import psycopg

from dosi.storage import temporal_sql as TS
from dosi.storage.base import OpResult, WriteOp
from dosi.storage.history import HistoryPolicy, instance_uri, parse_instance_uri
from dosi.storage.plan import Change
from dosi.storage.temporal_base import (
    AggregateQuery,
    AggregateSeries,
    EntityHistory,
    HistoryQuery,
    StoredInstance,
)
from dosi.storage.temporal_pg_capture import KnownIds, capture_history
from dosi.storage.temporal_pg_partitions import DIALECT, PgHistoryPartitions, dt, ms_of
from dosi.storage.temporal_pg_rollup import PgRollups

log = logging.getLogger(__name__)


class PostgresTemporal(PgHistoryPartitions, PgRollups):
    """``TemporalStore`` methods and partition upkeep of ``PostgresStore``."""

    history_policy: HistoryPolicy = HistoryPolicy()

    def _init_temporal(self, policy: HistoryPolicy | None) -> None:
        self.history_policy = policy or HistoryPolicy()
        self._months = set()
        self._maintenance = set()
        self._known_ids = KnownIds()

    async def _capture(
        self,
        conn: psycopg.AsyncConnection[Any],
        tenant: str,
        ops: Sequence[WriteOp],
        results: Sequence[OpResult],
        changes: Sequence[Change],
    ) -> KnownIds:
        """The write path's history step; unseen months get a partition afterwards.
        Returns the ids learnt, for ``KnownIds.learn`` once the transaction committed."""
        months, learnt = await capture_history(
            conn, tenant, self.history_policy, ops, results, changes, self._known_ids
        )
        missing = months - self._months
        if missing:
            task = asyncio.create_task(self._ensure_months(missing))
            self._maintenance.add(task)
            task.add_done_callback(self._maintenance.discard)
        return learnt

    async def _close_temporal(self) -> None:
        for task in list(self._maintenance):
            try:
                await task
            except Exception:
                log.exception("partition maintenance failed")

    # --- reads ---

    async def _lookup(
        self,
        conn: psycopg.AsyncConnection[Any],
        tenant: str,
        entity_ids: Sequence[str],
        attrs: Sequence[str] | None,
    ) -> tuple[dict[str, tuple[int, list[str]]], list[int] | None, dict[int, str]]:
        cur = await conn.execute(
            "SELECT id, tid, types FROM temporal_entity WHERE tenant = %s AND id = ANY(%s)",
            (tenant, list(entity_ids)),
        )
        tids = {eid: (tid, types) for eid, tid, types in await cur.fetchall()}
        if attrs is None:
            cur = await conn.execute("SELECT aid, iri FROM temporal_attr")
        else:
            cur = await conn.execute(
                "SELECT aid, iri FROM temporal_attr WHERE iri = ANY(%s)", (list(attrs),)
            )
        attr_of = {aid: iri for aid, iri in await cur.fetchall()}
        return tids, (list(attr_of) if attrs is not None else None), attr_of

    async def history(
        self, tenant: str, entity_ids: Sequence[str], query: HistoryQuery
    ) -> dict[str, EntityHistory]:
        """GET /temporal/entities[/{id}]."""
        out: dict[str, EntityHistory] = {}
        async with self._pool.connection() as conn, conn.transaction():
            await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            tids, aids, attr_of = await self._lookup(conn, tenant, entity_ids, query.attrs)
            for eid in entity_ids:
                if eid not in tids:
                    continue
                tid, types = tids[eid]
                sql, params = TS.history_sql(DIALECT, tid, aids, query)
                rows = await (await conn.execute(sql, params)).fetchall()
                if not rows:
                    continue
                insts = [
                    TS.decode_row(r, attr_of, ms_of, instance_uri, lambda d: d)
                    for r in rows[: query.limit]
                ]
                out[eid] = EntityHistory(eid, types, insts, len(rows) > query.limit)
        return out

    async def aggregate(
        self, tenant: str, entity_ids: Sequence[str], query: AggregateQuery
    ) -> dict[str, list[AggregateSeries]]:
        """``options=aggregatedValues``: GROUP BY period in SQL."""
        async with self._pool.connection() as conn, conn.transaction():
            await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            found, aids, attr_of = await self._lookup(conn, tenant, entity_ids, query.attrs)
            tids = {eid: tid for eid, (tid, _) in found.items()}
            if not tids:
                return {}
            span = TS.known_span(query)
            if span is None:
                sql, params = TS.span_sql(DIALECT, list(tids.values()), aids, query)
                first, latest = await (await conn.execute(sql, params)).fetchone()  # type: ignore[misc]
                if first is None:
                    return {}
                span = (ms_of(first), ms_of(latest))
            first_ms, latest_ms = span
            origin = query.origin if query.origin is not None else first_ms
            bounds = TS.bucket_bounds(query, origin, latest_ms)
            t = TS.TIME_COLUMN[query.time.timeproperty]
            bparams: list[Any]
            out = "b"
            if query.period is None:
                bucket, bparams = "0", []
            elif bounds is not None:
                bucket, bparams = (
                    f"(width_bucket({t}, %s::timestamptz[]) - 1)",
                    [[dt(b) for b in bounds]],
                )
            else:  # date_bin: fixed-length periods counted from the origin
                bucket = f"date_bin('{int(query.period.ms)} milliseconds', {t}, %s::timestamptz)"
                bparams = [dt(origin)]
                out = "(extract(epoch FROM b) * 1000)::bigint"  # per group, not per row
            # hash aggregation of many groups: enough memory not to spill to disk
            await conn.execute("SET LOCAL work_mem = '128MB'")
            rows = await self._rollup_rows(conn, list(tids.values()), aids, query, origin)
            if rows is not None:
                out = "ms"
            else:
                sql, params = TS.aggregate_sql(
                    DIALECT, list(tids.values()), aids, query, bucket, out
                )
                rows = await (await conn.execute(sql, bparams + params)).fetchall()
        eid_of = {tid: eid for eid, tid in tids.items()}
        # date_bin gave the periods' start times (epoch ms)
        return TS.assemble(
            DIALECT, rows, eid_of, attr_of, query, origin, latest_ms, bounds, out != "b"
        )

    async def history_types(self, tenant: str, entity_id: str) -> list[str] | None:
        """Types recorded with an entity's history, if it has any instance."""
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "SELECT types FROM temporal_entity t WHERE tenant = %s AND id = %s AND EXISTS "
                "(SELECT 1 FROM attr_history h WHERE h.tid = t.tid)",
                (tenant, entity_id),
            )
            row = await cur.fetchone()
        return list(row[0]) if row else None

    # --- edits ---

    async def _key(
        self, conn: psycopg.AsyncConnection[Any], tenant: str, entity_id: str, attr: str
    ) -> tuple[int, int] | None:
        cur = await conn.execute(
            "SELECT te.tid, ta.aid FROM temporal_entity te, temporal_attr ta "
            "WHERE te.tenant = %s AND te.id = %s AND ta.iri = %s",
            (tenant, entity_id, attr),
        )
        row = await cur.fetchone()
        return (row[0], row[1]) if row else None

    async def update_instance(
        self, tenant: str, entity_id: str, attr: str, instance_id: str, patch: dict[str, Any]
    ) -> bool:
        """PATCH /temporal/entities/{id}/attrs/{attrId}/{instanceId}."""
        from dosi.storage.temporal_edit import patched

        inst = parse_instance_uri(instance_id)
        if inst is None:
            return False
        async with self._pool.connection() as conn, conn.transaction():
            key = await self._key(conn, tenant, entity_id, attr)
            if key is None:
                return False
            cur = await conn.execute(
                "SELECT doc, observed_at, ts, coalesce(modified_at, created_at) FROM attr_history "
                "WHERE tid = %s "
                "AND aid = %s AND instance = %s FOR UPDATE",
                (*key, inst),
            )
            row = await cur.fetchone()
            if row is None:
                return False
            doc, obs, ts, modified = row
            new = patched(doc, patch, ms_of(obs) if obs else None, ms_of(ts), ms_of(modified))
            import orjson

            await conn.execute(
                "UPDATE attr_history SET doc = %s::jsonb, observed_at = %s, ts = %s, num = %s, "
                "modified_at = %s WHERE tid = %s AND aid = %s AND instance = %s",
                (
                    orjson.dumps(new.doc).decode(),
                    dt(new.observed_at) if new.observed_at is not None else None,
                    dt(new.ts),
                    new.num,
                    dt(new.modified_at),
                    *key,
                    inst,
                ),
            )
            await self._dirty(conn, key[0], [ms_of(ts), new.ts])
        return True

    @staticmethod
    async def _dirty(conn: psycopg.AsyncConnection[Any], tid: int, times: list[int]) -> None:
        await conn.execute(
            "INSERT INTO rollup_dirty SELECT %s, t FROM unnest(%s::timestamptz[]) t "
            "ON CONFLICT DO NOTHING",
            (tid, [dt(t // 3_600_000 * 3_600_000) for t in set(times)]),
        )

    async def delete_instance(
        self, tenant: str, entity_id: str, attr: str, instance_id: str
    ) -> bool:
        """DELETE /temporal/entities/{id}/attrs/{attrId}/{instanceId}."""
        inst = parse_instance_uri(instance_id)
        if inst is None:
            return False
        async with self._pool.connection() as conn:
            key = await self._key(conn, tenant, entity_id, attr)
            if key is None:
                return False
            cur = await conn.execute(
                "DELETE FROM attr_history WHERE tid = %s AND aid = %s AND instance = %s "
                "RETURNING ts",
                (*key, inst),
            )
            gone = await cur.fetchall()
            if gone:
                await self._dirty(conn, key[0], [ms_of(r[0]) for r in gone])
            return bool(gone)

    async def delete_attr_history(
        self, tenant: str, entity_id: str, attr: str, dataset: str | None, delete_all: bool
    ) -> int:
        """DELETE /temporal/entities/{id}/attrs/{attrId}."""
        async with self._pool.connection() as conn:
            key = await self._key(conn, tenant, entity_id, attr)
            if key is None:
                return 0
            cond, params = "tid = %s AND aid = %s", [*key]
            if not delete_all:
                cond += " AND dataset = %s"
                params.append(dataset or "")
            await conn.execute(f"DELETE FROM attr_rollup_day WHERE {cond}", params)
            return (await conn.execute(f"DELETE FROM attr_history WHERE {cond}", params)).rowcount

    async def delete_history(self, tenant: str, entity_id: str) -> int:
        """DELETE /temporal/entities/{id}."""
        async with self._pool.connection() as conn:
            await conn.execute(
                "DELETE FROM attr_rollup_day WHERE tid IN (SELECT tid FROM temporal_entity "
                "WHERE tenant = %s AND id = %s)",
                (tenant, entity_id),
            )
            cur = await conn.execute(
                "DELETE FROM attr_history WHERE tid IN (SELECT tid FROM temporal_entity "
                "WHERE tenant = %s AND id = %s)",
                (tenant, entity_id),
            )
            return cur.rowcount

    # --- retention and export ---

    # --- export ---

    async def export(
        self, tenant: str, entity_ids: Sequence[str], query: HistoryQuery
    ) -> AsyncIterator[tuple[str, StoredInstance]]:
        """``dosi export``: every matching instance, keyset-paged, entity by entity."""
        for eid in entity_ids:
            cursor: tuple[Any, Any] | None = None
            while True:
                async with self._pool.connection() as conn:
                    found, aids, attr_of = await self._lookup(conn, tenant, [eid], query.attrs)
                    if eid not in found:
                        break
                    cond, params = TS.where(
                        DIALECT, [found[eid][0]], aids, query.datasets, query.time
                    )
                    t = TS.TIME_COLUMN[query.time.timeproperty]
                    if cursor is not None:
                        cond += f" AND ({t}, instance) > (%s, %s)"
                        params += list(cursor)
                    cur = await conn.execute(
                        f"SELECT {TS.COLUMNS.format(t=t)} FROM attr_history WHERE {cond} "
                        f"ORDER BY {t}, instance LIMIT {int(query.limit)}",
                        params,
                    )
                    rows = await cur.fetchall()
                for r in rows:
                    yield eid, TS.decode_row(r, attr_of, ms_of, instance_uri, lambda d: d)
                    cursor = (r[3], r[2])
                if len(rows) < query.limit:
                    break
