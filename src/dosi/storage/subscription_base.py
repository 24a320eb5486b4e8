"""The subscription contract: stored subscriptions, their delivery state and the
notification outbox (``/ngsi-ld/v1/subscriptions`` and the ``dosi.notify`` workers).

Writes record notifications in the same transaction as the change: a store calls its
``change_hook.notices(tenant, changes)`` inside every ``write()`` transaction and
inserts what it returns into the outbox, and calls ``change_hook.committed(...)``
after the commit (to wake the delivery workers and feed live streams).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

Doc = dict[str, Any]


class Notice(NamedTuple):
    """One subscription to notify of one entity change (becomes an outbox row)."""

    subscription_id: str
    change: int  # index of the change in the list given to ``notices``
    trigger: str
    needs_before: bool = False  # keep the entity as it was (showChanges, deletions)


class Change(Protocol):
    """What ``notices`` is given per changed entity (``OpResult`` fits)."""

    entity_id: str
    before: Doc | None
    after: Doc | None


class ChangeHook(Protocol):
    def notices(self, tenant: str, changes: Sequence[Change]) -> list[Notice]:
        """Inside the write transaction: the notifications the changes cause. Must be
        quick and must not do I/O (SQLite runs it on its writer thread)."""
        ...

    def committed(self, tenant: str, changes: Sequence[Change]) -> None:
        """After the commit, on the event loop: wake workers, feed live streams."""
        ...


@dataclass
class SubscriptionRecord:
    """A stored subscription: its document (``ngsild.subscription`` internal form) and
    its delivery state."""

    tenant: str
    id: str
    doc: Doc
    times_sent: int = 0
    times_failed: int = 0
    last_notification: str | None = None
    last_success: str | None = None
    last_failure: str | None = None
    last_status: str | None = None  # "ok" or "failed"
    failures: int = 0  # consecutive failures (backoff)
    retry_at: int = 0  # epoch ms before which nothing is sent (backoff, throttling)
    periodic_at: int = 0  # epoch ms of the next timeInterval notification


@dataclass
class PendingNotice:
    """An outbox row with the change it reports."""

    oid: int
    trigger: str
    entity_id: str
    before: Doc | None
    after: Doc | None
    at: str  # when the change was committed (ISO)
    created_ms: int


@dataclass
class Delivery:
    """The outcome of one notification attempt, applied with its outbox rows."""

    ok: bool | None  # None: nothing was sent (counters and status stay)
    at: str  # ISO time of the attempt
    retry_at: int = 0  # epoch ms: next attempt allowed (backoff or throttling)
    failures: int = 0
    done: list[int] = field(default_factory=list)  # outbox rows to remove
    periodic_at: int | None = None  # set the next periodic notification time


class SubscriptionStore(Protocol):
    """Subscriptions per tenant and their outbox (both backends)."""

    change_hook: ChangeHook | None

    async def create_subscription(self, tenant: str, doc: Doc, now: str) -> bool:
        """POST /subscriptions; False if the id exists in the tenant."""
        ...

    async def get_subscription(self, tenant: str, sub_id: str) -> SubscriptionRecord | None:
        """GET /subscriptions/{id}."""
        ...

    async def list_subscriptions(
        self, tenant: str, limit: int, offset: int
    ) -> tuple[list[SubscriptionRecord], int]:
        """GET /subscriptions: a page in creation order, and the total."""
        ...

    async def update_subscription(self, tenant: str, doc: Doc, now: str) -> bool:
        """PATCH /subscriptions/{id}: replace the document (delivery state stays)."""
        ...

    async def delete_subscription(self, tenant: str, sub_id: str) -> bool:
        """DELETE /subscriptions/{id}, with its pending notifications."""
        ...

    async def all_subscriptions(self) -> tuple[int, list[SubscriptionRecord]]:
        """Every subscription of every tenant, and the revision they are at (matcher)."""
        ...

    async def subscriptions_revision(self) -> int:
        """Bumped by every create, update and delete (other processes' changes)."""
        ...

    async def claim_due(
        self, owner: str, now_ms: int, lease_ms: int, limit: int, periodic: bool
    ) -> list[SubscriptionRecord]:
        """Lease subscriptions with due work (pending rows, or a due timeInterval if
        ``periodic``) to ``owner``; a leased subscription is not claimed by others."""
        ...

    async def pending(self, tenant: str, sub_id: str, limit: int) -> list[PendingNotice]:
        """The oldest outbox rows of a subscription, in order."""
        ...

    async def finish_delivery(
        self, tenant: str, sub_id: str, owner: str, outcome: Delivery | None
    ) -> None:
        """Record an attempt (counters, status, backoff), drop delivered rows, and
        release the lease (``outcome`` None: only release)."""
        ...

    async def finish_many(
        self, owner: str, items: Sequence[tuple[str, str, Delivery | None]]
    ) -> None:
        """``finish_delivery`` for several subscriptions (one transaction where the
        store can: fewer write transactions beside the API's on SQLite)."""
        ...

    async def release_leases(self, owner: str | None) -> None:
        """Drop leases of ``owner`` (None: every lease; a single SQLite process)."""
        ...

    async def fan_out(self, limit: int) -> int:
        """Turn up to ``limit`` recorded changes into one queue row per subscription
        (delivery workers, one process at a time); returns how many changes."""
        ...

    async def outbox_size(self, tenant: str | None = None) -> int:
        """Pending notifications (metrics, tests)."""
        ...


def changes_of(results: Sequence[Any]) -> list[Any]:
    """The op results of a write that changed an entity (what ``ChangeHook`` gets)."""
    return [r for r in results if r.error is None and r.before is not r.after]
