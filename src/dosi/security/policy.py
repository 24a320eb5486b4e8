"""Roles and rules: who may read, write, delete or subscribe to what.

A rule names a role and grants (``allow``) or withdraws (``deny``) operations over
tenant x entity type x attribute; ``*`` is any. Deny wins over allow. Three roles
carry a baseline grant of their own (``system-admin``: everything, rules aside;
``data-admin``: every operation; ``connectivity-admin``: read, write, subscribe);
``consumer`` and ``public`` (callers without credentials) have only what rules give.
Pure: no I/O; the principal carries the rules of its roles.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

OPERATIONS = ("read", "write", "delete", "subscribe")
ANY = "*"

SYSTEM_ADMIN = "system-admin"
DATA_ADMIN = "data-admin"
CONNECTIVITY_ADMIN = "connectivity-admin"
CONSUMER = "consumer"
PUBLIC = "public"
ROLES = (SYSTEM_ADMIN, DATA_ADMIN, CONNECTIVITY_ADMIN, CONSUMER, PUBLIC)

BASELINE: dict[str, frozenset[str]] = {
    DATA_ADMIN: frozenset(OPERATIONS),
    CONNECTIVITY_ADMIN: frozenset({"read", "write", "subscribe"}),
}


@dataclass(frozen=True)
class Rule:
    """``role`` may (``allow``) or may not (``deny``) do ``operations`` on attribute
    ``attribute`` of entities of type ``type`` in tenant ``tenant`` (IRIs, or ``*``)."""

    role: str
    operations: frozenset[str]
    tenant: str = ANY
    type: str = ANY
    attribute: str = ANY
    effect: str = "allow"
    id: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "role": self.role, "operations": sorted(self.operations),
                "tenant": self.tenant, "type": self.type, "attribute": self.attribute,
                "effect": self.effect}

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Rule:
        return cls(role=raw["role"], operations=frozenset(raw["operations"]),
                   tenant=raw.get("tenant", ANY), type=raw.get("type", ANY),
                   attribute=raw.get("attribute", ANY), effect=raw.get("effect", "allow"),
                   id=raw.get("id", ""))


def check_rule(rule: Rule) -> None:
    """ValueError with a readable message for a rule that cannot be right."""
    if rule.role not in ROLES:
        raise ValueError(f"unknown role {rule.role!r}: one of {', '.join(ROLES)}")
    bad = rule.operations - set(OPERATIONS)
    if bad or not rule.operations:
        raise ValueError(f"operations must be some of {', '.join(OPERATIONS)}")
    if rule.effect not in ("allow", "deny"):
        raise ValueError("effect must be allow or deny")


@dataclass(frozen=True)
class TypeScope:
    """The entity types an operation reaches: every type (``every``) but ``exclude``,
    or only ``include``. ``TypeScope(False)`` reaches nothing."""

    every: bool
    include: frozenset[str] = frozenset()
    exclude: frozenset[str] = frozenset()

    @property
    def unrestricted(self) -> bool:
        return self.every and not self.exclude

    @property
    def empty(self) -> bool:
        return not self.every and not self.include

    def __and__(self, other: TypeScope) -> TypeScope:
        if self.every and other.every:
            return TypeScope(True, exclude=self.exclude | other.exclude)
        if self.every:
            return TypeScope(False, include=other.include - self.exclude)
        if other.every:
            return TypeScope(False, include=self.include - other.exclude)
        return TypeScope(False, include=self.include & other.include)

    def admits(self, types: Iterable[str]) -> bool:
        types = list(types)
        if any(t in self.exclude for t in types):
            return False
        return self.every or any(t in self.include for t in types)


@dataclass
class Policy:
    """The rules of a caller's roles, with answers cached per question."""

    roles: frozenset[str]
    rules: tuple[Rule, ...]
    _cache: dict[Any, Any] = field(default_factory=dict, repr=False)

    @property
    def superuser(self) -> bool:
        return SYSTEM_ADMIN in self.roles

    def _matching(self, op: str, tenant: str) -> tuple[list[Rule], list[Rule]]:
        key = ("m", op, tenant)
        hit = self._cache.get(key)
        if hit is None:
            allow = [Rule(r, frozenset(ops)) for r, ops in BASELINE.items()
                     if r in self.roles and op in ops]
            deny = []
            for rule in self.rules:
                if rule.role in self.roles and op in rule.operations \
                        and rule.tenant in (ANY, tenant):
                    (allow if rule.effect == "allow" else deny).append(rule)
            hit = self._cache[key] = (allow, deny)
        return hit  # type: ignore[no-any-return]

    def has_any(self, op: str, tenant: str) -> bool:
        """Some rule grants ``op`` somewhere in ``tenant``."""
        return self.superuser or bool(self._matching(op, tenant)[0])

    def scope(self, op: str, tenant: str, attr: str | None = None) -> TypeScope:
        """The entity types whose entities (attr None) or whose attribute ``attr`` the
        caller may ``op`` in ``tenant``."""
        key = ("s", op, tenant, attr)
        hit = self._cache.get(key)
        if hit is not None:
            return hit  # type: ignore[no-any-return]
        if self.superuser:
            out = TypeScope(True)
        else:
            allow, deny = self._matching(op, tenant)
            names = (ANY,) if attr is None else (ANY, attr)
            # an entity is reached by a grant on any of its attributes
            allowed = [r.type for r in allow if attr is None or r.attribute in names]
            denied = {r.type for r in deny if r.attribute in names}
            if ANY in denied:
                out = TypeScope(False)
            elif ANY in allowed:
                out = TypeScope(True, exclude=frozenset(denied))
            else:
                out = TypeScope(False, include=frozenset(allowed) - denied)
        self._cache[key] = out
        return out

    def attr_rules(self, op: str, tenant: str) -> bool:
        """Whether some rule limits ``op`` to some attributes (else whole entities)."""
        key = ("a", op, tenant)
        hit = self._cache.get(key)
        if hit is None:
            allow, deny = self._matching(op, tenant)
            hit = self._cache[key] = any(r.attribute != ANY for r in allow + deny)
        return hit  # type: ignore[no-any-return]

    def readable(self, op: str, tenant: str, types: tuple[str, ...], attr: str) -> bool:
        """``allows`` for one attribute of an entity of these types, memoised (called
        for every attribute of every entity of an answer)."""
        key = (op, tenant, types, attr)
        hit = self._cache.get(key)
        if hit is None:
            hit = self._cache[key] = self.scope(op, tenant, attr).admits(types)
        return hit  # type: ignore[no-any-return]

    def allows(self, op: str, tenant: str, types: Iterable[str], attr: str | None = None) -> bool:
        """May the caller ``op`` an entity of these types (or its attribute ``attr``)?"""
        if self.superuser:
            return True
        types = list(types)
        if not self.scope(op, tenant).admits(types):
            return False
        return attr is None or self.scope(op, tenant, attr).admits(types)
