"""SQL shared by both backends for the security tables (``%s`` placeholders; the
SQLite backend swaps them for ``?``)."""

from __future__ import annotations

from typing import Any

import orjson

from dosi.security.chain import GENESIS, record_hash
from dosi.security.policy import Rule
from dosi.storage.security_base import AuditEntry, AuditRow, Credential, SigningKey

DDL = [
    """CREATE TABLE IF NOT EXISTS auth_credential (
        kind TEXT NOT NULL, id TEXT NOT NULL, secret_hash TEXT NOT NULL,
        roles TEXT NOT NULL, tenants TEXT, label TEXT NOT NULL DEFAULT '',
        created_at TEXT NOT NULL, expires_at TEXT, revoked_at TEXT,
        PRIMARY KEY (kind, id))""",
    """CREATE TABLE IF NOT EXISTS auth_rule (
        id TEXT PRIMARY KEY, role TEXT NOT NULL, operations TEXT NOT NULL,
        tenant TEXT NOT NULL, type TEXT NOT NULL, attribute TEXT NOT NULL,
        effect TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS auth_signing_key (
        kid TEXT PRIMARY KEY, alg TEXT NOT NULL, private_pem TEXT NOT NULL,
        created_at TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS privacy_key (
        version INTEGER PRIMARY KEY, secret TEXT NOT NULL, created_at TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS audit_log (
        seq BIGINT PRIMARY KEY, at TEXT NOT NULL, subject TEXT NOT NULL,
        action TEXT NOT NULL, tenant TEXT NOT NULL, target TEXT NOT NULL,
        detail TEXT, prev_hash TEXT NOT NULL, hash TEXT NOT NULL)""",
]

PUT_CREDENTIAL = (
    "INSERT INTO auth_credential (kind, id, secret_hash, roles, tenants, label, created_at, "
    "expires_at, revoked_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) "
    "ON CONFLICT (kind, id) DO UPDATE SET secret_hash = excluded.secret_hash, "
    "roles = excluded.roles, tenants = excluded.tenants, label = excluded.label, "
    "expires_at = excluded.expires_at, revoked_at = excluded.revoked_at")
CREDENTIAL_COLS = ("kind, id, secret_hash, roles, tenants, label, created_at, expires_at, "
                   "revoked_at")
GET_CREDENTIAL = f"SELECT {CREDENTIAL_COLS} FROM auth_credential WHERE kind = %s AND id = %s"
LIST_CREDENTIALS = f"SELECT {CREDENTIAL_COLS} FROM auth_credential ORDER BY kind, created_at, id"
REVOKE = ("UPDATE auth_credential SET revoked_at = %s WHERE kind = %s AND id = %s "
          "AND revoked_at IS NULL")
PUT_RULE = (
    "INSERT INTO auth_rule (id, role, operations, tenant, type, attribute, effect) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO UPDATE SET role = excluded.role, "
    "operations = excluded.operations, tenant = excluded.tenant, type = excluded.type, "
    "attribute = excluded.attribute, effect = excluded.effect")
LIST_RULES = "SELECT id, role, operations, tenant, type, attribute, effect FROM auth_rule ORDER BY id"
DELETE_RULE = "DELETE FROM auth_rule WHERE id = %s"
SIGNING_KEYS = ("SELECT kid, alg, private_pem, created_at FROM auth_signing_key "
                "ORDER BY created_at DESC, kid")
ADD_SIGNING_KEY = ("INSERT INTO auth_signing_key (kid, alg, private_pem, created_at) "
                   "VALUES (%s, %s, %s, %s) ON CONFLICT (kid) DO NOTHING")
PRIVACY_KEYS = "SELECT version, secret FROM privacy_key ORDER BY version"
ADD_PRIVACY_KEY = ("INSERT INTO privacy_key (version, secret, created_at) VALUES (%s, %s, %s) "
                   "ON CONFLICT (version) DO NOTHING")
AUDIT_HEAD = "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1"
AUDIT_INSERT = ("INSERT INTO audit_log (seq, at, subject, action, tenant, target, detail, "
                "prev_hash, hash) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)")
AUDIT_COLS = "seq, at, subject, action, tenant, target, detail, prev_hash, hash"


def credential_params(c: Credential) -> tuple[Any, ...]:
    return (c.kind, c.id, c.secret_hash, orjson.dumps(c.roles).decode(),
            None if c.tenants is None else orjson.dumps(c.tenants).decode(), c.label,
            c.created_at, c.expires_at, c.revoked_at)


