"""``SecurityStore`` on PostgreSQL: audit appends take a transaction-level advisory
lock, so hub processes sharing the database extend one chain in turn."""

from __future__ import annotations

from typing import Any

from dosi.security.policy import Rule
from dosi.storage import security_sql as Q
from dosi.storage.security_base import AuditEntry, AuditRow, Credential, SigningKey

_AUDIT_LOCK = 0x646F7369_61756474  # 'dosiaudt'
_DDL_LOCK = 0x646F7369_73656375  # 'dosisecu'


class PostgresSecurityStore:
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

    async def put_credential(self, cred: Credential) -> None:
        await self._write(Q.PUT_CREDENTIAL, Q.credential_params(cred))

    async def get_credential(self, kind: str, cred_id: str) -> Credential | None:
        rows = await self._rows(Q.GET_CREDENTIAL, (kind, cred_id))
        return Q.credential_of(rows[0]) if rows else None

    async def list_credentials(self, kind: str | None = None) -> list[Credential]:
        creds = [Q.credential_of(r) for r in await self._rows(Q.LIST_CREDENTIALS)]
        return [c for c in creds if kind is None or c.kind == kind]

    async def revoke_credential(self, kind: str, cred_id: str, at: str) -> bool:
        return await self._write(Q.REVOKE, (at, kind, cred_id)) > 0

    async def put_rule(self, rule: Rule) -> None:
        await self._write(Q.PUT_RULE, Q.rule_params(rule))

    async def list_rules(self) -> list[Rule]:
        return [Q.rule_of(r) for r in await self._rows(Q.LIST_RULES)]

    async def delete_rule(self, rule_id: str) -> bool:
        return await self._write(Q.DELETE_RULE, (rule_id,)) > 0

    async def signing_keys(self) -> list[SigningKey]:
        return [Q.key_of(r) for r in await self._rows(Q.SIGNING_KEYS)]

    async def add_signing_key(self, key: SigningKey) -> None:
        await self._write(Q.ADD_SIGNING_KEY, (key.kid, key.alg, key.private_pem,
                                              key.created_at))

    async def privacy_keys(self) -> list[tuple[int, str]]:
        return [(int(r[0]), str(r[1])) for r in await self._rows(Q.PRIVACY_KEYS)]

    async def add_privacy_key(self, version: int, secret_hex: str, at: str) -> None:
        await self._write(Q.ADD_PRIVACY_KEY, (version, secret_hex, at))

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
