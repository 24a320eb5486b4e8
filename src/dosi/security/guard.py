"""``GuardedStore``: the store as the current caller may see it.

Every service reaches data through the store, so checking here covers every path
(entities, batch, temporal, discovery, subscriptions' queries, ingest): queries get
the caller's visible types added to their filter *before* paging (counts and pages
stay right), entities lose the attributes the caller may not read, writes are
checked op by op (a refused op fails alone, as ``Forbidden``), and reads of personal
data and every change go to the audit log. The hub's own work runs as ``SYSTEM``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any

from dosi.errors import ForbiddenError
from dosi.ngsild.query.ast import (
    And,
    Comparison,
    EntityQuery,
    Or,
    QExpr,
    TypeAnd,
    TypeName,
    TypeOr,
)
from dosi.security.audit import AuditLog
from dosi.security.limits import QueryLimits, check_query, check_span
from dosi.security.policy import TypeScope
from dosi.security.principal import Principal, current
from dosi.security.privacy import coarse_instance

NGSILD = "https://uri.etsi.org/ngsi-ld/"
_NOT_ATTRS = frozenset(NGSILD + n for n in ("id", "type", "scope", "createdAt", "modifiedAt",
                                            "deletedAt"))
NOWHERE = NGSILD + "dosi/no-type-is-visible"
Entity = dict[str, Any]


def q_attrs(q: QExpr | None) -> set[str]:
    if q is None:
        return set()
    if isinstance(q, Comparison):
        return set() if q.path.attr in _NOT_ATTRS else {q.path.attr}
    assert isinstance(q, (And, Or))
    return set().union(*(q_attrs(i) for i in q.items))


def query_attrs(query: EntityQuery) -> set[str]:
    """Attributes whose values a query's answer depends on."""
    out = q_attrs(query.q) | set(query.attrs or ())
    if query.geo_q is not None:
        out.add(query.geo_q.geoproperty)
    return out


def strip(p: Principal, tenant: str, entity: Entity | None, op: str = "read") -> Entity | None:
    """The entity as ``p`` may see it: None if not at all, else without the
    attributes it may not read (and coarsened where privacy says so)."""
    if entity is None or p.superuser:
        return entity
    policy = p.policy
    types = entity.get("type", [])
    if not p.tenant_ok(tenant) or not policy.scope(op, tenant).admits(types):
        return None
    if policy.attr_rules(op, tenant):
        key = tuple(types)
        attrs = {a: v for a, v in entity.get("attrs", {}).items()
                 if policy.readable(op, tenant, key, a)}
        entity = {**entity, "attrs": attrs}
    privacy = p.privacy
    if privacy is not None and not privacy.cleared(p.roles, types):
        entity = privacy.coarsen(entity)
    return entity


def check_write(p: Principal, tenant: str, before: Entity | None, after: Entity | None) -> None:
    """Raise ``ForbiddenError`` unless ``p`` may turn ``before`` into ``after``."""
    if p.superuser:
        return
    policy = p.policy
    if after is None:
        types = (before or {}).get("type", [])
        if not policy.allows("delete", tenant, types):
            raise ForbiddenError(f"you may not delete entities of type {', '.join(types)}")
        return
    old = (before or {}).get("attrs", {})
    new = after.get("attrs", {})
    types = list(dict.fromkeys([*(before or {}).get("type", []), *after.get("type", [])]))
    if not policy.allows("write", tenant, types):
        raise ForbiddenError(f"you may not write entities of type {', '.join(types)}")
    for attr in set(old) | set(new):
        if old.get(attr) != new.get(attr) and not policy.allows("write", tenant, types, attr):
            raise ForbiddenError(f"you may not write attribute {attr}")


