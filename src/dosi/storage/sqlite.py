"""SQLite backend: one file, WAL, one writer thread with group commit, reader threads.

- Writes (every write route, purge, contexts) go to ``SqliteWriter``: one thread, one
  connection, ``BEGIN IMMEDIATE``, a savepoint per caller, group commit.
- Queries and discovery run on a small pool of reader threads, each with its own
  connection, so the event loop never waits on a long query.
- Primary-key lookups (GET /entities/{id}, tenant checks, one @context) run inline on
  the event loop: they take tens of microseconds, less than handing work to a thread
  and back (~50-100 us).

``sqlite:///:memory:`` opens a temporary file that is removed on close: an in-memory
database cannot be shared by several connections with WAL semantics.
"""

from __future__ import annotations

import asyncio
import functools
import os
import re
import shutil
import sqlite3
import tempfile
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import orjson

from dosi.ngsild.query.ast import EntityQuery
from dosi.ngsild.values import now_iso
from dosi.storage import sql as S
from dosi.storage import statements as ST
from dosi.storage.base import (
    AttributeInfo,
    Entity,
    OpResult,
    QueryResult,
    TypeInfo,
    WriteOp,
)
from dosi.storage.delta import SIDE_TABLES, delta, side_rows
from dosi.storage.history import KnownIds
from dosi.storage.paging import Pager
from dosi.storage.plan import Change, db_error, decode, fail_change, run_ops
from dosi.storage.rows import bbox
from dosi.storage.schema import SCHEMA_VERSION, SQLITE
from dosi.storage.sqlite_writer import SqliteWriter
from dosi.storage.subscription_base import changes_of
from dosi.storage.subscriptions_sql import SQLITE_DDL as SUBSCRIPTION_DDL
from dosi.storage.subscriptions_sqlite import SqliteSubscriptions, record_notices
from dosi.storage.ingest_sqlite import SqliteIngest
from dosi.storage.ingest_sql import SQLITE_DDL as INGEST_DDL
from dosi.storage.temporal_sql import SQLITE_DDL as TEMPORAL_DDL
from dosi.storage.temporal_sqlite import SqliteTemporal
from dosi.storage.temporal_sqlite_capture import capture_history, purge_history

T = TypeVar("T")
DIALECT = S.Dialect()
_CHUNK = 256
_SIZE_CAP = 50_000  # side rows counted per candidate driver when planning


@functools.lru_cache(maxsize=256)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _regexp(pattern: str, value: Any) -> bool:
    return isinstance(value, str) and _compiled(pattern).search(value) is not None


def _fullmatch(pattern: str, value: Any) -> bool:
    return isinstance(value, str) and _compiled(pattern).fullmatch(value) is not None


def sqlite_path(url: str) -> str:
    """File path of a ``sqlite:`` URL (``sqlite:///rel.db``, ``sqlite:////abs.db``)."""
    rest = url.removeprefix("sqlite:")
    if rest.startswith("///"):
        rest = rest[3:]
    elif rest.startswith("//"):
        rest = rest[2:]
    return rest.split("?", 1)[0]


