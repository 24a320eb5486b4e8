"""The delivery workers: take due subscriptions from the outbox, send, record.

One loop per hub process claims subscriptions with pending notifications (or a due
``timeInterval``) under a lease, and runs one delivery task per claimed subscription,
up to ``concurrency`` at once: a slow or dead receiver holds only its own
subscription, never the writers or other subscribers. A subscription's rows leave in
outbox order, one entity at most once per notification, so each entity's changes
arrive in order. A failed attempt keeps the rows and backs off exponentially
(``retry_base`` .. ``retry_max`` seconds); rows older than ``max_age`` are dropped.
Delivery is at least once: a crash between sending and recording sends again.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from dosi.ngsild.values import now_iso
from dosi.notify.matcher import LiveSubscription
from dosi.notify.payload import Linker, build_message
from dosi.notify.senders import DeliveryError, Senders
from dosi.security.subscriber import guarded_linker, subscriber_view
from dosi.storage.subscription_base import Delivery, SubscriptionRecord, SubscriptionStore
from dosi.storage.subscriptions_sql import now_ms

log = logging.getLogger("dosi.notify")

Compiler = Callable[[SubscriptionRecord], Awaitable[LiveSubscription]]
Querier = Callable[[LiveSubscription], Awaitable[list[dict[str, Any]]]]


@dataclass
class DispatchSettings:
    poll_interval: float = 0.5  # seconds between outbox polls without a wake-up
    lease: float = 60.0  # seconds a claim is held (> send timeout)
    batch: int = 100  # outbox rows read per delivery
    concurrency: int = 64  # subscriptions delivered at once per process
    retry_base: float = 1.0
    retry_max: float = 300.0
    max_age: float = 7 * 86400.0  # undelivered notifications are dropped after this
    fan_out: int = 1000  # recorded changes turned into queue rows per step
    min_claim_interval: float = 0.05  # seconds between two looks at the outbox
    linger: float = 0.05  # seconds between two notifications of one subscription: under
    # a stream of changes they gather into fewer, larger notifications (idle: no delay)


class Dispatcher:
    def __init__(self, store: SubscriptionStore, compile: Compiler, query: Querier,
                 linker: Linker, senders: Senders, settings: DispatchSettings) -> None:
        self.store = store
        self.compile = compile
        self.query = query
        self.linker = linker
        self.guard: Any = None  # subscriber ref -> Principal (auth on)
        self.senders = senders
        self.settings = settings
        self.owner = f"dosi-{uuid.uuid4().hex[:16]}"
        self._woken = False
        self._waiter: asyncio.Future[None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._inflight: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._recording: dict[tuple[str, str], asyncio.Future[None]] = {}
        self._outcomes: list[tuple[SubscriptionRecord, Delivery | None, asyncio.Future[None]]] = []

    def wake(self) -> None:
        """Look at the outbox now (a write committed, a delivery ended)."""
        self._woken = True
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def _idle(self, timeout: float) -> None:
        """Until ``wake()`` or ``timeout`` seconds (a plain future: asyncio.wait_for on an
        Event can swallow a cancellation on Python 3.11)."""
        if self._woken:
            return
        loop = asyncio.get_running_loop()
        self._waiter = fut = loop.create_future()
        handle = loop.call_later(timeout, lambda: fut.done() or fut.set_result(None))
        try:
            await fut
        finally:
            handle.cancel()
            self._waiter = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="dosi-notify-dispatcher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait([self._task], timeout=5.0)
        await self._record_outcomes()
        tasks = list(self._inflight.values())
        if tasks:
            end = asyncio.get_running_loop().time() + 2.0
            while any(not t.done() for t in tasks) and asyncio.get_running_loop().time() < end:
                await asyncio.wait(tasks, timeout=0.05)
                await self._record_outcomes()
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self._record_outcomes()
        try:
            await self.store.release_leases(self.owner)
        except Exception:
            log.warning("could not release notification leases", exc_info=True)

    async def _run(self) -> None:
        s = self.settings
        while True:
            self._woken = False
            await self._record_outcomes()
            free = s.concurrency - len(self._inflight)
            claimed: list[SubscriptionRecord] = []
            if free > 0:
                try:
                    while await self.store.fan_out(s.fan_out) == s.fan_out:
                        pass
                    claimed = await self.store.claim_due(
                        self.owner, now_ms(), int(s.lease * 1000), free, periodic=True)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("claiming notifications failed")
            for rec in claimed:
                key = (rec.tenant, rec.id)
                task = asyncio.create_task(self._deliver(rec))
                self._inflight[key] = task
                task.add_done_callback(lambda _t, k=key: self._done(k))
            if claimed:
                # busy: a burst of commits wakes the loop once per interval, not per commit
                await asyncio.sleep(s.min_claim_interval)
            else:
                await self._idle(s.poll_interval)

    def _done(self, key: tuple[str, str]) -> None:
        self._inflight.pop(key, None)
        self.wake()

    def _backoff(self, failures: int) -> int:
        s = self.settings
        return int(min(s.retry_base * 2 ** max(0, failures - 1), s.retry_max) * 1000)

    async def _deliver(self, rec: SubscriptionRecord) -> None:
        try:
            outcome = await self._attempt(rec)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("delivery for subscription %s failed", rec.id)
            failures = rec.failures + 1
            outcome = Delivery(ok=False, at=now_iso(), failures=failures,
                               retry_at=now_ms() + self._backoff(failures))
        if outcome is not None and outcome.retry_at:
            # look again when the pause (linger, throttling, backoff) ends, not a poll later
            delay = max(0.0, (outcome.retry_at - now_ms()) / 1000) + 0.002
            asyncio.get_running_loop().call_later(delay, self.wake)
        key = (rec.tenant, rec.id)
        self._recording[key] = done = asyncio.get_running_loop().create_future()
        self._outcomes.append((rec, outcome, done))
        self.wake()
        await done

    async def _record_outcomes(self) -> None:
        """Record the finished attempts, several per transaction (the loop does it)."""
        items, self._outcomes = self._outcomes, []
        if not items:
            return
        try:
            await self.store.finish_many(
                self.owner, [(rec.tenant, rec.id, outcome) for rec, outcome, _ in items])
        except Exception:  # the leases run out and the rows are sent again
            log.exception("recording %d deliveries failed", len(items))
        finally:
            for rec, _, fut in items:
                self._recording.pop((rec.tenant, rec.id), None)
                if not fut.done():
                    fut.set_result(None)

    async def settled(self, tenant: str, sub_id: str) -> None:
        """Wait for an attempt whose outcome is known but not yet recorded, so a status
        read right after a receiver answered already tells of that answer."""
        fut = self._recording.get((tenant, sub_id))
        if fut is not None:
            await asyncio.wait([fut], timeout=2.0)

    async def _attempt(self, rec: SubscriptionRecord) -> Delivery | None:
        live = await self.compile(rec)
        now = now_ms()
        if live.periodic:
            interval = int(float(live.doc["timeInterval"]) * 1000)
            if rec.periodic_at > now:
                return None
            if not live.is_active(now):
                return Delivery(ok=None, at=now_iso(), periodic_at=now + interval,
                                failures=rec.failures, retry_at=rec.retry_at)
            entities = await self.query(live)
            if not entities:
                return Delivery(ok=None, at=now_iso(), periodic_at=now + interval,
                                failures=rec.failures, retry_at=rec.retry_at)
            changes = [(None, e, now_iso()) for e in entities]
            outcome = await self._send(rec, live, changes, [])
            outcome.periodic_at = now + interval
            return outcome
        rows = await self.store.pending(rec.tenant, rec.id, self.settings.batch)
        if not rows:
            return None
        oldest = now - int(self.settings.max_age * 1000)
        stale = [r.oid for r in rows if r.created_ms < oldest]
        batch, seen = [], set()
        for r in rows:
            if r.created_ms < oldest:
                continue
            if r.entity_id in seen:
                break
            seen.add(r.entity_id)
            batch.append(r)
        if not batch:
            return Delivery(ok=None, at=now_iso(), done=stale, failures=rec.failures)
        busy = len(rows) > 1  # more than one change waiting: let the next ones gather
        outcome = await self._send(rec, live, [(r.before, r.after, r.at) for r in batch],
                                   [r.oid for r in batch], busy)
        outcome.done += stale
        return outcome

    async def _send(self, rec: SubscriptionRecord, live: LiveSubscription,
                    changes: list[Any], oids: list[int], busy: bool = False) -> Delivery:
        linker = self.linker
        if self.guard is not None and live.doc.get("_subscriber") is not None:
            viewer = await self.guard(live.doc["_subscriber"])
            changes = subscriber_view(viewer, live.tenant, changes)
            if not changes:  # nothing the subscriber may see now
                return Delivery(ok=None, at=now_iso(), done=list(oids), failures=rec.failures)
            linker = guarded_linker(viewer, linker)
        msg = await build_message(live, changes, linker)
        try:
            await self.senders.send(msg)
        except DeliveryError as exc:
            failures = rec.failures + 1
            log.info("notification for %s to %s failed (%s); attempt %d", live.id, msg.uri,
                     exc, failures)
            return Delivery(ok=False, at=now_iso(), failures=failures,
                            retry_at=now_ms() + self._backoff(failures))
        pause = max(int(float(live.doc.get("throttling") or 0) * 1000),
                    int(self.settings.linger * 1000) if busy else 0)
        return Delivery(ok=True, at=now_iso(), done=list(oids), failures=0,
                        retry_at=now_ms() + pause if pause else 0)
