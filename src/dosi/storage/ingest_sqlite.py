"""The ingest tables on SQLite: ``IngestStore`` for ``SqliteStore`` (a mixin). Writes run
on the store's one writer thread, reads on its reader pool."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from dosi.ngsild.values import now_iso
from dosi.storage import ingest_sql as Q
from dosi.storage.ingest_base import DeadLetter, Doc, IngestOutcome, QualityCounters


class SqliteIngest:
    """Mixin: needs ``self._writer`` (SqliteWriter) and ``self._read`` (reader pool)."""

    _writer: Any
    _read: Any

    async def put_ingest_doc(self, kind: str, doc_id: str, doc: Doc, mode: str) -> bool:
        now = now_iso()

        def job(conn: sqlite3.Connection) -> bool:
            if mode == "create":
                return conn.execute(Q.INSERT_DOC, (kind, doc_id, Q.dumps(doc), now, now)
                                    ).rowcount > 0
            if mode == "replace":
                return conn.execute(Q.REPLACE_DOC, (Q.dumps(doc), now, kind, doc_id)
                                    ).rowcount > 0
            conn.execute(Q.UPSERT_DOC, (kind, doc_id, Q.dumps(doc), now, now))
            return True

        return await self._writer.run(job)  # type: ignore[no-any-return]

    async def get_ingest_doc(self, kind: str, doc_id: str) -> Doc | None:
        row = await self._read(lambda c: c.execute(Q.GET_DOC, (kind, doc_id)).fetchone())
        return Q.loads(row[0]) if row else None

    async def list_ingest_docs(self, kind: str) -> list[Doc]:
        rows = await self._read(lambda c: c.execute(Q.LIST_DOCS, (kind,)).fetchall())
        return [Q.loads(r[0]) for r in rows]

    async def delete_ingest_doc(self, kind: str, doc_id: str) -> bool:
        def job(conn: sqlite3.Connection) -> bool:
            n = conn.execute(Q.DELETE_DOC, (kind, doc_id)).rowcount
            if kind == "dataset":
                for stmt in Q.DELETE_DATASET_ROWS:
                    conn.execute(stmt, (doc_id,))
            return n > 0

        return await self._writer.run(job)  # type: ignore[no-any-return]

    async def record_ingest(self, outcome: IngestOutcome) -> list[int]:
        now = now_iso()
        ds = outcome.dataset

        def job(conn: sqlite3.Connection) -> list[int]:
            ids = [conn.execute(Q.INSERT_DEAD, Q.dead_params(d, now)).fetchone()[0]
                   for d in outcome.dead_letters]
            conn.executemany(Q.REASON_DEAD, [(r, now, i, ds) for i, r in outcome.dead_reasons])
            conn.executemany(Q.DELETE_DEAD_ONE, [(i, ds) for i in outcome.dead_deleted])
            if Q.has_counts(outcome.quality):
                conn.execute(Q.BUMP_QUALITY, Q.quality_params(ds, outcome.quality))
            conn.executemany(Q.UPSERT_SEEN, [(ds, k, Q.dumps(v), now)
                                             for k, v in outcome.keys.items()])
            conn.executemany(Q.UPSERT_DOC, [(k, i, Q.dumps(d), now, now)
                                            for k, i, d in outcome.docs])
            return [int(i) for i in ids]

        size = len(outcome.dead_letters) + len(outcome.keys) + 1
        return await self._writer.run(job, size=size)  # type: ignore[no-any-return]

    async def seen_keys(self, dataset: str, keys: Sequence[str]) -> dict[str, Doc]:
        keys = list(dict.fromkeys(keys))
        if not keys:
            return {}

        def run(conn: sqlite3.Connection) -> dict[str, Doc]:
            out: dict[str, Doc] = {}
            for i in range(0, len(keys), 500):
                part = keys[i:i + 500]
                for k, v in conn.execute(Q.seen_query(len(part)), (dataset, *part)):
                    out[k] = Q.loads(v)
            return out

        return await self._read(run)  # type: ignore[no-any-return]

    async def list_dead_letters(
        self, dataset: str, limit: int, offset: int = 0, after_id: int = 0
    ) -> tuple[list[DeadLetter], int]:
        def run(conn: sqlite3.Connection) -> tuple[list[DeadLetter], int]:
            rows = conn.execute(Q.PAGE_DEAD, (dataset, after_id, limit, offset)).fetchall()
            (n,) = conn.execute(Q.COUNT_DEAD, (dataset,)).fetchone()
            return [Q.dead_row(r) for r in rows], int(n)

        return await self._read(run)  # type: ignore[no-any-return]

    async def delete_dead_letters(self, dataset: str, ids: Sequence[int] | None) -> int:
        def job(conn: sqlite3.Connection) -> int:
            if ids is None:
                return conn.execute(Q.DELETE_DEAD_ALL, (dataset,)).rowcount
            return sum(conn.execute(Q.DELETE_DEAD_ONE, (i, dataset)).rowcount for i in ids)

        return await self._writer.run(job)  # type: ignore[no-any-return]

    async def get_quality(self, dataset: str) -> QualityCounters:
        row = await self._read(lambda c: c.execute(Q.GET_QUALITY, (dataset,)).fetchone())
        return Q.quality_row(row)