class SqliteStore(SqliteTemporal, SqliteSubscriptions, SqliteIngest):
    """``Store`` and ``TemporalStore`` on one SQLite file (see the module docstring)."""

    def __init__(self, path: str, *, readers: int = 3, tmpdir: str | None = None) -> None:
        self.path = path
        self._tmpdir = tmpdir
        self._local = threading.local()
        self._reader_conns: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._readers = ThreadPoolExecutor(readers, thread_name_prefix="dosi-sqlite-read")
        self._writer = SqliteWriter(self._connect_writer, after_commit=self._maintain)
        self._inline: sqlite3.Connection | None = None
        self._known_ids = KnownIds()
        self._ops_since_analyze = 0
        self._stats_added: dict[str, int] = {}  # counter rows per tenant since compaction
        self._analyze_at = 1_000

    @classmethod
    async def open(
        cls, url: str, *, readers: int = 3, history: Any = None, **_: Any
    ) -> SqliteStore:
        """Open (creating if needed) the database of a ``sqlite:`` URL."""
        path, tmpdir = sqlite_path(url), None
        if path in ("", ":memory:"):
            tmpdir = tempfile.mkdtemp(prefix="dosi-sqlite-")
            path = os.path.join(tmpdir, "dosi.db")
        store = cls(path, readers=readers, tmpdir=tmpdir)
        if history is not None:
            store.history_policy = history
        await asyncio.to_thread(store._writer.start)
        store._inline = store._connect_inline()
        return store

    # --- connections ---

    def _connect(self, readonly: bool) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA busy_timeout = 5000")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA temp_store = MEMORY")
        conn.execute("PRAGMA cache_size = -32768")
        conn.create_function("regexp", 2, _regexp, deterministic=True)
        conn.create_function("dosi_fullmatch", 2, _fullmatch, deterministic=True)
        self.register_functions(conn)
        if readonly:
            conn.execute("PRAGMA mmap_size = 268435456")
            conn.execute("PRAGMA query_only = 1")
        return conn

    def _connect_inline(self) -> sqlite3.Connection:
        """The event loop's own connection: it must never wait long."""
        conn = self._connect(readonly=True)
        conn.execute("PRAGMA busy_timeout = 50")
        return conn

    def _connect_writer(self) -> sqlite3.Connection:
        conn = self._connect(readonly=False)
        conn.execute("PRAGMA journal_mode = WAL")
        # checkpoint every ~40 MB of WAL rather than 4 MB: a 1,000-entity batch then
        # does not pay a checkpoint (and its fsync) at nearly every commit
        conn.execute("PRAGMA wal_autocheckpoint = 10000")
        conn.execute("PRAGMA journal_size_limit = 67108864")
        conn.executescript(SQLITE)
        conn.executescript(TEMPORAL_DDL)
        conn.executescript(SUBSCRIPTION_DDL)
        conn.executescript(INGEST_DDL)
        conn.execute(
            "INSERT OR IGNORE INTO dosi_meta VALUES ('schema_version', ?)", (SCHEMA_VERSION,)
        )
        return conn

    def _reader(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._connect(readonly=True)
            with self._lock:
                self._reader_conns.append(conn)
        return conn

    async def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._readers, lambda: fn(self._reader()))

    @property
    def _conn(self) -> sqlite3.Connection:
        assert self._inline is not None, "store is closed"
        return self._inline

    async def close(self) -> None:
        await self._writer.close()
        self._readers.shutdown(wait=True)
        for conn in self._reader_conns:
            conn.close()
        if self._inline is not None:
            self._inline.close()
            self._inline = None
        if self._tmpdir:
            shutil.rmtree(self._tmpdir, ignore_errors=True)

    def _maintain(self, conn: sqlite3.Connection, ops: int) -> None:
        """Refresh planner statistics as the data grows (after commit, writer thread)."""
        self._ops_since_analyze += ops
        if self._ops_since_analyze >= self._analyze_at:
            conn.execute("PRAGMA analysis_limit = 1000")
            conn.execute("ANALYZE")
            self._analyze_at = self._ops_since_analyze * 2
            self._ops_since_analyze = 0

    # --- writes ---

    async def write(self, tenant: str, ops: Sequence[WriteOp]) -> list[OpResult]:
        """Every write route: ops in one transaction, each isolated (``plan.run_ops``)."""
        if not ops:
            return []
        ops = list(ops)
        learnt = KnownIds()
        results: list[OpResult] = await self._writer.run(
            lambda conn: self._write_job(conn, tenant, ops, learnt), size=len(ops)
        )
        self._known_ids.learn(learnt)  # committed
        if self.change_hook is not None:
            self.change_hook.committed(tenant, changes_of(results))
        return results

    def _write_job(
        self, conn: sqlite3.Connection, tenant: str, ops: list[WriteOp], learnt: KnownIds
    ) -> list[OpResult]:
        learnt.tids.clear()  # (a job can be run again after its transaction failed)
        learnt.aids.clear()
        ids = list(dict.fromkeys(op.entity_id for op in ops))
        current: dict[str, tuple[int, Entity] | None] = dict.fromkeys(ids)
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            for rid, eid, doc in conn.execute(
                f"SELECT rid, id, doc FROM entity WHERE tenant = ? AND id IN "
                f"({','.join('?' * len(chunk))})",
                (tenant, *chunk),
            ):
                current[eid] = (rid, decode(doc))
        results, changes = run_ops(ops, current)
        changed = [c for c in changes.values() if c.changed]
        if changed:
            self._apply_isolated(conn, tenant, changed, results)
            capture_history(
                conn, tenant, self.history_policy, ops, results, changed, self._known_ids, learnt
            )
            record_notices(conn, tenant, self.change_hook, changes_of(results))
            if any(c.changed for c in changed):
                conn.execute("INSERT OR IGNORE INTO tenant VALUES (?, ?)", (tenant, now_iso()))
            if self._stats_added.get(tenant, 0) >= ST.STATS_COMPACT_EVERY:
                self._compact_stats(conn, tenant)
        return results

    def _compact_stats(self, conn: sqlite3.Connection, tenant: str) -> None:
        """Fold the tenant's discovery counter deltas into one row per key."""
        conn.execute(
            "CREATE TEMP TABLE IF NOT EXISTS stats_agg "
            "(tenant, type, attr, kinds, entities, instances)"
        )
        conn.execute("DELETE FROM temp.stats_agg")
        conn.execute(
            "INSERT INTO temp.stats_agg "
            + ST.STATS_AGGREGATE.format(source="(SELECT * FROM attr_stats WHERE tenant = ?)"),
            (tenant,),
        )
        conn.execute("DELETE FROM attr_stats WHERE tenant = ?", (tenant,))
        conn.execute("INSERT INTO attr_stats SELECT * FROM temp.stats_agg")
        self._stats_added[tenant] = 0

    def _apply_isolated(
        self, conn: sqlite3.Connection, tenant: str, changes: list[Change], results: list[OpResult]
    ) -> None:
        """Apply in bulk; if SQLite refuses, find the refused entities one by one."""
        conn.execute("SAVEPOINT apply")
        try:
            self._apply(conn, tenant, changes)
        except sqlite3.Error as exc:
            if not conn.in_transaction:
                raise
            conn.execute("ROLLBACK TO apply")
            conn.execute("RELEASE apply")
            if len(changes) == 1:
                fail_change(results, changes[0], db_error(exc))
                return
            for ch in changes:
                self._apply_isolated(conn, tenant, [ch], results)
            return
        conn.execute("RELEASE apply")

    def _apply(self, conn: sqlite3.Connection, tenant: str, changes: list[Change]) -> None:
        d = delta(changes)
        (next_rid,) = conn.execute("SELECT coalesce(max(rid), 0) + 1 FROM entity").fetchone()
        new_rids: dict[str, int] = {}
        for ch in d.inserts:
            new_rids[ch.entity_id] = next_rid
            next_rid += 1
        if d.deletes:
            conn.executemany("DELETE FROM entity WHERE rid = ?", [(c.rid,) for c in d.deletes])
        for table, rids in d.clear.items():
            if not rids:
                continue
            params = [(r,) for r in rids]
            if table == "entity_geo":
                conn.executemany(
                    "DELETE FROM geo_rtree WHERE id IN (SELECT gid FROM entity_geo WHERE rid = ?)",
                    params,
                )
            conn.executemany(f"DELETE FROM {table} WHERE rid = ?", params)
        conn.executemany(
            "INSERT INTO entity (rid, tenant, id, created_at, modified_at, doc) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [
                (new_rids[c.entity_id], tenant, c.entity_id, *_times(c), c.after_json)
                for c in d.inserts
            ],
        )
        conn.executemany(
            "UPDATE entity SET created_at = ?, modified_at = ?, doc = ? WHERE rid = ?",
            [(*_times(c), c.after_json, c.rid) for c in d.updates],
        )
        rows = side_rows(tenant, d, lambda c: c.rid if c.rid is not None else new_rids[c.entity_id])
        conn.executemany("INSERT INTO entity_type VALUES (?, ?, ?)", rows["entity_type"])
        conn.executemany(
            "INSERT INTO entity_attr VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows["entity_attr"]
        )
        conn.executemany("INSERT INTO entity_scope VALUES (?, ?, ?)", rows["entity_scope"])
        stats = d.stat_rows(tenant)
        if stats:
            conn.executemany(ST.STATS_INSERT, stats)
            self._stats_added[tenant] = self._stats_added.get(tenant, 0) + len(stats)
        if rows["entity_geo"]:
            (gid,) = conn.execute("SELECT coalesce(max(gid), 0) + 1 FROM entity_geo").fetchone()
            geo, boxes = [], []
            for t, attr, ds, rid, geometry in rows["entity_geo"]:
                box = bbox(geometry)
                if box is None:
                    continue
                geo.append((gid, t, attr, ds, rid))
                boxes.append((gid, box[0], box[2], box[1], box[3]))
                gid += 1
            conn.executemany("INSERT INTO entity_geo VALUES (?, ?, ?, ?, ?)", geo)
            conn.executemany("INSERT INTO geo_rtree VALUES (?, ?, ?, ?, ?)", boxes)

    async def purge(self, tenant: str, query: EntityQuery) -> int:
        """DELETE /entities: every match (limit and offset ignored) in one transaction."""
        return await self._writer.run(  # type: ignore[no-any-return]
            lambda conn: self._purge_job(conn, tenant, query), size=100
        )

    def _purge_job(self, conn: sqlite3.Connection, tenant: str, query: EntityQuery) -> int:
        f = self._compile(conn, tenant, query)
        conn.execute("CREATE TEMP TABLE IF NOT EXISTS purge_rid (rid INTEGER PRIMARY KEY)")
        conn.execute("DELETE FROM temp.purge_rid")
        if f.exact:
            conn.execute(
                f"INSERT INTO temp.purge_rid SELECT e.rid FROM entity e WHERE {f.where}", f.params
            )
        else:
            pager = Pager(query, paged=False)
            cur = conn.execute(f"SELECT e.rid, e.doc FROM entity e WHERE {f.where}", f.params)
            while rows := cur.fetchmany(_CHUNK):
                pager.feed(rows)
            conn.executemany("INSERT INTO temp.purge_rid VALUES (?)", [(r,) for r in pager.rids])
        (n,) = conn.execute("SELECT count(*) FROM temp.purge_rid").fetchone()
        if n:
            for stmt in ST.stats_purge(DIALECT, "SELECT rid FROM temp.purge_rid"):
                conn.execute(stmt)
            if self.history_policy.delete_with_entity:
                purge_history(conn, tenant, "SELECT rid FROM temp.purge_rid")
            sub = "(SELECT rid FROM temp.purge_rid)"
            conn.execute(
                f"DELETE FROM geo_rtree WHERE id IN (SELECT gid FROM entity_geo WHERE rid IN {sub})"
            )
            for table in (*SIDE_TABLES, "entity"):
                conn.execute(f"DELETE FROM {table} WHERE rid IN {sub}")
        conn.execute("DELETE FROM temp.purge_rid")
        return int(n)

    # --- reads ---

    async def _one(self, sql: str, params: tuple[Any, ...]) -> tuple[Any, ...] | None:
        """One row of a primary-key lookup: inline on the event loop (tens of
        microseconds), or on a reader thread if the database is ever busy."""
        try:
            return self._conn.execute(sql, params).fetchone()  # type: ignore[no-any-return]
        except sqlite3.OperationalError:
            return await self._read(lambda conn: conn.execute(sql, params).fetchone())

    async def get(self, tenant: str, entity_id: str) -> Entity | None:
        """GET /entities/{entityId}."""
        row = await self._one(
            "SELECT doc FROM entity WHERE tenant = ? AND id = ?", (tenant, entity_id)
        )
        return decode(row[0]) if row else None

    async def tenant_exists(self, tenant: str) -> bool:
        """Tenant check of every route taking NGSILD-Tenant."""
        return await self._one("SELECT 1 FROM tenant WHERE name = ?", (tenant,)) is not None

    def _compile(self, conn: sqlite3.Connection, tenant: str, query: EntityQuery) -> S.Filter:
        attrs = S.comparison_attrs(query.q)
        facts = S.AttrFacts()
        if attrs:
            probe, params = ST.probe(DIALECT, tenant, attrs)
            facts = ST.facts_from(conn.execute(probe, params).fetchall())
        return S.compile_query(query, tenant, DIALECT, facts)

    async def query(self, tenant: str, query: EntityQuery) -> QueryResult:
        """GET /entities, POST /entityOperations/query (a reader thread)."""
        return await self._read(lambda conn: self._query_sync(conn, tenant, query))

    def _query_sync(self, conn: sqlite3.Connection, tenant: str, query: EntityQuery) -> QueryResult:
        conn.execute("BEGIN")  # one snapshot for probes, page and count
        try:
            f = self._compile(conn, tenant, query)
            if f.exact:
                where, params = self._shape(conn, f, query)
                rows = conn.execute(  # sort narrow rows, then fetch only the page's docs
                    f"SELECT e.doc FROM entity e JOIN (SELECT e.rid, e.created_at, e.id "
                    f"FROM entity e WHERE {where} {S.ORDER_BY} LIMIT ? OFFSET ?) AS p "
                    f"ON p.rid = e.rid ORDER BY p.created_at, p.id",
                    [*params, max(query.limit, 0), max(query.offset, 0)],
                ).fetchall()
                count = self._count(conn, f, query) if query.count else None
                return QueryResult([decode(r[0]) for r in rows], count)
            pager = Pager(query)
            where, params = self._shape(conn, f, query, everything=query.count)
            cur = conn.execute(
                f"SELECT e.rid, e.doc FROM entity e WHERE {where} {S.ORDER_BY}", params
            )
            while not pager.done and (rows := cur.fetchmany(_CHUNK)):
                pager.feed(rows)
            return pager.result()
        finally:
            conn.execute("COMMIT")

    @staticmethod
    def _sizes(conn: sqlite3.Connection, drivers: list[S.Sub], cap: int) -> list[int]:
        """How many side rows each candidate driver matches, counted up to ``cap``."""
        sizes = []
        for sub in drivers:
            (n,) = conn.execute(
                f"SELECT count(*) FROM ({sub.select} LIMIT {cap})", sub.params
            ).fetchone()
            sizes.append(n)
            if n < 100:
                break
        return sizes

    def _shape(
        self, conn: sqlite3.Connection, f: S.Filter, query: EntityQuery, *, everything: bool = False
    ) -> tuple[str, list[Any]]:
        """Which side-table condition drives the scan. SQLite cannot weigh ``IN``
        (materialise a condition's matches, then sort them) against correlated
        ``EXISTS`` (walk the (createdAt, id) index, probe each entity), so this counts
        each candidate driver up to a cap and compares estimated costs: materialising
        costs its size; walking costs (offset + limit) / P(match), with P estimated
        from the sizes as if the conditions were independent."""
        drivers = f.drivers()
        if query.ids or not drivers:
            return f.render(correlated=True)
        cap = _SIZE_CAP if everything else _SIZE_CAP // 5
        sizes = self._sizes(conn, drivers, cap)
        best = min(range(len(sizes)), key=sizes.__getitem__)
        if everything:  # every match is needed: start from the smallest
            return f.render(correlated=True, driver=drivers[best])
        if sizes[best] >= cap:  # every condition is broad: walking the order index wins
            return f.render(correlated=True)
        (total,) = conn.execute("SELECT coalesce(max(rid), 1) FROM entity").fetchone()
        p = 1.0
        for n in sizes:
            p *= min(n, total) / total
        wanted = max(query.offset, 0) + max(query.limit, 0) + 1
        walk = min(total, wanted / p if p > 0 else total) * 0.5 * len(drivers)
        if sizes[best] * 2.0 <= walk:
            return f.render(correlated=True, driver=drivers[best])
        return f.render(correlated=True)

    def _count(self, conn: sqlite3.Connection, f: S.Filter, query: EntityQuery) -> int:
        """The number of matches, starting from the smallest side-table condition."""
        drivers = f.drivers()
        driver = None
        if drivers and not query.ids:
            sizes = self._sizes(conn, drivers, _SIZE_CAP)
            driver = drivers[min(range(len(sizes)), key=sizes.__getitem__)]
        sql, params = f.count_sql(driver)
        (n,) = conn.execute(sql, params).fetchone()
        return int(n)

    async def types(self, tenant: str) -> list[TypeInfo]:
        """GET /types, /types/{type}: sums of the discovery counters."""
        return await self._read(
            lambda conn: ST.type_infos(conn.execute(ST.STATS_SUM, (tenant,)).fetchall())
        )

    async def attributes(self, tenant: str) -> list[AttributeInfo]:
        """GET /attributes, /attributes/{attrId}: sums of the discovery counters."""
        return await self._read(
            lambda conn: ST.attribute_infos(conn.execute(ST.STATS_SUM, (tenant,)).fetchall())
        )

    # --- @contexts ---

    async def put_context(self, ctx_id: str, url: str, kind: str, body: Any) -> None:
        """POST /jsonldContexts, and caching of fetched remote contexts."""
        text = orjson.dumps(body).decode()

        def job(conn: sqlite3.Connection) -> None:
            conn.execute(ST.CONTEXT_DROP_URL, (url, ctx_id))
            conn.execute(ST.CONTEXT_UPSERT, (ctx_id, url, kind, text, now_iso()))

        await self._writer.run(job)

    async def get_context(self, ctx_id_or_url: str) -> dict[str, Any] | None:
        """GET /jsonldContexts/{id}, and @context resolution."""
        key = ctx_id_or_url
        row = await self._one(ST.CONTEXT_GET, (key, key, key))
        return ST.context_record(row, orjson.loads(row[3])) if row else None

    async def list_contexts(self, kind: str | None = None) -> list[dict[str, Any]]:
        """GET /jsonldContexts."""

        def run(conn: sqlite3.Connection) -> list[dict[str, Any]]:
            where, params = (" WHERE kind = ?", [kind]) if kind else ("", [])
            rows = conn.execute(f"{ST.CONTEXT_LIST}{where} ORDER BY created_at, id", params)
            return [ST.context_record(r, orjson.loads(r[3])) for r in rows]

        return await self._read(run)

    async def delete_context(self, ctx_id_or_url: str) -> bool:
        """DELETE /jsonldContexts/{id}."""
        key = ctx_id_or_url
        return await self._writer.run(  # type: ignore[no-any-return]
            lambda conn: conn.execute(ST.CONTEXT_DELETE, (key, key)).rowcount > 0
        )

    async def touch_context(self, ctx_id_or_url: str) -> None:
        """GET /jsonldContexts/{id}: count a use."""
        key, now = ctx_id_or_url, now_iso()

        def job(conn: sqlite3.Connection) -> None:
            conn.execute(ST.CONTEXT_TOUCH, (now, key, key))

        await self._writer.run(job)


def _times(c: Change) -> tuple[str, str]:
    assert c.after is not None
    created = c.after["createdAt"]
    return created, c.after.get("modifiedAt") or created
