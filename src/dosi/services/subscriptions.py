"""Subscription use-cases (/ngsi-ld/v1/subscriptions) and the notification machinery
they drive: the matcher the stores call inside each write (``ChangeHook``), the
delivery workers and the live streams.

Subscriptions live in the store; each process keeps them compiled in a
``SubscriptionIndex``, updated at once for its own changes and reloaded when the
store's subscription revision moves (another process changed one).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from dosi.errors import AlreadyExistsError, ResourceNotFoundError
from dosi.ngsild.context import ActiveContext, core_context
from dosi.ngsild.query.ast import EntityQuery
from dosi.ngsild.query.types import parse_type_expr
from dosi.ngsild.subscription import merge_fragment, parse_subscription, render_subscription
from dosi.ngsild.values import now_iso, require_uri
from dosi.notify.dispatcher import Dispatcher, DispatchSettings
from dosi.notify.matcher import LiveSubscription, SubscriptionIndex, compile_subscription
from dosi.notify.senders import Senders
from dosi.notify.stream import Broadcaster
from dosi.security.subscriber import check_subscription, may_manage
from dosi.security.principal import Principal, current
from dosi.services.contexts import ContextService
from dosi.services.entities import EntityService
from dosi.storage.subscription_base import Change, Notice, SubscriptionRecord, SubscriptionStore

log = logging.getLogger("dosi.notify")


def _state(rec: SubscriptionRecord) -> dict[str, Any]:
    """The notification status members that have something to say."""
    out: dict[str, Any] = {}
    if rec.last_status:
        out["status"] = rec.last_status
    if rec.times_sent:
        out["timesSent"] = rec.times_sent
    if rec.times_failed:
        out["timesFailed"] = rec.times_failed
    for key, value in (("lastNotification", rec.last_notification),
                       ("lastSuccess", rec.last_success), ("lastFailure", rec.last_failure)):
        if value:
            out[key] = value
    return out


class SubscriptionService:
    """The subscription resource, and the ``ChangeHook`` of the store."""

    def __init__(self, store: SubscriptionStore, contexts: ContextService,
                 entities: EntityService, dispatch: DispatchSettings | None = None,
                 send_timeout: float = 10.0, refresh_interval: float = 1.0,
                 guard: Callable[[dict[str, Any]], Awaitable[Principal]] | None = None
                 ) -> None:
        self.store = store
        self.contexts = contexts
        self.entities = entities
        self.index = SubscriptionIndex()
        self.stream = Broadcaster()
        self._live: dict[tuple[str, str], LiveSubscription] = {}
        self._senders = Senders(send_timeout)
        self.dispatcher = Dispatcher(store, self._compile_record, self._periodic_entities,
                                     entities.linked, self._senders,
                                     dispatch or DispatchSettings())
        self.dispatcher.guard = guard  # notifications rendered with the subscriber's rights
        self._refresh_interval = refresh_interval
        self._local_seq = 0  # bumped by each change made through this process
        self._wake_other: Callable[[], None] | None = None
        self._delivering = True
        self._refresher: asyncio.Task[None] | None = None

    # --- lifecycle ---

    async def start(self, single_process: bool = False, *, hook: bool = True,
                    deliver: bool = True, wake: Callable[[], None] | None = None) -> None:
        """Load the subscriptions; with ``hook``, record notifications of this process's
        writes; with ``deliver``, run the delivery workers here. ``wake`` is called after
        each commit when another process delivers (``dosi.notify.worker``)."""
        if single_process and deliver:
            await self.store.release_leases(None)
        await self.refresh()
        self._wake_other = wake
        self._delivering = deliver
        if hook:
            self.store.change_hook = self
        if deliver:
            self.dispatcher.start()
        self._refresher = asyncio.create_task(self._refresh_loop(), name="dosi-sub-refresh")

    async def stop(self) -> None:
        self.store.change_hook = None
        if self._refresher is not None:
            self._refresher.cancel()
            await asyncio.gather(self._refresher, return_exceptions=True)
        if self._delivering:
            await self.dispatcher.stop()
        await self._senders.close()

    async def _refresh_loop(self) -> None:
        while True:
            await asyncio.sleep(self._refresh_interval)
            try:
                if await self.store.subscriptions_revision() != self.index.revision:
                    await self.refresh()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("reloading subscriptions failed")

    async def refresh(self) -> None:
        """Reload every subscription (start-up; another process changed some). A reload
        that this process's own changes overtook is thrown away and done again."""
        for _ in range(3):
            seq = self._local_seq
            revision, records = await self.store.all_subscriptions()
            live: dict[tuple[str, str], LiveSubscription] = {}
            for rec in records:
                try:
                    live[(rec.tenant, rec.id)] = await self._compile_record(rec)
                except Exception:  # one broken subscription must not stop all
                    log.exception("subscription %s cannot be loaded", rec.id)
            if seq == self._local_seq:
                self._live = live
                self.index.replace(list(live.values()), revision)
                return

    async def _local_change(self, tenant: str, sub_id: str, live: LiveSubscription | None) -> None:
        self._local_seq += 1
        if live is None:
            self._live.pop((tenant, sub_id), None)
        else:
            self._live[(tenant, sub_id)] = live
        self.index.put(tenant, sub_id, live)
        self.index.revision = await self.store.subscriptions_revision()
        self.dispatcher.wake()

    async def _compile_record(self, rec: SubscriptionRecord) -> LiveSubscription:
        known = self._live.get((rec.tenant, rec.id))
        if known is not None and known.doc == rec.doc:
            return known
        return await self._compile(rec.tenant, rec.doc)

    async def _compile(self, tenant: str, doc: dict[str, Any]) -> LiveSubscription:
        ctx = await self.contexts.resolve(doc.get("jsonldContext") or doc.get("_context"))
        qctx = await self.contexts.resolve(doc["_qcontext"]) if "_qcontext" in doc else \
            await self.contexts.resolve(doc.get("_context"))
        return compile_subscription(tenant, doc, ctx, qctx)

    # --- ChangeHook ---

    def notices(self, tenant: str, changes: Sequence[Change]) -> list[Notice]:
        return self.index.notices(tenant, changes)

    def committed(self, tenant: str, changes: Sequence[Change]) -> None:
        if self._wake_other is not None:
            self._wake_other()
        else:
            self.dispatcher.wake()
        self.stream.publish(tenant, changes)

    # --- the resource ---

    async def create(self, tenant: str, body: Any, ctx_items: Any, ctx: ActiveContext) -> str:
        """POST /subscriptions; returns the id."""
        now = now_iso()
        raw = {k: v for k, v in body.items() if k != "@context"} if isinstance(body, dict) \
            else body
        doc = parse_subscription(raw, lambda _k: ctx, now)
        doc["id"] = doc["id"] or f"urn:ngsi-ld:Subscription:{uuid.uuid4()}"
        if "jsonldContext" in doc:
            await self.contexts.resolve(doc["jsonldContext"])
        elif isinstance(ctx_items, list) and (
            len(ctx_items) > 1 or any(not isinstance(x, str) for x in ctx_items)
        ):
            doc["jsonldContext"] = await self.contexts.add_implicit(ctx_items)
        if ctx_items is not None:
            doc["_context"] = ctx_items
        live = await self._compile(tenant, doc)
        caller = current()
        check_subscription(caller, tenant, live)
        if caller.kind != "system":
            doc["_subscriber"] = caller.ref()
        if not await self.store.create_subscription(tenant, doc, now):
            if "jsonldContext" not in raw and "jsonldContext" in doc:
                await self.contexts.delete(doc["jsonldContext"].rsplit("/", 1)[1])
            raise AlreadyExistsError(f"subscription {doc['id']} already exists")
        await self._local_change(tenant, doc["id"], live)
        return str(doc["id"])

    async def _record(self, tenant: str, sub_id: str) -> SubscriptionRecord:
        require_uri(sub_id, "subscription id")
        rec = await self.store.get_subscription(tenant, sub_id)
        if rec is None:
            raise ResourceNotFoundError(f"subscription {sub_id} not found")
        if not may_manage(current(), rec.doc):  # another caller's: as if absent
            raise ResourceNotFoundError(f"subscription {sub_id} not found")
        return rec

    async def retrieve(self, tenant: str, sub_id: str, ctx: ActiveContext,
                       sys_attrs: bool = False) -> dict[str, Any]:
        """GET /subscriptions/{id}."""
        require_uri(sub_id, "subscription id")
        await self.dispatcher.settled(tenant, sub_id)
        rec = await self._record(tenant, sub_id)
        return render_subscription(rec.doc, ctx, now_iso(), _state(rec), sys_attrs)

    async def query(self, tenant: str, limit: int, offset: int,
                    ctx: ActiveContext) -> tuple[list[dict[str, Any]], int]:
        """GET /subscriptions."""
        caller = current()
        if may_manage(caller, {}):
            records, total = await self.store.list_subscriptions(tenant, limit, offset)
        else:  # only the caller's own: filtered before paging
            everything, _ = await self.store.list_subscriptions(tenant, 1 << 30, 0)
            mine = [r for r in everything if may_manage(caller, r.doc)]
            records, total = mine[offset: offset + limit], len(mine)
        now = now_iso()
        return [render_subscription(r.doc, ctx, now, _state(r)) for r in records], total

    async def update(self, tenant: str, sub_id: str, fragment: Any, ctx_items: Any,
                     ctx: ActiveContext) -> None:
        """PATCH /subscriptions/{id}: merge the fragment's members."""
        rec = await self._record(tenant, sub_id)
        now = now_iso()
        if isinstance(fragment, dict):
            fragment = {k: v for k, v in fragment.items() if k != "@context"}
        merged = merge_fragment(rec.doc, fragment)
        core = core_context()
        doc = parse_subscription(merged, lambda k: ctx if k in fragment else core, now,
                                 require_future="expiresAt" in fragment)
        for key in ("_context", "_qcontext", "_subscriber"):
            if key in rec.doc:
                doc[key] = rec.doc[key]
        if ("q" in fragment or "geoQ" in fragment) and ctx_items is not None:
            doc["_qcontext"] = ctx_items
        if "jsonldContext" in fragment and doc.get("jsonldContext"):
            await self.contexts.resolve(doc["jsonldContext"])
        live = await self._compile(tenant, doc)
        check_subscription(current(), tenant, live)
        if not await self.store.update_subscription(tenant, doc, now):
            raise ResourceNotFoundError(f"subscription {sub_id} not found")
        await self._local_change(tenant, sub_id, live)

    async def delete(self, tenant: str, sub_id: str) -> None:
        """DELETE /subscriptions/{id}."""
        await self._record(tenant, sub_id)
        if not await self.store.delete_subscription(tenant, sub_id):
            raise ResourceNotFoundError(f"subscription {sub_id} not found")
        await self._local_change(tenant, sub_id, None)

    # --- live streams ---

    async def stream_filter(self, tenant: str, doc: dict[str, Any],
                            ctx_items: Any) -> LiveSubscription:
        """A live stream's filter: a subscription document that is never stored."""
        doc = {**doc, "id": f"urn:ngsi-ld:Stream:{uuid.uuid4()}", "type": "Subscription"}
        if ctx_items is not None:
            doc["_context"] = ctx_items
        live = await self._compile(tenant, doc)
        check_subscription(current(), tenant, live, "read")
        return live

    # --- periodic notifications ---

    async def _periodic_entities(self, live: LiveSubscription) -> list[dict[str, Any]]:
        """Every entity a timeInterval subscription covers, now."""
        found: dict[str, dict[str, Any]] = {}
        for sel in live.doc.get("entities", []):
            query = EntityQuery(
                ids=(sel["id"],) if "id" in sel else None, id_pattern=sel.get("idPattern"),
                types=parse_type_expr(sel["type"], lambda t: t), q=live.q,
                scope_q=live.scope_q, geo_q=live.geo_q, limit=1000,
            )
            result = await self.entities.query(live.tenant, query)
            for e in result.entities:
                found.setdefault(e["id"], e)
        return list(found.values())

