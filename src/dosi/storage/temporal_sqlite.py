"""History on SQLite: ``TemporalStore`` for ``SqliteStore`` (a mixin), and the capture
step its writer thread runs inside each write transaction.

Times are INTEGER epoch ms, instance ids 16-byte BLOBs, documents JSON text.
Reads run on the store's reader threads; edits and retention on its writer thread
(retention deletes in batches, one short transaction each).
"""

from __future__ import annotations

import bisect
import functools
import json
import sqlite3
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import orjson

from dosi.storage import temporal_retention as TR
from dosi.storage import temporal_sql as TS
from dosi.storage.history import (
    HistoryPolicy,
    instance_uri,
    parse_instance_uri,
)
from dosi.storage.temporal_base import (
    AggregateQuery,
    AggregateSeries,
    EntityHistory,
    HistoryQuery,
    RetentionRule,
    StoredInstance,
)
from dosi.storage.temporal_sqlite_capture import aids_of, chunks, ids_of

DIALECT = TS.TemporalDialect(
    ph="?",
    time=lambda ms: ms,
    json_text=lambda col, key: f"json_extract({col}, '$.{key}')",
    row_order="hid",
    sqrt="dosi_sqrt",
    greatest="max",
    list_of=lambda x: f"json_group_array({x})",
    loads_list=orjson.loads,
    presort=True,
)


def _types_has(ph: str) -> str:
    return f"EXISTS (SELECT 1 FROM json_each(types) WHERE value = {ph})"


@functools.lru_cache(maxsize=64)
def _bounds(text: str) -> list[int]:
    return [int(x) for x in json.loads(text)]


def _bucket(t: int, bounds: str) -> int:
    """SQL function: the calendar period index of ``t`` (bounds: JSON list of starts)."""
    return bisect.bisect_right(_bounds(bounds), t) - 1


def _sqrt(x: float | None) -> float | None:
    return None if x is None else float(x) ** 0.5


def _uri(raw: bytes) -> str:
    return instance_uri(uuid.UUID(bytes=raw))


