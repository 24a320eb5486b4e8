"""Which subscriptions a change concerns: compiled subscriptions, indexed by entity
type per tenant, evaluated inside the write transaction (``ChangeHook.notices``).

The index is rebuilt off the write path and swapped in whole, so the writer thread
(SQLite) and the event loop read it without locks.
"""

from __future__ import annotations

import re
import time
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from dosi.ngsild.context import ActiveContext
from dosi.ngsild.notification import AttrChanges, attr_changes, trigger_for
from dosi.ngsild.query.ast import GeoQuery, QExpr, ScopeExpr, TypeExpr, TypeName
from dosi.ngsild.query.evaluate import (
    compile_id_pattern,
    matches_geo,
    matches_q,
    matches_scope,
    matches_types,
)
from dosi.ngsild.query.geo import geo_query_from_json
from dosi.ngsild.query.q import parse_q
from dosi.ngsild.query.scopeq import parse_scope_q
from dosi.ngsild.query.types import parse_type_expr
from dosi.ngsild.subscription import DEFAULT_TRIGGERS
from dosi.ngsild.values import parse_datetime
from dosi.storage.subscription_base import Change, Notice

Entity = dict[str, Any]


@dataclass(frozen=True)
class Selector:
    types: TypeExpr
    id: str | None = None
    pattern: re.Pattern[str] | None = None

    def matches(self, entity: Entity) -> bool:
        if self.id is not None and entity["id"] != self.id:
            return False
        if self.pattern is not None and not self.pattern.fullmatch(entity["id"]):
            return False
        return matches_types(self.types, entity)


@dataclass
class LiveSubscription:
    """A subscription compiled for matching (also used for live streams)."""

    tenant: str
    id: str
    doc: dict[str, Any]
    ctx: ActiveContext
    selectors: tuple[Selector, ...] = ()
    watched: frozenset[str] | None = None
    triggers: frozenset[str] = frozenset(DEFAULT_TRIGGERS)
    q: QExpr | None = None
    scope_q: ScopeExpr | None = None
    geo_q: GeoQuery | None = None
    active: bool = True
    expires_ms: int | None = None
    periodic: bool = False
    show_changes: bool = False
    type_keys: tuple[str, ...] | None = None  # plain type IRIs for the index; None: any
    match_key: tuple[Any, ...] = ()  # equal keys: same answer for every change

    def is_active(self, now_ms: int) -> bool:
        return self.active and (self.expires_ms is None or now_ms < self.expires_ms)

    def filters(self, entity: Entity) -> bool:
        if self.selectors and not any(s.matches(entity) for s in self.selectors):
            return False
        if self.q is not None and not matches_q(self.q, entity):
            return False
        if self.scope_q is not None and not matches_scope(self.scope_q, entity):
            return False
        return self.geo_q is None or matches_geo(self.geo_q, entity)

    def trigger(self, before: Entity | None, after: Entity | None,
                changes: AttrChanges | None = None) -> str | None:
        trig = trigger_for(self.triggers, self.watched, before, after, changes)
        if trig is None:
            return None
        return trig if self.filters(after if after is not None else before or {}) else None


def compile_subscription(tenant: str, doc: dict[str, Any], ctx: ActiveContext,
                         qctx: ActiveContext | None = None) -> LiveSubscription:
    """Compile a stored subscription (internal form, ``ngsild.subscription``)."""
    qctx = qctx or ctx
    selectors = []
    keys: list[str] | None = []
    for sel in doc.get("entities", []):
        expr = parse_type_expr(sel["type"], lambda t: t)
        if isinstance(expr, TypeName) and keys is not None:
            keys.append(expr.iri)
        else:
            keys = None
        pattern = compile_id_pattern(sel["idPattern"]) if "idPattern" in sel else None
        selectors.append(Selector(expr, sel.get("id"), pattern))
    if not selectors:
        keys = None
    exp = doc.get("expiresAt")
    notif = doc.get("notification", {})
    key = (repr(doc.get("entities")), repr(doc.get("watchedAttributes")),
           repr(doc.get("notificationTrigger")), doc.get("q"), doc.get("scopeQ"),
           repr(doc.get("geoQ")), doc.get("isActive", True), exp, id(qctx))
    return LiveSubscription(
        match_key=key,
        tenant=tenant, id=doc["id"], doc=doc, ctx=ctx, selectors=tuple(selectors),
        watched=frozenset(doc["watchedAttributes"]) if "watchedAttributes" in doc else None,
        triggers=frozenset(doc.get("notificationTrigger", DEFAULT_TRIGGERS)),
        q=parse_q(unquote(doc["q"]), qctx.expand) if doc.get("q") else None,
        scope_q=parse_scope_q(doc["scopeQ"]) if doc.get("scopeQ") else None,
        geo_q=geo_query_from_json(doc["geoQ"], qctx.expand) if doc.get("geoQ") else None,
        active=doc.get("isActive", True),
        expires_ms=int(parse_datetime(exp).timestamp() * 1000) if exp else None,
        periodic=bool(doc.get("timeInterval")),
        show_changes=bool(notif.get("showChanges")),
        type_keys=tuple(keys) if keys is not None else None,
    )