class GuardedStore:
    """Wraps a ``Store``; what it does not override goes straight to the store."""

    _own = frozenset({"inner", "audit", "limits", "personal", "audit_reads", "privacy"})

    def __init__(self, inner: Any, audit: AuditLog | None, limits: QueryLimits,
                 personal_types: Iterable[str] = (), audit_reads: bool = False,
                 privacy: Any = None) -> None:
        object.__setattr__(self, "inner", inner)
        object.__setattr__(self, "audit", audit)
        object.__setattr__(self, "limits", limits)
        object.__setattr__(self, "personal", frozenset(personal_types))
        object.__setattr__(self, "audit_reads", audit_reads)
        object.__setattr__(self, "privacy", privacy)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name in self._own:
            object.__setattr__(self, name, value)
        else:
            setattr(self.inner, name, value)  # e.g. the change hook of subscriptions

    # --- helpers ---

    def _tenant(self, p: Principal, tenant: str) -> None:
        if not p.tenant_ok(tenant):
            raise ForbiddenError(f"you have no access to tenant {tenant or '(default)'}")

    def _read_audit(self, p: Principal, tenant: str, entities: Sequence[Entity]) -> None:
        if self.audit is None or p.kind == "system":
            return
        ids = [e["id"] for e in entities
               if self.audit_reads or self.personal.intersection(e.get("type", []))]
        if ids:
            self.audit.record(p.subject, "entity.read", tenant, ids[0] if len(ids) == 1 else "",
                              {"ids": ids} if len(ids) > 1 else None)

    async def _visible(self, p: Principal, tenant: str, op: str,
                       attrs: Iterable[str]) -> TypeScope:
        scope = p.policy.scope(op, tenant)
        attrs = set(attrs)
        for a in attrs:
            scope &= p.policy.scope("read", tenant, a)
        if p.privacy is not None:  # no filtering on what is coarsened for the caller
            hidden = frozenset(t for t in p.privacy.rules
                               if not p.privacy.cleared(p.roles, [t])
                               and attrs & p.privacy.coarsened_attrs([t]))
            if hidden:
                scope &= TypeScope(True, exclude=hidden)
        if scope.every and scope.exclude:  # every type but some: name the others
            known = {t.type for t in await self.inner.types(tenant)}
            scope = TypeScope(False, include=frozenset(known - scope.exclude))
        return scope

    async def _restrict(self, p: Principal, tenant: str, query: EntityQuery,
                        op: str = "read") -> EntityQuery | None:
        """The query limited to what ``p`` may see; None when that is nothing."""
        scope = await self._visible(p, tenant, op, query_attrs(query))
        if scope.every:
            return query
        if scope.empty:
            return None
        if query.types is not None:
            from dosi.ngsild.query.ast import ANY_TYPE
            from dosi.ngsild.query.types import type_names

            names = type_names(query.types)
            if ANY_TYPE not in names and names <= scope.include:
                return query  # it asks for visible types only: nothing to add
        allowed = TypeOr(tuple(TypeName(t) for t in sorted(scope.include)))
        types = allowed if query.types is None else TypeAnd((query.types, allowed))
        return replace(query, types=types)

    # --- EntityStore ---

    async def write(self, tenant: str, ops: Sequence[Any]) -> list[Any]:
        p = current()
        if self.privacy:  # pseudonymise before anything is stored, whoever writes
            ops = [replace(op, fn=_pseudonymised(op.fn, self.privacy, op.history))
                   for op in ops]
        if p.kind == "system" and self.audit is None:
            return await self.inner.write(tenant, ops)  # type: ignore[no-any-return]
        self._tenant(p, tenant)
        if not p.superuser:
            ops = [replace(op, fn=_guarded(op.fn, p, tenant)) for op in ops]
        results = await self.inner.write(tenant, ops)
        if self.audit is not None and p.kind != "system":
            for r in results:
                if r.ok and r.before is not r.after:
                    self.audit.record(p.subject, _action(r.before, r.after), tenant,
                                      r.entity_id, {"attrs": _changed(r.before, r.after)})
        return results  # type: ignore[no-any-return]

    async def get(self, tenant: str, entity_id: str) -> Entity | None:
        p = current()
        entity = await self.inner.get(tenant, entity_id)
        if p.kind == "system":
            return entity  # type: ignore[no-any-return]
        self._tenant(p, tenant)
        entity = strip(p, tenant, entity)
        if entity is not None:
            self._read_audit(p, tenant, [entity])
        return entity

    async def query(self, tenant: str, query: EntityQuery) -> Any:
        p = current()
        check_query(query, self.limits)
        if p.kind == "system":
            return await self.inner.query(tenant, query)
        self._tenant(p, tenant)
        restricted = query if p.superuser else await self._restrict(p, tenant, query)
        if restricted is None:
            from dosi.storage.base import QueryResult

            return QueryResult([], 0 if query.count else None)
        result = await self.inner.query(tenant, restricted)
        if not p.superuser:
            result.entities = [e for e in (strip(p, tenant, e) for e in result.entities)
                               if e is not None]
        self._read_audit(p, tenant, result.entities)
        return result

    async def purge(self, tenant: str, query: EntityQuery) -> int:
        p = current()
        if p.kind == "system":
            return await self.inner.purge(tenant, query)  # type: ignore[no-any-return]
        self._tenant(p, tenant)
        restricted = query if p.superuser else await self._restrict(p, tenant, query, "delete")
        if restricted is None:
            return 0
        n = await self.inner.purge(tenant, restricted)
        if self.audit is not None:
            self.audit.record(p.subject, "entity.purge", tenant, "", {"deleted": n})
        return n  # type: ignore[no-any-return]

    async def types(self, tenant: str) -> list[Any]:
        p = current()
        infos = await self.inner.types(tenant)
        if p.superuser:
            return infos  # type: ignore[no-any-return]
        self._tenant(p, tenant)
        out = []
        for info in infos:
            if not p.policy.scope("read", tenant).admits([info.type]):
                continue
            attrs = {a: k for a, k in info.attributes.items()
                     if p.policy.scope("read", tenant, a).admits([info.type])}
            out.append(replace(info, attributes=attrs))
        return out

    async def attributes(self, tenant: str) -> list[Any]:
        p = current()
        infos = await self.inner.attributes(tenant)
        if p.superuser:
            return infos  # type: ignore[no-any-return]
        self._tenant(p, tenant)
        out = []
        for info in infos:
            scope = p.policy.scope("read", tenant, info.attribute) & p.policy.scope("read", tenant)
            names = {t for t in info.type_names if scope.admits([t])}
            if not names:
                continue
            if names != info.type_names:  # count only what the caller may see
                found = await self.inner.query(tenant, EntityQuery(
                    types=TypeOr(tuple(TypeName(t) for t in sorted(names))),
                    attrs=(info.attribute,), limit=1, count=True))
                info = replace(info, type_names=names, count=found.count or 0)
            out.append(info)
        return out

    # --- TemporalStore ---

    async def history_types(self, tenant: str, entity_id: str) -> list[str] | None:
        p = current()
        types = await self.inner.history_types(tenant, entity_id)
        if p.superuser or types is None:
            return types  # type: ignore[no-any-return]
        self._tenant(p, tenant)
        return types if p.policy.scope("read", tenant).admits(types) else None

    async def history(self, tenant: str, entity_ids: Sequence[str], query: Any) -> Any:
        p = current()
        t = query.time
        check_span(t.time_at, t.end_time_at, t.timerel, query.last_n, self.limits)
        found = await self.inner.history(tenant, entity_ids, query)
        if p.superuser:
            return found
        self._tenant(p, tenant)
        out = {}
        for eid, h in found.items():
            if not p.policy.scope("read", tenant).admits(h.types):
                continue
            insts = [i for i in h.instances
                     if p.policy.scope("read", tenant, i.attr).admits(h.types)]
            if p.privacy is not None and not p.privacy.cleared(p.roles, h.types):
                insts = [coarse_instance(p.privacy, h.types, i) for i in insts]
            out[eid] = replace(h, instances=insts)
        self._read_audit(p, tenant, [{"id": e, "type": h.types} for e, h in out.items()])
        return out

    async def aggregate(self, tenant: str, entity_ids: Sequence[str], query: Any) -> Any:
        p = current()
        t = query.time
        check_span(t.time_at, t.end_time_at, t.timerel, None, self.limits)
        found = await self.inner.aggregate(tenant, entity_ids, query)
        if p.superuser:
            return found
        self._tenant(p, tenant)
        out = {}
        for eid, series in found.items():
            types = await self.inner.history_types(tenant, eid) or []
            if p.policy.scope("read", tenant).admits(types):
                out[eid] = [s for s in series
                            if p.policy.scope("read", tenant, s.attr).admits(types)]
        return out

    async def _history_write(self, tenant: str, entity_id: str, op: str,
                             attr: str | None = None) -> None:
        p = current()
        if p.superuser:
            return
        self._tenant(p, tenant)
        types = await self.inner.history_types(tenant, entity_id) or []
        if not p.policy.allows(op, tenant, types, attr):
            raise ForbiddenError(f"you may not {op} the history of {entity_id}")

    async def update_instance(self, tenant: str, entity_id: str, attr: str, *a: Any) -> Any:
        await self._history_write(tenant, entity_id, "write", attr)
        return await self.inner.update_instance(tenant, entity_id, attr, *a)

    async def delete_instance(self, tenant: str, entity_id: str, attr: str, *a: Any) -> Any:
        await self._history_write(tenant, entity_id, "write", attr)
        return await self.inner.delete_instance(tenant, entity_id, attr, *a)

    async def delete_attr_history(self, tenant: str, entity_id: str, attr: str,
                                  *a: Any) -> Any:
        await self._history_write(tenant, entity_id, "write", attr)
        return await self.inner.delete_attr_history(tenant, entity_id, attr, *a)

    async def delete_history(self, tenant: str, entity_id: str) -> Any:
        await self._history_write(tenant, entity_id, "delete")
        return await self.inner.delete_history(tenant, entity_id)


def _guarded(fn: Any, p: Principal, tenant: str) -> Any:
    from dosi.storage.base import UNCHANGED

    def guarded(cur: Entity | None) -> Any:
        new = fn(cur)
        if new is not UNCHANGED:
            check_write(p, tenant, cur, new)
        return new
    return guarded


def _pseudonymised(fn: Any, privacy: Any, history: list[Any] | None) -> Any:
    from dosi.storage.base import UNCHANGED

    def protected(cur: Entity | None) -> Any:
        new = fn(cur)
        if new is UNCHANGED or new is None:
            return new
        if history:  # temporal API writes record these instances as given
            types = new.get("type", [])
            history[:] = [(a, privacy.protect_instance(i) if privacy.pseudonymised(types, a)
                           else i) for a, i in history]
        return privacy.protect(new)
    return protected


def _action(before: Entity | None, after: Entity | None) -> str:
    if before is None:
        return "entity.create"
    return "entity.delete" if after is None else "entity.update"


def _changed(before: Entity | None, after: Entity | None) -> list[str]:
    old = (before or {}).get("attrs", {})
    new = (after or {}).get("attrs", {})
    return sorted(a for a in set(old) | set(new) if old.get(a) != new.get(a))