class SqliteTemporal:
    """``TemporalStore`` methods of ``SqliteStore`` (see the module docstring)."""

    history_policy: HistoryPolicy = HistoryPolicy()
    _read: Callable[..., Any]
    _writer: Any

    @staticmethod
    def register_functions(conn: sqlite3.Connection) -> None:
        conn.create_function("dosi_bucket", 2, _bucket, deterministic=True)
        conn.create_function("dosi_sqrt", 1, _sqrt, deterministic=True)

    def _lookup(
        self,
        conn: sqlite3.Connection,
        tenant: str,
        entity_ids: Sequence[str],
        attrs: Sequence[str] | None,
    ) -> tuple[dict[str, int], list[int] | None, dict[int, str]]:
        tids = ids_of(conn, tenant, entity_ids)
        amap = (
            aids_of(conn, attrs)
            if attrs is not None
            else dict(conn.execute("SELECT iri, aid FROM temporal_attr").fetchall())
        )
        aids = list(amap.values()) if attrs is not None else None
        return tids, aids, {a: i for i, a in amap.items()}

    async def history(
        self, tenant: str, entity_ids: Sequence[str], query: HistoryQuery
    ) -> dict[str, EntityHistory]:
        """GET /temporal/entities[/{id}] (a reader thread)."""

        def run(conn: sqlite3.Connection) -> dict[str, EntityHistory]:
            tids, aids, attr_of = self._lookup(conn, tenant, entity_ids, query.attrs)
            out: dict[str, EntityHistory] = {}
            for eid in entity_ids:
                tid = tids.get(eid)
                if tid is None:
                    continue
                sql, params = TS.history_sql(DIALECT, tid, aids, query)
                rows = conn.execute(sql, params).fetchall()
                if not rows:
                    continue
                insts = [
                    TS.decode_row(r, attr_of, int, _uri, orjson.loads) for r in rows[: query.limit]
                ]
                (types,) = conn.execute(
                    "SELECT types FROM temporal_entity WHERE tid = ?", (tid,)
                ).fetchone()
                out[eid] = EntityHistory(eid, orjson.loads(types), insts, len(rows) > query.limit)
            return out

        return await self._read(run)  # type: ignore[no-any-return]

    async def aggregate(
        self, tenant: str, entity_ids: Sequence[str], query: AggregateQuery
    ) -> dict[str, list[AggregateSeries]]:
        """``options=aggregatedValues``: GROUP BY period in SQL (a reader thread)."""

        def run(conn: sqlite3.Connection) -> dict[str, list[AggregateSeries]]:
            tids, aids, attr_of = self._lookup(conn, tenant, entity_ids, query.attrs)
            if not tids:
                return {}
            span = TS.known_span(query)
            if span is None:
                sql, params = TS.span_sql(DIALECT, list(tids.values()), aids, query)
                span = conn.execute(sql, params).fetchone()
                if span[0] is None:
                    return {}
            first, latest = span
            origin = query.origin if query.origin is not None else first
            bounds = TS.bucket_bounds(query, origin, latest)
            t = TS.TIME_COLUMN[query.time.timeproperty]
            if query.period is None:
                bucket, bparams = "0", []
            elif bounds is not None:
                bucket, bparams = f"dosi_bucket({t}, ?)", [json.dumps(bounds)]
            else:
                bucket, bparams = f"(({t} - ?) / {int(query.period.ms)})", [origin]
            sql, params = TS.aggregate_sql(DIALECT, list(tids.values()), aids, query, bucket)
            rows = conn.execute(sql, bparams + params).fetchall()
            eid_of = {tid: eid for eid, tid in tids.items()}
            return TS.assemble(DIALECT, rows, eid_of, attr_of, query, origin, latest, bounds)

        return await self._read(run)  # type: ignore[no-any-return]

    async def history_types(self, tenant: str, entity_id: str) -> list[str] | None:
        """Types recorded with an entity's history, if it has any instance."""

        def run(conn: sqlite3.Connection) -> list[str] | None:
            row = conn.execute(
                "SELECT types FROM temporal_entity t WHERE tenant = ? AND id = ? AND EXISTS "
                "(SELECT 1 FROM attr_history h WHERE h.tid = t.tid)",
                (tenant, entity_id),
            ).fetchone()
            return orjson.loads(row[0]) if row else None

        return await self._read(run)  # type: ignore[no-any-return]

    async def _edit(self, fn: Callable[[sqlite3.Connection], Any]) -> Any:
        return await self._writer.run(fn)

    def _instance_key(
        self, conn: sqlite3.Connection, tenant: str, entity_id: str, attr: str, instance_id: str
    ) -> tuple[int, int, bytes] | None:
        inst = parse_instance_uri(instance_id)
        tid = ids_of(conn, tenant, [entity_id]).get(entity_id)
        aid = aids_of(conn, [attr]).get(attr)
        if inst is None or tid is None or aid is None:
            return None
        return tid, aid, inst.bytes

    async def update_instance(
        self, tenant: str, entity_id: str, attr: str, instance_id: str, patch: dict[str, Any]
    ) -> bool:
        """PATCH /temporal/entities/{id}/attrs/{attrId}/{instanceId}."""
        from dosi.storage.temporal_edit import patched

        def job(conn: sqlite3.Connection) -> bool:
            key = self._instance_key(conn, tenant, entity_id, attr, instance_id)
            if key is None:
                return False
            row = conn.execute(
                "SELECT hid, doc, observed_at, ts, coalesce(modified_at, created_at) FROM attr_history "
                "WHERE tid = ? AND aid = ? AND instance = ?",
                key,
            ).fetchone()
            if row is None:
                return False
            hid, doc, obs, ts, modified = row
            new = patched(orjson.loads(doc), patch, obs, ts, modified)
            conn.execute(
                "UPDATE attr_history SET doc = ?, observed_at = ?, ts = ?, num = ?, "
                "modified_at = ? WHERE hid = ?",
                (
                    orjson.dumps(new.doc).decode(),
                    new.observed_at,
                    new.ts,
                    new.num,
                    new.modified_at,
                    hid,
                ),
            )
            return True

        return await self._edit(job)  # type: ignore[no-any-return]

    async def delete_instance(
        self, tenant: str, entity_id: str, attr: str, instance_id: str
    ) -> bool:
        """DELETE /temporal/entities/{id}/attrs/{attrId}/{instanceId}."""

        def job(conn: sqlite3.Connection) -> bool:
            key = self._instance_key(conn, tenant, entity_id, attr, instance_id)
            return (
                key is not None
                and conn.execute(
                    "DELETE FROM attr_history WHERE tid = ? AND aid = ? AND instance = ?", key
                ).rowcount
                > 0
            )

        return await self._edit(job)  # type: ignore[no-any-return]

    async def delete_attr_history(
        self, tenant: str, entity_id: str, attr: str, dataset: str | None, delete_all: bool
    ) -> int:
        """DELETE /temporal/entities/{id}/attrs/{attrId}."""

        def job(conn: sqlite3.Connection) -> int:
            tid = ids_of(conn, tenant, [entity_id]).get(entity_id)
            aid = aids_of(conn, [attr]).get(attr)
            if tid is None or aid is None:
                return 0
            sql, params = "DELETE FROM attr_history WHERE tid = ? AND aid = ?", [tid, aid]
            if not delete_all:
                sql += " AND dataset = ?"
                params.append(dataset or "")
            return int(conn.execute(sql, params).rowcount)

        return await self._edit(job)  # type: ignore[no-any-return]

    async def delete_history(self, tenant: str, entity_id: str) -> int:
        """DELETE /temporal/entities/{id}."""

        def job(conn: sqlite3.Connection) -> int:
            tid = ids_of(conn, tenant, [entity_id]).get(entity_id)
            if tid is None:
                return 0
            return int(conn.execute("DELETE FROM attr_history WHERE tid = ?", (tid,)).rowcount)

        return await self._edit(job)  # type: ignore[no-any-return]

    async def prepare_history(self, times: Sequence[int]) -> None:
        """Nothing to prepare: SQLite history is one table."""

    async def maintain_history(self, now: int) -> None:
        """Nothing to maintain: aggregations read the raw rows."""

    async def enforce_retention(self, rules: Sequence[RetentionRule], now: int, batch: int) -> int:
        """The retention task: batched deletes, one short transaction per batch. Entities
        are taken 200 at a time so that the (tid, aid, ts) index finds the expired rows
        with one seek per attribute (there is no index on time alone: it would slow
        every write down)."""
        total = 0
        for rule, others in TR.rule_order(rules):
            cond, params = TR.rule_entities(DIALECT, rule, others, _types_has)
            tids = await self._read(
                lambda conn, c=cond, p=params: [
                    r[0] for r in conn.execute(f"SELECT tid FROM temporal_entity WHERE {c}", p)
                ]
            )
            aids = await self._read(
                lambda conn: [r[0] for r in conn.execute("SELECT aid FROM temporal_attr")]
            )
            for chunk in chunks(tids, 200):
                sql = (
                    f"DELETE FROM attr_history WHERE hid IN (SELECT hid FROM attr_history "
                    f"WHERE tid IN ({TS.aid_list(chunk)}) AND aid IN ({TS.aid_list(aids)}) "
                    f"AND ts < ? LIMIT {int(batch)})"
                )
                while True:
                    n = await self._edit(
                        lambda conn, s=sql, c=now - rule.keep_ms: conn.execute(s, (c,)).rowcount
                    )
                    total += n
                    if n < batch:
                        break
        return total

    async def export(
        self, tenant: str, entity_ids: Sequence[str], query: HistoryQuery
    ) -> AsyncIterator[tuple[str, StoredInstance]]:
        """``dosi export``: every matching instance, in keyset-paged batches."""
        for eid in entity_ids:
            cursor: tuple[int, int] | None = None
            while True:
                rows = await self._read(
                    lambda conn, c=cursor, e=eid: self._export_page(conn, tenant, e, query, c)
                )
                for inst, key in rows:
                    yield eid, inst
                    cursor = key
                if len(rows) < query.limit:
                    break

    def _export_page(
        self,
        conn: sqlite3.Connection,
        tenant: str,
        eid: str,
        query: HistoryQuery,
        cursor: tuple[int, int] | None,
    ) -> list[tuple[StoredInstance, Any]]:
        tids, aids, attr_of = self._lookup(conn, tenant, [eid], query.attrs)
        if eid not in tids:
            return []
        cond, params = TS.where(DIALECT, [tids[eid]], aids, query.datasets, query.time)
        t = TS.TIME_COLUMN[query.time.timeproperty]
        if cursor is not None:
            cond += f" AND ({t}, hid) > (?, ?)"
            params += list(cursor)
        rows = conn.execute(
            f"SELECT {TS.COLUMNS.format(t=t)}, hid FROM attr_history WHERE {cond} "
            f"ORDER BY {t}, hid LIMIT {int(query.limit)}",
            params,
        ).fetchall()
        return [(TS.decode_row(r, attr_of, int, _uri, orjson.loads), (r[3], r[9])) for r in rows]
