"""Subscriptions and live streams under authorisation: what a subscriber may select
and filter on, who may manage a subscription, and changes as the subscriber may see
them when a notification is sent."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dosi.errors import ForbiddenError
from dosi.security.guard import Entity, q_attrs, strip
from dosi.security.policy import TypeScope
from dosi.security.principal import Principal


def check_subscription(p: Principal, tenant: str, live: Any, op: str = "subscribe") -> None:
    """A subscription (or live stream, ``op="read"``) may only select entity types the
    caller may ``op``, and filter on attributes it may read: its notifications must
    not reveal, by arriving, what the caller could not query."""
    if p.superuser:
        return
    if not p.tenant_ok(tenant):
        raise ForbiddenError(f"you have no access to tenant {tenant or '(default)'}")
    types = live.type_keys

    def covers(scope: TypeScope) -> bool:
        return scope.unrestricted if types is None else all(scope.admits([t]) for t in types)

    if not covers(p.policy.scope(op, tenant)):
        raise ForbiddenError(f"you may not {op} to these entity types")
    attrs = q_attrs(live.q) | set(live.watched or ())
    if live.geo_q is not None:
        attrs.add(live.geo_q.geoproperty)
    for attr in sorted(attrs):
        if not covers(p.policy.scope("read", tenant, attr)):
            raise ForbiddenError(f"you may not read attribute {attr}")


def may_manage(p: Principal, doc: dict[str, Any]) -> bool:
    """Subscriptions are their subscriber's (admins of the data manage them all)."""
    from dosi.security.policy import DATA_ADMIN

    if p.superuser or p.kind == "system" or DATA_ADMIN in p.roles:
        return True
    owner = doc.get("_subscriber") or {}
    return owner.get("sub") == p.subject and owner.get("kind") == p.kind


def subscriber_view(p: Principal, tenant: str,
                    changes: Sequence[tuple[Entity | None, Entity | None, str]]
                    ) -> list[tuple[Entity | None, Entity | None, str]]:
    """The changes as the subscriber may see them now (nothing: left out)."""
    out = []
    for before, after, at in changes:
        b, a = strip(p, tenant, before), strip(p, tenant, after)
        if a is not None or (after is None and b is not None):
            out.append((b, a, at))
    return out


def guarded_linker(p: Principal, linker: Any) -> Any:
    """Linked entities (join) as ``p`` may see them."""
    async def linked(tenant: str, entities: Sequence[Entity], levels: int) -> dict[str, Entity]:
        found = await linker(tenant, entities, levels)
        return {k: v for k, v in ((k, strip(p, tenant, e)) for k, e in found.items())
                if v is not None}
    return linked
