"""The caller of one request: ``Principal``, set by the HTTP middleware in a context
variable that the services consult (``current()``); work the hub does on its own
(delivery, retention, the sample) runs as ``SYSTEM``."""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from dosi.security.policy import PUBLIC, SYSTEM_ADMIN, Policy, Rule


@dataclass(frozen=True)
class Principal:
    """Who calls: ``subject`` (client id, API key id, token ``sub``), ``kind`` (token,
    apikey, anonymous, system), its roles, the tenants it is confined to (None: any)
    and the policy of its roles."""

    subject: str
    kind: str
    roles: frozenset[str]
    tenants: frozenset[str] | None = None
    policy: Policy = field(default_factory=lambda: Policy(frozenset(), ()), compare=False)
    privacy: Any = field(default=None, compare=False)  # security.privacy.Privacy

    @property
    def anonymous(self) -> bool:
        return self.kind == "anonymous"

    @property
    def superuser(self) -> bool:
        return SYSTEM_ADMIN in self.roles and self.tenants is None

    def tenant_ok(self, tenant: str) -> bool:
        return self.tenants is None or tenant in self.tenants

    def ref(self) -> dict[str, Any]:
        """What a subscription records of its subscriber (rights are looked up again
        at each notification)."""
        out: dict[str, Any] = {"sub": self.subject, "kind": self.kind,
                               "roles": sorted(self.roles)}
        if self.tenants is not None:
            out["tenants"] = sorted(self.tenants)
        return out


def make_principal(subject: str, kind: str, roles: frozenset[str],
                   tenants: frozenset[str] | None, rules: tuple[Rule, ...],
                   privacy: Any = None) -> Principal:
    mine = tuple(r for r in rules if r.role in roles)
    return Principal(subject, kind, roles, tenants, Policy(roles, mine), privacy or None)


SYSTEM = make_principal("dosi", "system", frozenset({SYSTEM_ADMIN}), None, ())
"""The hub itself (and every caller while authentication is off)."""

_current: contextvars.ContextVar[Principal] = contextvars.ContextVar(
    "dosi_principal", default=SYSTEM)


def current() -> Principal:
    return _current.get()


def set_current(principal: Principal) -> contextvars.Token[Principal]:
    return _current.set(principal)


def reset_current(token: contextvars.Token[Principal]) -> None:
    _current.reset(token)


@contextmanager
def acting_as(principal: Principal) -> Iterator[None]:
    token = _current.set(principal)
    try:
        yield
    finally:
        _current.reset(token)


def anonymous(rules: tuple[Rule, ...], privacy: Any = None) -> Principal:
    return make_principal("anonymous", "anonymous", frozenset({PUBLIC}), None, rules, privacy)