def credential_of(row: Any) -> Credential:
    return Credential(row[0], row[1], row[2], orjson.loads(row[3]),
                      None if row[4] is None else orjson.loads(row[4]), row[5], row[6],
                      row[7], row[8])


def rule_params(r: Rule) -> tuple[Any, ...]:
    return (r.id, r.role, ",".join(sorted(r.operations)), r.tenant, r.type, r.attribute,
            r.effect)


def rule_of(row: Any) -> Rule:
    return Rule(id=row[0], role=row[1], operations=frozenset(row[2].split(",")),
                tenant=row[3], type=row[4], attribute=row[5], effect=row[6])


def key_of(row: Any) -> SigningKey:
    return SigningKey(row[0], row[1], row[2], row[3])


def chain(head: Any, entries: list[AuditEntry]) -> list[tuple[Any, ...]]:
    """Rows for ``entries`` chained after ``head`` (seq, hash) or from the start."""
    seq, prev = (int(head[0]), str(head[1])) if head else (0, GENESIS)
    rows = []
    for e in entries:
        seq += 1
        h = record_hash(prev, seq, e.at, e.subject, e.action, e.tenant, e.target, e.detail)
        detail = None if e.detail is None else orjson.dumps(e.detail).decode()
        rows.append((seq, e.at, e.subject, e.action, e.tenant, e.target, detail, prev, h))
        prev = h
    return rows


def audit_select(after: int, limit: int, subject: str | None, action: str | None,
                 target: str | None) -> tuple[str, list[Any]]:
    where, params = ["seq > %s"], [after]
    for col, value in (("subject", subject), ("action", action), ("target", target)):
        if value is not None:
            where.append(f"{col} = %s")
            params.append(value)
    params.append(limit)
    sql = f"SELECT {AUDIT_COLS} FROM audit_log WHERE {' AND '.join(where)} ORDER BY seq LIMIT %s"
    return sql, params


def audit_row(row: Any) -> AuditRow:
    return AuditRow(int(row[0]), row[1], row[2], row[3], row[4], row[5],
                    None if row[6] is None else orjson.loads(row[6]), row[7], row[8])


class SecurityRows:
    """The ``SecurityStore`` methods that are the same on every store: a subclass gives
    ``_write(sql, params) -> rowcount`` and ``_rows(sql, params) -> rows`` (``%s``
    placeholders), its DDL and its audit append."""

    async def _write(self, sql: str, params: Any = ()) -> int:
        raise NotImplementedError

    async def _rows(self, sql: str, params: Any = ()) -> list[Any]:
        raise NotImplementedError

    async def put_credential(self, cred: Credential) -> None:
        await self._write(PUT_CREDENTIAL, credential_params(cred))

    async def get_credential(self, kind: str, cred_id: str) -> Credential | None:
        rows = await self._rows(GET_CREDENTIAL, (kind, cred_id))
        return credential_of(rows[0]) if rows else None

    async def list_credentials(self, kind: str | None = None) -> list[Credential]:
        creds = [credential_of(r) for r in await self._rows(LIST_CREDENTIALS)]
        return [c for c in creds if kind is None or c.kind == kind]

    async def revoke_credential(self, kind: str, cred_id: str, at: str) -> bool:
        return await self._write(REVOKE, (at, kind, cred_id)) > 0

    async def put_rule(self, rule: Rule) -> None:
        await self._write(PUT_RULE, rule_params(rule))

    async def list_rules(self) -> list[Rule]:
        return [rule_of(r) for r in await self._rows(LIST_RULES)]

    async def delete_rule(self, rule_id: str) -> bool:
        return await self._write(DELETE_RULE, (rule_id,)) > 0

    async def signing_keys(self) -> list[SigningKey]:
        return [key_of(r) for r in await self._rows(SIGNING_KEYS)]

    async def add_signing_key(self, key: SigningKey) -> None:
        await self._write(ADD_SIGNING_KEY, (key.kid, key.alg, key.private_pem,
                                              key.created_at))

    async def privacy_keys(self) -> list[tuple[int, str]]:
        return [(int(r[0]), str(r[1])) for r in await self._rows(PRIVACY_KEYS)]

    async def add_privacy_key(self, version: int, secret_hex: str, at: str) -> None:
        await self._write(ADD_PRIVACY_KEY, (version, secret_hex, at))
