"""The security contract: credentials (OAuth2 clients, API keys), rules, the hub's
token signing keys and the hash-chained audit log, kept in the hub's own store.

``security_store_for(store)`` gives the implementation for an open ``Store``; both
backends keep these in tables of the same database as the data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from dosi.security.policy import Rule


@dataclass
class Credential:
    """An OAuth2 client (``kind="client"``) or a machine API key (``kind="apikey"``).
    Only the SHA-256 of the secret is kept."""

    kind: str
    id: str
    secret_hash: str
    roles: list[str]
    tenants: list[str] | None = None
    label: str = ""
    created_at: str = ""
    expires_at: str | None = None
    revoked_at: str | None = None


@dataclass
class SigningKey:
    kid: str
    alg: str
    private_pem: str
    created_at: str


@dataclass
class AuditEntry:
    """One audited event, before it is chained."""

    at: str
    subject: str
    action: str
    tenant: str = ""
    target: str = ""
    detail: dict[str, Any] | None = None


@dataclass
class AuditRow:
    """A stored audit record: ``hash`` covers ``prev_hash`` and every field."""

    seq: int
    at: str
    subject: str
    action: str
    tenant: str
    target: str
    detail: dict[str, Any] | None
    prev_hash: str
    hash: str


class SecurityStore(Protocol):
    async def init_security(self) -> None:
        """Create the security tables if missing (hub start-up, ``dosi auth``)."""
        ...

    async def put_credential(self, cred: Credential) -> None:
        """Insert or replace a client or API key (``dosi auth client|key create``)."""
        ...

    async def get_credential(self, kind: str, cred_id: str) -> Credential | None:
        """One credential (authentication of each request, token endpoint)."""
        ...

    async def list_credentials(self, kind: str | None = None) -> list[Credential]: ...

    async def revoke_credential(self, kind: str, cred_id: str, at: str) -> bool:
        """Mark revoked (``dosi auth key revoke``); False if unknown."""
        ...

    async def put_rule(self, rule: Rule) -> None: ...

    async def list_rules(self) -> list[Rule]:
        """Every rule (loaded by the hub, cached a few seconds)."""
        ...

    async def delete_rule(self, rule_id: str) -> bool: ...

    async def signing_keys(self) -> list[SigningKey]:
        """The built-in issuer's keys, newest first (token endpoint, jwks.json)."""
        ...

    async def add_signing_key(self, key: SigningKey) -> None: ...

    async def privacy_keys(self) -> list[tuple[int, str]]:
        """(version, hex secret) of the pseudonymisation keys, oldest first."""
        ...

    async def add_privacy_key(self, version: int, secret_hex: str, at: str) -> None:
        """A new key version (``dosi auth privacy-key rotate``)."""
        ...

    async def append_audit(self, entries: list[AuditEntry]) -> None:
        """Append in order, each chained to the one before, in one transaction that
        serialises with every other appender (also in other hub processes)."""
        ...

    async def read_audit(self, after: int = 0, limit: int = 100, subject: str | None = None,
                         action: str | None = None, target: str | None = None
                         ) -> list[AuditRow]:
        """Records with seq > after in seq order (GET /dosi/v1/audit, ``dosi audit``)."""
        ...


def security_store_for(store: Any) -> SecurityStore:
    """The security tables of an open store (SQLite or PostgreSQL)."""
    from dosi.storage.postgres import PostgresStore
    from dosi.storage.sqlite import SqliteStore

    if isinstance(store, SqliteStore):
        from dosi.storage.security_sqlite import SqliteSecurityStore

        return SqliteSecurityStore(store)
    if isinstance(store, PostgresStore):
        from dosi.storage.security_postgres import PostgresSecurityStore

        return PostgresSecurityStore(store)
    inner = getattr(store, "inner", None)
    if inner is not None:
        return security_store_for(inner)
    raise TypeError(f"no security storage for {type(store).__name__}")
