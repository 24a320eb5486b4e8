"""PostgreSQL backend: psycopg 3 async with a connection pool, JSONB documents,
PostGIS geometries. Several hub processes may share one database: all state is in the
database (in memory only a set of tenants known to exist and a trigger for counter
compaction), rows are locked with ``SELECT ... FOR UPDATE``, and schema set-up is
serialised with an advisory lock.

A ``write()`` call costs a fixed handful of round trips whatever its size: one locking
read of the current documents, the ops run in Python (``plan.run_ops``), then one
``INSERT ... SELECT FROM unnest(...)`` per table, pipelined. Database refusals (e.g. a
geometry PostGIS rejects) are isolated per entity with savepoints; entities created
concurrently by another process are detected by ``ON CONFLICT DO NOTHING`` and the ops
run again on the now-current state.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

import orjson
import psycopg
from psycopg import errors as pgerr
from psycopg.types.json import Jsonb, set_json_loads
from psycopg_pool import AsyncConnectionPool

from dosi.ngsild.query.ast import EntityQuery
from dosi.ngsild.values import now_iso
from dosi.storage import sql as S
from dosi.storage import statements as ST
from dosi.storage.base import AttributeInfo, Entity, OpResult, QueryResult, TypeInfo, WriteOp
from dosi.storage.delta import SIDE_TABLES, delta, side_rows
from dosi.storage.paging import Pager
from dosi.storage.plan import Change, db_error, decode, fail_change, run_ops
from dosi.storage.schema import POSTGRES, SCHEMA_VERSION
from dosi.storage.subscription_base import changes_of
from dosi.storage.subscriptions_postgres import PostgresSubscriptions, record_notices
from dosi.storage.subscriptions_sql import POSTGRES_DDL as SUBSCRIPTION_DDL
from dosi.storage.ingest_postgres import PostgresIngest
from dosi.storage.ingest_sql import POSTGRES_DDL as INGEST_DDL
from dosi.storage.temporal_pg_capture import purge_history
from dosi.storage.temporal_postgres import PostgresTemporal
from dosi.storage.temporal_sql import POSTGRES_DDL as TEMPORAL_DDL

DIALECT = S.PgDialect()
_STATS_SUM = DIALECT.sql(ST.STATS_SUM)
_STATS_COMPACT = DIALECT.sql(
    "WITH gone AS (DELETE FROM attr_stats WHERE tenant = ? RETURNING *) INSERT INTO attr_stats "
    + ST.STATS_AGGREGATE.format(source="gone")
)
_LOCK_KEY = 0x646F7369  # 'dosi': serialises schema set-up across processes
_RETRYABLE = (pgerr.DeadlockDetected, pgerr.SerializationFailure)
_REFUSALS = (psycopg.DataError, psycopg.IntegrityError, psycopg.InternalError)
_ANALYZE_EVERY = 50_000  # entity writes between explicit ANALYZE runs
log = logging.getLogger("dosi.storage.postgres")
_THREAD_OVER = 64  # run ops / decode rows in a thread past this many (keep the loop free)
# Bulk statements pass arrays as binary parameters (%b): as text, PostgreSQL spends
# most of an insert parsing the quoting of JSON documents inside array literals.
_TYPES = "ARRAY(SELECT jsonb_array_elements_text(v.doc->'type'))"
_TIMES = "v.doc->>'createdAt', coalesce(v.doc->>'modifiedAt', v.doc->>'createdAt')"


class _Conflict(Exception):
    def __init__(self, ids: list[str]) -> None:
        super().__init__(ids)
        self.ids = ids


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


async def _configure(conn: psycopg.AsyncConnection[Any]) -> None:
    set_json_loads(orjson.loads, conn)
    # JIT compilation costs tens of milliseconds on the large cost estimates of
    # document scans, more than the short queries it would speed up
    await conn.execute("SET jit = off")
    # parallel workers cost more than they save on paged queries (LIMIT n), and a
    # hub process already keeps the cores busy with concurrent requests
    await conn.execute("SET max_parallel_workers_per_gather = 0")


class PostgresStore(PostgresTemporal, PostgresSubscriptions, PostgresIngest):
    """``Store`` and ``TemporalStore`` on PostgreSQL + PostGIS (see the module docstring)."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool
        self._init_temporal(None)
        self._stats_added: dict[str, int] = {}  # counter rows per tenant: compaction trigger
        self._known_tenants: set[str] = set()  # registered in the tenant table (never undone)

    @classmethod
    async def open(
        cls, url: str, *, pool_min: int = 1, pool_max: int = 10, history: Any = None, **_: Any
    ) -> PostgresStore:
        """Connect, and create the schema (and the postgis extension) if needed."""
        pool = AsyncConnectionPool(
            url,
            min_size=pool_min,
            max_size=pool_max,
            open=False,
            kwargs={"autocommit": True},
            configure=_configure,
        )
        await pool.open(wait=True)
        store = cls(pool)
        try:
            async with pool.connection() as conn, conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
                await conn.execute(POSTGRES)
                await conn.execute(TEMPORAL_DDL)
                await conn.execute(SUBSCRIPTION_DDL)
                await conn.execute(INGEST_DDL)
                await conn.execute(
                    "INSERT INTO dosi_meta VALUES ('schema_version', %s) ON CONFLICT DO NOTHING",
                    (SCHEMA_VERSION,),
                )
            store._init_temporal(history)
            await store._prepare_now()
        except BaseException:
            await pool.close()
            raise
        return store

    async def close(self) -> None:
        task = getattr(self, "_analyze_task", None)
        if task is not None:
            await task
        await self._close_temporal()
        await self._pool.close()

    # --- writes ---

    async def write(self, tenant: str, ops: Sequence[WriteOp]) -> list[OpResult]:
        """Every write route: one transaction, rows locked, each op isolated."""
        if not ops:
            return []
        ops = list(ops)
        for attempt in range(6):
            try:
                results = await self._write_once(tenant, ops)
                self._note_written(len(ops))
                if self.change_hook is not None:
                    self.change_hook.committed(tenant, changes_of(results))
                return results
            except _RETRYABLE:
                if attempt == 5:
                    raise
                await asyncio.sleep(0.005 * 2**attempt)
        raise AssertionError("unreachable")

    def _note_written(self, n: int) -> None:
        """After a bulk load, refresh planner statistics at once instead of waiting for
        autovacuum: fresh tables without statistics get plans that are 1000x off."""
        self._written = getattr(self, "_written", 0) + n
        task = getattr(self, "_analyze_task", None)
        if self._written >= _ANALYZE_EVERY and (task is None or task.done()):
            self._written = 0
            self._analyze_task = asyncio.create_task(self._analyze())

    async def _analyze(self) -> None:
        try:
            async with self._pool.connection() as conn:
                await conn.execute("ANALYZE entity, entity_attr, entity_scope, entity_geo")
        except Exception:  # noqa: BLE001 - statistics are an optimisation; autovacuum remains
            log.warning("ANALYZE after bulk writes failed", exc_info=True)

    async def _write_once(self, tenant: str, ops: list[WriteOp]) -> list[OpResult]:
        ids = sorted({op.entity_id for op in ops})
        async with self._pool.connection() as conn, conn.transaction():
            current: dict[str, tuple[int, Entity] | None] = dict.fromkeys(ids)
            await self._lock(conn, tenant, ids, current)
            while True:
                if len(ops) > _THREAD_OVER:
                    results, changes = await asyncio.to_thread(run_ops, ops, current)
                else:
                    results, changes = run_ops(ops, current)
                changed = [c for c in changes.values() if c.changed]
                if not changed:
                    return results
                conflicts = await self._apply_isolated(conn, tenant, changed, results)
                if not conflicts:
                    break
                # another process created some of these entities meanwhile: nothing of
                # this attempt is left; lock them and run the ops again on their state
                await self._lock(conn, tenant, sorted(set(conflicts)), current)
            learnt = await self._capture(conn, tenant, ops, results, changed)
            await record_notices(conn, tenant, self.change_hook, changes_of(results))
        self._known_ids.learn(learnt)  # committed
        if any(c.changed for c in changed):
            self._known_tenants.add(tenant)
        if self._stats_added.get(tenant, 0) >= ST.STATS_COMPACT_EVERY:
            await self._compact_stats(tenant)
        return results

    async def _compact_stats(self, tenant: str) -> None:
        """Fold the tenant's discovery counter deltas (one process at a time)."""
        self._stats_added[tenant] = 0
        async with self._pool.connection() as conn, conn.transaction():
            cur = await conn.execute(
                "SELECT pg_try_advisory_xact_lock(%s, hashtext(%s))", (_LOCK_KEY, tenant)
            )
            row = await cur.fetchone()
            if row and row[0]:
                await conn.execute(_STATS_COMPACT, (tenant,))

    @staticmethod
    async def _lock(
        conn: psycopg.AsyncConnection[Any],
        tenant: str,
        ids: list[str],
        current: dict[str, tuple[int, Entity] | None],
    ) -> None:
        cur = await conn.execute(
            "SELECT rid, id, doc FROM entity WHERE tenant = %s AND id = ANY(%b::text[]) "
            "ORDER BY id FOR UPDATE",
            (tenant, ids),
        )
        for rid, eid, doc in await cur.fetchall():
            current[eid] = (rid, doc)

    async def _apply_isolated(
        self,
        conn: psycopg.AsyncConnection[Any],
        tenant: str,
        changes: list[Change],
        results: list[OpResult],
    ) -> list[str]:
        """Apply in bulk inside a savepoint. If PostgreSQL refuses, find the refused
        entities one savepoint each (their ops fail). Returns the ids another process
        created meanwhile, with everything of this call undone."""
        try:
            async with conn.transaction():
                await self._apply(conn, tenant, changes)
            return []
        except _Conflict as exc:
            return exc.ids
        except _RETRYABLE:
            raise
        except _REFUSALS as exc:
            if len(changes) == 1:
                fail_change(results, changes[0], db_error(exc))
                return []
        try:
            async with conn.transaction():
                conflicts: list[str] = []
                for ch in changes:
                    conflicts += await self._apply_isolated(conn, tenant, [ch], results)
                if conflicts:
                    raise _Conflict(conflicts)
            return []
        except _Conflict as exc:
            return exc.ids

    async def _apply(
        self, conn: psycopg.AsyncConnection[Any], tenant: str, changes: list[Change]
    ) -> None:
        d = delta(changes)
        new_rids: dict[str, int] = {}
        if d.inserts:
            cur = await conn.execute(
                f"INSERT INTO entity (tenant, id, types, created_at, modified_at, doc) "
                f"SELECT %s, v.id, {_TYPES}, {_TIMES}, v.doc "
                f"FROM unnest(%b::text[], %b::jsonb[]) AS v(id, doc) "
                f"ON CONFLICT (tenant, id) DO NOTHING RETURNING id, rid",
                (tenant, [c.entity_id for c in d.inserts], [c.after_json for c in d.inserts]),
            )
            new_rids = {eid: rid for eid, rid in await cur.fetchall()}
            missing = [c.entity_id for c in d.inserts if c.entity_id not in new_rids]
            if missing:
                raise _Conflict(missing)
        rows = side_rows(tenant, d, lambda c: c.rid if c.rid is not None else new_rids[c.entity_id])
        async with conn.pipeline():
            if d.deletes:
                await conn.execute(
                    "DELETE FROM entity WHERE rid = ANY(%b::bigint[])",
                    ([c.rid for c in d.deletes],),
                )
            for table, rids in d.clear.items():
                if rids and table != "entity_type":
                    await conn.execute(
                        f"DELETE FROM {table} WHERE rid = ANY(%b::bigint[])", (rids,)
                    )
            if d.updates:
                await conn.execute(
                    f"UPDATE entity AS e SET types = {_TYPES}, "
                    f"(created_at, modified_at) = ({_TIMES}), doc = v.doc "
                    f"FROM unnest(%b::bigint[], %b::jsonb[]) AS v(rid, doc) WHERE e.rid = v.rid",
                    ([c.rid for c in d.updates], [c.after_json for c in d.updates]),
                )
            await self._insert_side(conn, tenant, rows)
            if tenant not in self._known_tenants:
                await conn.execute(
                    "INSERT INTO tenant VALUES (%s, %s) ON CONFLICT DO NOTHING", (tenant, now_iso())
                )
            stats = d.stat_rows(tenant)
            if stats:
                await conn.execute(
                    "INSERT INTO attr_stats SELECT %s, * FROM unnest(%b::text[], %b::text[], "
                    "%b::text[], %b::bigint[], %b::bigint[])",
                    (tenant, *[list(c) for c in zip(*stats)][1:]),
                )
                self._stats_added[tenant] = self._stats_added.get(tenant, 0) + len(stats)

    @staticmethod
    async def _insert_side(
        conn: psycopg.AsyncConnection[Any], tenant: str, rows: dict[str, list[tuple[Any, ...]]]
    ) -> None:
        def cols(table: str) -> list[list[Any]]:
            return [list(c) for c in zip(*rows[table])][1:]  # drop the tenant column

        if rows["entity_attr"]:
            await conn.execute(
                "INSERT INTO entity_attr SELECT %s, * FROM unnest(%b::text[], %b::bigint[], "
                "%b::text[], %b::int[], %b::float8[], %b::text[], %b::smallint[])",
                (tenant, *cols("entity_attr")),
            )
        if rows["entity_scope"]:
            await conn.execute(
                "INSERT INTO entity_scope (tenant, scope, rid) SELECT %s, * FROM "
                "unnest(%b::text[], %b::bigint[])",
                (tenant, *cols("entity_scope")),
            )
        if rows["entity_geo"]:
            attr, ds, rid, geo = cols("entity_geo")
            await conn.execute(
                "INSERT INTO entity_geo (tenant, attr, dataset, rid, geom) "
                "SELECT %s, v.a, v.d, v.r, ST_SetSRID(ST_GeomFromGeoJSON(v.g), 4326) "
                "FROM unnest(%b::text[], %b::text[], %b::bigint[], %b::text[]) AS v(a, d, r, g)",
                (tenant, attr, ds, rid, [_dumps(g) for g in geo]),
            )

    async def purge(self, tenant: str, query: EntityQuery) -> int:
        """DELETE /entities: every match (limit and offset ignored), one transaction."""
        async with self._pool.connection() as conn, conn.transaction():
            f = await self._compile(conn, tenant, query)
            if f.exact:
                cur = await conn.execute(
                    f"SELECT e.rid FROM entity e WHERE {f.where} FOR UPDATE", f.params
                )
                rids = [r[0] for r in await cur.fetchall()]
            else:
                pager = Pager(query, paged=False)
                await self._stream(conn, f, pager, "FOR UPDATE")
                rids = pager.rids
            if not rids:
                return 0
            for stmt in ST.stats_purge(DIALECT, "SELECT unnest(?::bigint[])"):
                await conn.execute(stmt, (rids,))
            if self.history_policy.delete_with_entity:
                await purge_history(conn, tenant, rids)
            side = ", ".join(
                f"d{i} AS (DELETE FROM {t} WHERE rid IN (SELECT rid FROM del))"
                for i, t in enumerate(SIDE_TABLES[1:])
            )  # entity_type: the types column
            cur = await conn.execute(
                f"WITH del AS (DELETE FROM entity WHERE rid = ANY(%b::bigint[]) RETURNING rid), "
                f"{side} SELECT count(*) FROM del",
                (rids,),
            )
            row = await cur.fetchone()
            return int(row[0]) if row else 0

    # --- reads ---

    async def _compile(
        self, conn: psycopg.AsyncConnection[Any], tenant: str, query: EntityQuery
    ) -> S.Filter:
        attrs = S.comparison_attrs(query.q)
        facts = S.AttrFacts()
        if attrs:
            probe, params = ST.probe(DIALECT, tenant, attrs)
            facts = ST.facts_from(await (await conn.execute(probe, params)).fetchall())
        return S.compile_query(query, tenant, DIALECT, facts)

    async def _stream(
        self, conn: psycopg.AsyncConnection[Any], f: S.Filter, pager: Pager, suffix: str = ""
    ) -> None:
        """Candidates in order through the evaluator, in chunks, off the event loop."""
        async with conn.cursor(name="dosi_candidates") as cur:
            await cur.execute(
                f"SELECT e.rid, e.doc::text FROM entity e WHERE {f.where} {S.ORDER_BY} {suffix}",
                f.params,
            )
            while not pager.done:
                rows = await cur.fetchmany(500)
                if not rows:
                    break
                await asyncio.to_thread(pager.feed, rows)

    async def get(self, tenant: str, entity_id: str) -> Entity | None:
        """GET /entities/{entityId}."""
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "SELECT doc::text FROM entity WHERE tenant = %s AND id = %s", (tenant, entity_id)
            )
            row = await cur.fetchone()
        return decode(row[0]) if row else None

    async def query(self, tenant: str, query: EntityQuery) -> QueryResult:
        """GET /entities, POST /entityOperations/query. A page alone is one statement;
        with a count, page and count share a snapshot; the evaluator's streaming runs
        in a transaction (server-side cursor)."""
        count = None
        async with self._pool.connection() as conn:
            f = await self._compile(conn, tenant, query)
            base = f"FROM entity e WHERE {f.where}"
            # sort the narrow (rid, created_at, id) rows, then fetch only the page's docs
            page = (
                f"SELECT e.doc::text FROM entity e JOIN (SELECT e.rid, e.created_at, e.id "
                f"{base} {S.ORDER_BY} LIMIT %s OFFSET %s) AS p ON p.rid = e.rid "
                f"ORDER BY p.created_at, p.id"
            )
            page_params = [*f.params, max(query.limit, 0), max(query.offset, 0)]
            if f.exact and not query.count:
                rows = await (await conn.execute(page, page_params)).fetchall()
            else:
                async with conn.transaction():
                    await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                    if not f.exact:
                        pager = Pager(query)
                        await self._stream(conn, f, pager)
                        return pager.result()
                    rows = await (await conn.execute(page, page_params)).fetchall()
                    drivers = f.drivers()
                    sql, params = f.count_sql(drivers[0] if drivers else None, correlated=False)
                    row = await (await conn.execute(sql, params)).fetchone()
                    count = int(row[0]) if row else 0
        if len(rows) > _THREAD_OVER:
            entities = await asyncio.to_thread(lambda: [decode(r[0]) for r in rows])
        else:
            entities = [decode(r[0]) for r in rows]
        return QueryResult(entities, count)

    async def types(self, tenant: str) -> list[TypeInfo]:
        """GET /types, /types/{type}: sums of the discovery counters."""
        async with self._pool.connection() as conn:
            rows = await (await conn.execute(_STATS_SUM, (tenant,))).fetchall()
        return ST.type_infos(rows)

    async def attributes(self, tenant: str) -> list[AttributeInfo]:
        """GET /attributes, /attributes/{attrId}: sums of the discovery counters."""
        async with self._pool.connection() as conn:
            rows = await (await conn.execute(_STATS_SUM, (tenant,))).fetchall()
        return ST.attribute_infos(rows)

    async def tenant_exists(self, tenant: str) -> bool:
        """Tenant check of every route taking NGSILD-Tenant."""
        async with self._pool.connection() as conn:
            cur = await conn.execute("SELECT 1 FROM tenant WHERE name = %s", (tenant,))
            return await cur.fetchone() is not None

    # --- @contexts ---

    async def put_context(self, ctx_id: str, url: str, kind: str, body: Any) -> None:
        """POST /jsonldContexts, and caching of fetched remote contexts."""
        async with self._pool.connection() as conn, conn.transaction():
            await conn.execute(DIALECT.sql(ST.CONTEXT_DROP_URL), (url, ctx_id))
            await conn.execute(
                DIALECT.sql(ST.CONTEXT_UPSERT),
                (ctx_id, url, kind, Jsonb(body, dumps=_dumps), now_iso()),
            )

    async def get_context(self, ctx_id_or_url: str) -> dict[str, Any] | None:
        """GET /jsonldContexts/{id}, and @context resolution."""
        key = ctx_id_or_url
        async with self._pool.connection() as conn:
            cur = await conn.execute(DIALECT.sql(ST.CONTEXT_GET), (key, key, key))
            row = await cur.fetchone()
        return ST.context_record(row, row[3]) if row else None

    async def list_contexts(self, kind: str | None = None) -> list[dict[str, Any]]:
        """GET /jsonldContexts."""
        where, params = (" WHERE kind = %s", [kind]) if kind else ("", [])
        async with self._pool.connection() as conn:
            cur = await conn.execute(f"{ST.CONTEXT_LIST}{where} ORDER BY created_at, id", params)
            return [ST.context_record(r, r[3]) for r in await cur.fetchall()]

    async def delete_context(self, ctx_id_or_url: str) -> bool:
        """DELETE /jsonldContexts/{id}."""
        async with self._pool.connection() as conn:
            cur = await conn.execute(DIALECT.sql(ST.CONTEXT_DELETE), (ctx_id_or_url,) * 2)
            return cur.rowcount > 0

    async def touch_context(self, ctx_id_or_url: str) -> None:
        """GET /jsonldContexts/{id}: count a use."""
        async with self._pool.connection() as conn:
            await conn.execute(
                DIALECT.sql(ST.CONTEXT_TOUCH), (now_iso(), ctx_id_or_url, ctx_id_or_url)
            )
