"""``SecurityStore`` on SQLite: writes on the store's one writer thread (so audit
appends are serialised), reads on its reader pool."""

from __future__ import annotations

import sqlite3
from typing import Any

from dosi.security.policy import Rule
from dosi.storage import security_sql as Q
from dosi.storage.security_base import AuditEntry, AuditRow, Credential, SigningKey


def _q(sql: str) -> str:
    return sql.replace("%s", "?")


class SqliteSecurityStore:
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

        def job(conn: sqlite3.Connection) -> None:
            head = conn.execute(Q.AUDIT_HEAD).fetchone()
            conn.executemany(_q(Q.AUDIT_INSERT), Q.chain(head, entries))
        await self._store._writer.run(job, size=len(entries))

    async def read_audit(self, after: int = 0, limit: int = 100, subject: str | None = None,
                         action: str | None = None, target: str | None = None
                         ) -> list[AuditRow]:
        sql, params = Q.audit_select(after, limit, subject, action, target)
        return [Q.audit_row(r) for r in await self._rows(sql, params)]
