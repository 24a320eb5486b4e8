"""The ingest tables on PostgreSQL: ``IngestStore`` for ``PostgresStore`` (a mixin), on
the store's connection pool; each call is one transaction."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dosi.ngsild.values import now_iso
from dosi.storage import ingest_sql as Q
from dosi.storage.ingest_base import DeadLetter, Doc, IngestOutcome, QualityCounters


def _pg(sql: str) -> str:
    return sql.replace("?", "%s")


class PostgresIngest:
    """Mixin: needs ``self._pool`` (psycopg AsyncConnectionPool, autocommit)."""

    _pool: Any

    async def put_ingest_doc(self, kind: str, doc_id: str, doc: Doc, mode: str) -> bool:
        now = now_iso()
        async with self._pool.connection() as conn:
            if mode == "create":
                cur = await conn.execute(_pg(Q.INSERT_DOC), (kind, doc_id, Q.dumps(doc), now, now))
            elif mode == "replace":
                cur = await conn.execute(_pg(Q.REPLACE_DOC), (Q.dumps(doc), now, kind, doc_id))
            else:
                await conn.execute(_pg(Q.UPSERT_DOC), (kind, doc_id, Q.dumps(doc), now, now))
                return True
            return bool(cur.rowcount > 0)

    async def get_ingest_doc(self, kind: str, doc_id: str) -> Doc | None:
        async with self._pool.connection() as conn:
            row = await (await conn.execute(_pg(Q.GET_DOC), (kind, doc_id))).fetchone()
        return Q.loads(row[0]) if row else None

    async def list_ingest_docs(self, kind: str) -> list[Doc]:
        async with self._pool.connection() as conn:
            rows = await (await conn.execute(_pg(Q.LIST_DOCS), (kind,))).fetchall()
        return [Q.loads(r[0]) for r in rows]

    async def delete_ingest_doc(self, kind: str, doc_id: str) -> bool:
        async with self._pool.connection() as conn, conn.transaction():
            cur = await conn.execute(_pg(Q.DELETE_DOC), (kind, doc_id))
            if kind == "dataset":
                for stmt in Q.DELETE_DATASET_ROWS:
                    await conn.execute(_pg(stmt), (doc_id,))
            return bool(cur.rowcount > 0)

    async def record_ingest(self, outcome: IngestOutcome) -> list[int]:
        now = now_iso()
        ds = outcome.dataset
        ids: list[int] = []
        async with self._pool.connection() as conn, conn.transaction():
            for d in outcome.dead_letters:
                row = await (await conn.execute(_pg(Q.INSERT_DEAD), Q.dead_params(d, now))
                             ).fetchone()
                ids.append(int(row[0]))
            async with conn.cursor() as cur:
                if outcome.dead_reasons:
                    await cur.executemany(_pg(Q.REASON_DEAD),
                                          [(r, now, i, ds) for i, r in outcome.dead_reasons])
                if outcome.dead_deleted:
                    await cur.executemany(_pg(Q.DELETE_DEAD_ONE),
                                          [(i, ds) for i in outcome.dead_deleted])
                if Q.has_counts(outcome.quality):
                    await cur.execute(_pg(Q.BUMP_QUALITY), Q.quality_params(ds, outcome.quality))
                if outcome.keys:
                    await cur.executemany(_pg(Q.UPSERT_SEEN), [
                        (ds, k, Q.dumps(v), now) for k, v in sorted(outcome.keys.items())])
                if outcome.docs:
                    await cur.executemany(_pg(Q.UPSERT_DOC), [
                        (k, i, Q.dumps(d), now, now) for k, i, d in outcome.docs])
        return ids

    async def seen_keys(self, dataset: str, keys: Sequence[str]) -> dict[str, Doc]:
        keys = list(dict.fromkeys(keys))
        if not keys:
            return {}
        async with self._pool.connection() as conn:
            rows = await (await conn.execute(
                "SELECT key, verdict FROM ingest_seen WHERE dataset = %s AND key = ANY(%s)",
                (dataset, keys))).fetchall()
        return {k: Q.loads(v) for k, v in rows}

    async def list_dead_letters(
        self, dataset: str, limit: int, offset: int = 0, after_id: int = 0
    ) -> tuple[list[DeadLetter], int]:
        async with self._pool.connection() as conn:
            rows = await (await conn.execute(_pg(Q.PAGE_DEAD),
                                             (dataset, after_id, limit, offset))).fetchall()
            (n,) = await (await conn.execute(_pg(Q.COUNT_DEAD), (dataset,))).fetchone()
        return [Q.dead_row(r) for r in rows], int(n)

    async def delete_dead_letters(self, dataset: str, ids: Sequence[int] | None) -> int:
        async with self._pool.connection() as conn:
            if ids is None:
                cur = await conn.execute(_pg(Q.DELETE_DEAD_ALL), (dataset,))
            else:
                cur = await conn.execute(
                    "DELETE FROM ingest_dead WHERE dataset = %s AND oid = ANY(%s)",
                    (dataset, list(ids)))
            return int(cur.rowcount)

    async def get_quality(self, dataset: str) -> QualityCounters:
        async with self._pool.connection() as conn:
            row = await (await conn.execute(_pg(Q.GET_QUALITY), (dataset,))).fetchone()
        return Q.quality_row(row)
