"""Tables and statements of subscriptions and the notification outbox, shared by both
backends (``subscriptions_sqlite``, ``subscriptions_postgres``).

``subscription`` keeps the document (JSON text) apart from the delivery state columns,
so a PATCH never clobbers counters. A write records one ``notify_change`` row per changed
entity that concerns any subscription (the entity before and after, and the list of
subscriptions and triggers), in its own transaction: one row however many subscriptions
match, so writes stay cheap. The delivery workers then fan each change out into
``notify_queue``, one row per (subscription, change), ordered by ``oid``: delivery takes a
subscription's rows in that order, so notifications about one entity leave in the order
of its changes (one process fans out at a time).
A delivering process holds a lease on the subscription row (``lease_owner``,
``lease_until``): several processes on one PostgreSQL database never send the same row
twice at once, and a dead process's lease simply runs out.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import orjson

from dosi.storage.subscription_base import (
    Change,
    Delivery,
    Notice,
    PendingNotice,
    SubscriptionRecord,
)

SQLITE_DDL = """
CREATE TABLE IF NOT EXISTS subscription (
  tenant TEXT NOT NULL, id TEXT NOT NULL, doc TEXT NOT NULL,
  created_at TEXT NOT NULL, modified_at TEXT NOT NULL, periodic INTEGER NOT NULL DEFAULT 0,
  times_sent INTEGER NOT NULL DEFAULT 0, times_failed INTEGER NOT NULL DEFAULT 0,
  last_notification TEXT, last_success TEXT, last_failure TEXT, last_status TEXT,
  failures INTEGER NOT NULL DEFAULT 0, retry_at INTEGER NOT NULL DEFAULT 0,
  periodic_at INTEGER NOT NULL DEFAULT 0,
  lease_owner TEXT, lease_until INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (tenant, id)
);
CREATE TABLE IF NOT EXISTS notify_change (
  seq INTEGER PRIMARY KEY, tenant TEXT NOT NULL, entity_id TEXT NOT NULL,
  before TEXT, after TEXT, at TEXT NOT NULL, created_ms INTEGER NOT NULL,
  subs TEXT NOT NULL, fanned INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS notify_change_todo ON notify_change (seq) WHERE fanned = 0;
CREATE TABLE IF NOT EXISTS notify_queue (
  oid INTEGER PRIMARY KEY, tenant TEXT NOT NULL, sub_id TEXT NOT NULL, seq INTEGER NOT NULL,
  trigger TEXT NOT NULL, created_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS notify_queue_sub ON notify_queue (tenant, sub_id, oid);
CREATE INDEX IF NOT EXISTS notify_queue_seq ON notify_queue (seq);
INSERT OR IGNORE INTO dosi_meta VALUES ('subscriptions_rev', '0');
"""

POSTGRES_DDL = """
CREATE TABLE IF NOT EXISTS subscription (
  tenant text NOT NULL, id text NOT NULL COLLATE "C", doc text NOT NULL,
  created_at text NOT NULL COLLATE "C", modified_at text NOT NULL,
  periodic smallint NOT NULL DEFAULT 0,
  times_sent bigint NOT NULL DEFAULT 0, times_failed bigint NOT NULL DEFAULT 0,
  last_notification text, last_success text, last_failure text, last_status text,
  failures integer NOT NULL DEFAULT 0, retry_at bigint NOT NULL DEFAULT 0,
  periodic_at bigint NOT NULL DEFAULT 0,
  lease_owner text, lease_until bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (tenant, id)
);
CREATE TABLE IF NOT EXISTS notify_change (
  seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, tenant text NOT NULL,
  entity_id text NOT NULL, before text, after text, at text NOT NULL,
  created_ms bigint NOT NULL, subs text NOT NULL, fanned boolean NOT NULL DEFAULT false
);
CREATE INDEX IF NOT EXISTS notify_change_todo ON notify_change (seq) WHERE NOT fanned;
CREATE TABLE IF NOT EXISTS notify_queue (
  oid bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, tenant text NOT NULL,
  sub_id text NOT NULL COLLATE "C", seq bigint NOT NULL, trigger text NOT NULL,
  created_ms bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS notify_queue_sub ON notify_queue (tenant, sub_id, oid);
CREATE INDEX IF NOT EXISTS notify_queue_seq ON notify_queue (seq);
INSERT INTO dosi_meta VALUES ('subscriptions_rev', '0') ON CONFLICT DO NOTHING;
"""

STATE_COLUMNS = (
    "tenant, id, doc, times_sent, times_failed, last_notification, last_success, "
    "last_failure, last_status, failures, retry_at, periodic_at"
)
BUMP_REVISION = (
    "UPDATE dosi_meta SET value = CAST(CAST(value AS BIGINT) + 1 AS TEXT) "
    "WHERE key = 'subscriptions_rev'"
)
REVISION = "SELECT CAST(value AS BIGINT) FROM dosi_meta WHERE key = 'subscriptions_rev'"
INSERT = (
    "INSERT INTO subscription (tenant, id, doc, created_at, modified_at, periodic, periodic_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)"
)
UPDATE = (
    "UPDATE subscription SET doc = ?, modified_at = ?, periodic = ? WHERE tenant = ? AND id = ?"
)
GET = f"SELECT {STATE_COLUMNS} FROM subscription WHERE tenant = ? AND id = ?"
PAGE = (
    f"SELECT {STATE_COLUMNS} FROM subscription WHERE tenant = ? ORDER BY created_at, id "
    "LIMIT ? OFFSET ?"
)
COUNT = "SELECT count(*) FROM subscription WHERE tenant = ?"
ALL = f"SELECT {STATE_COLUMNS} FROM subscription ORDER BY tenant, created_at, id"
DELETE_OUTBOX_OF = "DELETE FROM notify_queue WHERE tenant = ? AND sub_id = ?"
DELETE = "DELETE FROM subscription WHERE tenant = ? AND id = ?"
DUE = (
    "SELECT tenant, id FROM subscription s WHERE s.lease_until < ? AND ("
    "(s.retry_at <= ? AND EXISTS (SELECT 1 FROM notify_queue o "
    "WHERE o.tenant = s.tenant AND o.sub_id = s.id)) "
    "OR (? = 1 AND s.periodic = 1 AND s.periodic_at <= ?)) "
    "ORDER BY s.retry_at LIMIT ?"
)
PENDING = (
    "SELECT o.oid, o.trigger, e.entity_id, e.before, e.after, e.at, o.created_ms "
    "FROM notify_queue o JOIN notify_change e ON e.seq = o.seq "
    "WHERE o.tenant = ? AND o.sub_id = ? ORDER BY o.oid LIMIT ?"
)
TO_FAN = "SELECT seq, tenant, subs, created_ms FROM notify_change WHERE {todo} ORDER BY seq LIMIT ?"
FINISH = (
    "UPDATE subscription SET times_sent = times_sent + ?, times_failed = times_failed + ?, "
    "last_notification = coalesce(?, last_notification), "
    "last_success = coalesce(?, last_success), last_failure = coalesce(?, last_failure), "
    "last_status = coalesce(?, last_status), failures = ?, retry_at = ?, "
    "periodic_at = coalesce(?, periodic_at), lease_owner = NULL, lease_until = 0 "
    "WHERE tenant = ? AND id = ? AND lease_owner = ?"
)
RELEASE = (
    "UPDATE subscription SET lease_owner = NULL, lease_until = 0 "
    "WHERE tenant = ? AND id = ? AND lease_owner = ?"
)
RELEASE_ALL = (
    "UPDATE subscription SET lease_owner = NULL, lease_until = 0 WHERE lease_owner IS NOT NULL"
)
RELEASE_OWNER = "UPDATE subscription SET lease_owner = NULL, lease_until = 0 WHERE lease_owner = ?"
SUBSCRIPTION_KEYS = "SELECT tenant, id FROM subscription"
CHANGE_COLUMNS = "notify_change (tenant, entity_id, before, after, at, created_ms, subs)"
QUEUE_COLUMNS = "notify_queue (tenant, sub_id, seq, trigger, created_ms)"
QUEUED = "SELECT count(*) FROM notify_queue WHERE {where}"
UNFANNED = "SELECT count(*) FROM notify_change WHERE {todo}{where}"
ORPHAN_EVENTS = (
    "DELETE FROM notify_change WHERE seq = ? AND NOT EXISTS "
    "(SELECT 1 FROM notify_queue o WHERE o.seq = notify_change.seq)"
)


def now_ms() -> int:
    return int(time.time() * 1000)


def dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def record(row: Sequence[Any]) -> SubscriptionRecord:
    """A SubscriptionRecord from a row in ``STATE_COLUMNS`` order."""
    return SubscriptionRecord(
        tenant=row[0],
        id=row[1],
        doc=orjson.loads(row[2]),
        times_sent=int(row[3]),
        times_failed=int(row[4]),
        last_notification=row[5],
        last_success=row[6],
        last_failure=row[7],
        last_status=row[8],
        failures=int(row[9]),
        retry_at=int(row[10]),
        periodic_at=int(row[11]),
    )


def finish_params(outcome: Delivery, tenant: str, sub_id: str, owner: str) -> tuple[Any, ...]:
    """Parameters of ``FINISH`` for an attempt's outcome."""
    ok, at = outcome.ok, outcome.at
    sent = ok is not None
    return (
        int(ok is True),
        int(ok is False),
        at if sent else None,
        at if ok else None,
        at if ok is False else None,
        ("ok" if ok else "failed") if sent else None,
        outcome.failures,
        outcome.retry_at,
        outcome.periodic_at,
        tenant,
        sub_id,
        owner,
    )


def first_periodic(doc: dict[str, Any]) -> int:
    """Epoch ms of a new subscription's first timeInterval notification: one interval on."""
    interval = doc.get("timeInterval")
    return now_ms() + int(float(interval) * 1000) if interval else 0


def is_periodic(doc: dict[str, Any]) -> int:
    return 1 if doc.get("timeInterval") else 0


def change_rows(
    tenant: str, notices: Sequence[Notice], changes: Sequence[Change], at: str
) -> list[tuple[Any, ...]]:
    """``notify_change`` rows (tenant, entity_id, before, after, at, created_ms, subs) for
    one write: one per changed entity that notifies anyone, ``subs`` the JSON list of its
    [subscription id, trigger] pairs. The delivery workers fan them out into
    ``notify_queue`` (one row per subscription) off the write path."""
    subs: dict[int, list[tuple[str, str]]] = {}
    need_before: set[int] = set()
    for n in notices:
        subs.setdefault(n.change, []).append((n.subscription_id, n.trigger))
        if n.needs_before:
            need_before.add(n.change)
    created = now_ms()
    rows = []
    for i, pairs in subs.items():
        ch = changes[i]
        before = dumps(ch.before) if ch.before is not None and i in need_before else None
        after = dumps(ch.after) if ch.after is not None else None
        rows.append((tenant, ch.entity_id, before, after, at, created, dumps(pairs)))
    return rows


def pending_notice(row: Sequence[Any]) -> PendingNotice:
    """A PendingNotice from a ``PENDING`` row."""
    return PendingNotice(row[0], row[1], row[2], orjson.loads(row[3]) if row[3] else None,
                         orjson.loads(row[4]) if row[4] else None, row[5], row[6])


def queue_rows(
    changes: Sequence[Sequence[Any]], live: set[tuple[str, str]]
) -> tuple[list[tuple[Any, ...]], list[int]]:
    """The fan-out step: ``notify_queue`` rows (tenant, sub_id, seq, trigger, created_ms)
    for ``TO_FAN`` rows, one per subscription still there (``live``: (tenant, id)); and
    the seqs of changes no subscription is left to hear of."""
    queue: list[tuple[Any, ...]] = []
    unheard: list[int] = []
    for seq, tenant, subs, created in changes:
        before = len(queue)
        queue += [(tenant, sub_id, seq, trig, created)
                  for sub_id, trig in orjson.loads(subs) if (tenant, sub_id) in live]
        if len(queue) == before:
            unheard.append(seq)
    return queue, unheard
