"""``SecurityStore`` on SQLite: writes on the store's one writer thread (so audit
appends are serialised), reads on its reader pool."""

from __future__ import annotations

import sqlite3
from typing import Any

from dosi.storage import security_sql as Q
from dosi.storage.security_base import AuditEntry, AuditRow


def _q(sql: str) -> str:
    return sql.replace("%s", "?")


class SqliteSecurityStore(Q.SecurityRows):
    def __init__(self, store: Any) -> None:
        self._store = store

    async def _write(self, sql: str, params: tuple[Any, ...] = ()) -> int:
        def job(conn: sqlite3.Connection) -> int:
            return conn.execute(_q(sql), params).rowcount
        return int(await self._store._writer.run(job))

    async def _rows(self, sql: str, params: Any = ()) -> list[Any]:
        return await self._store._read(  # type: ignore[no-any-return]
            lambda conn: conn.execute(_q(sql), params).fetchall())

    async def init_security(self) -> None:
        def job(conn: sqlite3.Connection) -> None:
            for ddl in Q.DDL:
                conn.execute(ddl)
        await self._store._writer.run(job)

    async def append_audit(self, entries: list[AuditEntry]) -> None:
        if not entries:
            return

        def job(conn: sqlite3.Connection) -> None:
            head = conn.execute(Q.AUDIT_HEAD).fetchone()
            conn.executemany(_q(Q.AUDIT_INSERT), Q.chain(head, entries))
        await self._store._writer.run(job, size=len(entries))

    async def read_audit(self, after: int = 0, limit: int = 100, subject: str | None = None,
                         action: str | None = None, target: str | None = None
                         ) -> list[AuditRow]:
        sql, params = Q.audit_select(after, limit, subject, action, target)
        return [Q.audit_row(r) for r in await self._rows(sql, params)]