@dataclass
class _TenantIndex:
    by_type: dict[str, list[LiveSubscription]] = field(default_factory=dict)
    anywhere: list[LiveSubscription] = field(default_factory=list)
    subs: dict[str, LiveSubscription] = field(default_factory=dict)

    def candidates(self, types: Iterable[str]) -> list[LiveSubscription]:
        out = list(self.anywhere)
        seen = {id(s) for s in out}
        for t in types:
            for s in self.by_type.get(t, ()):
                if id(s) not in seen:
                    seen.add(id(s))
                    out.append(s)
        return out

    def add(self, s: LiveSubscription) -> None:
        self.subs[s.id] = s
        if s.type_keys is None:
            self.anywhere.append(s)
        else:
            for t in dict.fromkeys(s.type_keys):
                self.by_type.setdefault(t, []).append(s)

    def without(self, sub_id: str) -> _TenantIndex:
        """A copy without one subscription; lists it was not in are shared."""
        old = self.subs.get(sub_id)
        out = _TenantIndex(dict(self.by_type), self.anywhere, dict(self.subs))
        if old is None:
            return out
        del out.subs[sub_id]
        if old.type_keys is None:
            out.anywhere = [s for s in self.anywhere if s.id != sub_id]
        else:
            for t in set(old.type_keys):
                out.by_type[t] = [s for s in self.by_type.get(t, []) if s.id != sub_id]
        return out

    def with_(self, s: LiveSubscription) -> _TenantIndex:
        """A copy with one subscription added (lists it goes into are copied)."""
        out = self.without(s.id)
        out.anywhere = list(out.anywhere) if s.type_keys is None else out.anywhere
        if s.type_keys is not None:
            for t in set(s.type_keys):
                out.by_type[t] = list(out.by_type.get(t, []))
        out.add(s)
        return out


def _types(change: Change) -> set[str]:
    out: set[str] = set()
    for e in (change.before, change.after):
        if e is not None:
            out.update(e.get("type", ()))
    return out


class SubscriptionIndex:
    """Every change-triggered subscription of every tenant, ready to match. Readers
    (the SQLite writer thread, the event loop) never see a half-made change: each
    update builds new lists and swaps them in."""

    def __init__(self) -> None:
        self._tenants: dict[str, _TenantIndex] = {}
        self.revision = -1

    def replace(self, subs: Collection[LiveSubscription], revision: int) -> None:
        tenants: dict[str, _TenantIndex] = {}
        for s in subs:
            if not s.periodic:
                tenants.setdefault(s.tenant, _TenantIndex()).add(s)
        self._tenants = tenants
        self.revision = revision

    def put(self, tenant: str, sub_id: str, live: LiveSubscription | None) -> None:
        """Add, replace (``live``) or remove (None) one subscription."""
        idx = self._tenants.get(tenant, _TenantIndex())
        new = idx.with_(live) if live is not None and not live.periodic else idx.without(sub_id)
        tenants = dict(self._tenants)
        tenants[tenant] = new
        self._tenants = tenants

    def matches(self, tenant: str, change: Change,
                now_ms: int) -> list[tuple[LiveSubscription, str]]:
        """(subscription, trigger) for each subscription this change notifies."""
        idx = self._tenants.get(tenant)
        if idx is None:
            return []
        out: list[tuple[LiveSubscription, str]] = []
        candidates = idx.candidates(_types(change))
        if not candidates:
            return out
        before, after = change.before, change.after
        diff = attr_changes(before, after) if before is not None and after is not None else None
        memo: dict[tuple[Any, ...], str | None] = {}
        for s in candidates:
            key = s.match_key
            if key in memo:
                trig = memo[key]
            else:
                trig = memo[key] = (
                    s.trigger(before, after, diff) if s.is_active(now_ms) else None)
            if trig is not None:
                out.append((s, trig))
        return out

    def notices(self, tenant: str, changes: Sequence[Change]) -> list[Notice]:
        """``ChangeHook.notices``: runs inside the write transaction."""
        if tenant not in self._tenants:
            return []
        now = int(time.time() * 1000)
        out = []
        for i, ch in enumerate(changes):
            for s, trig in self.matches(tenant, ch, now):
                needs = ch.after is None or s.show_changes or "attributeDeleted" in s.triggers
                out.append(Notice(s.id, i, trig, needs))
        return out
