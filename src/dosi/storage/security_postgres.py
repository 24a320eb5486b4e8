"""``SecurityStore`` on PostgreSQL: audit appends take a transaction-level advisory
lock, so hub processes sharing the database extend one chain in turn."""

from __future__ import annotations

from typing import Any

from dosi.storage import security_sql as Q
from dosi.storage.security_base import AuditEntry, AuditRow

_AUDIT_LOCK = 0x646F7369_61756474  # 'dosiaudt'
_DDL_LOCK = 0x646F7369_73656375  # 'dosisecu'


class PostgresSecurityStore(Q.SecurityRows):
    def __init__(self, store: Any) -> None:
        self._pool = store._pool

    async def _write(self, sql: str, params: Any = ()) -> int:
        async with self._pool.connection() as conn, conn.transaction():
            cur = await conn.execute(sql, params)
            return int(cur.rowcount)

    async def _rows(self, sql: str, params: Any = ()) -> list[Any]:
        async with self._pool.connection() as conn:
            cur = await conn.execute(sql, params)
            return list(await cur.fetchall())

    async def init_security(self) -> None:
        async with self._pool.connection() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_DDL_LOCK,))
            for ddl in Q.DDL:
                await conn.execute(ddl)  # type: ignore[arg-type]

    async def append_audit(self, entries: list[AuditEntry]) -> None:
        if not entries:
            return
        async with self._pool.connection() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_AUDIT_LOCK,))
            cur = await conn.execute(Q.AUDIT_HEAD)
            head = await cur.fetchone()
            async with conn.cursor() as c:
                await c.executemany(Q.AUDIT_INSERT, Q.chain(head, entries))

    async def read_audit(self, after: int = 0, limit: int = 100, subject: str | None = None,
                         action: str | None = None, target: str | None = None
                         ) -> list[AuditRow]:
        sql, params = Q.audit_select(after, limit, subject, action, target)
        return [Q.audit_row(r) for r in await self._rows(sql, params)]
