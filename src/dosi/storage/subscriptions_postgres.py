"""Subscriptions and the outbox on PostgreSQL: ``SubscriptionStore`` for
``PostgresStore`` (a mixin), and the step run inside each write transaction.

Several hub processes may share the database: claims lock candidate subscription rows
with ``FOR UPDATE SKIP LOCKED`` and set a lease, so each pending row is sent by one
process at a time; a crashed process's lease runs out and another takes over.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg import errors as pgerr

from dosi.ngsild.values import now_iso
from dosi.storage import subscriptions_sql as Q
from dosi.storage.subscription_base import (
    Change,
    ChangeHook,
    Delivery,
    Doc,
    PendingNotice,
    SubscriptionRecord,
)


def _pg(sql: str) -> str:
    return sql.replace("?", "%s")


_RETRYABLE = (pgerr.DeadlockDetected, pgerr.SerializationFailure)
# Every transaction that touches a subscription and its outbox rows locks the
# subscription row first, so they cannot deadlock on each other.
_LOCK_SUB = "SELECT 1 FROM subscription WHERE tenant = %s AND id = %s FOR UPDATE"
_FAN_KEY = 0x646F7371  # advisory lock of the fan-out step


_CLAIM = _pg(
    f"WITH due AS ({Q.DUE} FOR UPDATE SKIP LOCKED) "
    "UPDATE subscription s SET lease_owner = ?, lease_until = ? FROM due "
    "WHERE s.tenant = due.tenant AND s.id = due.id "
    f"RETURNING {', '.join('s.' + c.strip() for c in Q.STATE_COLUMNS.split(','))}"
)


async def record_notices(
    conn: psycopg.AsyncConnection[Any],
    tenant: str,
    hook: ChangeHook | None,
    changes: Sequence[Change],
) -> None:
    """Inside a write transaction: put the notifications the changes cause in the outbox."""
    if hook is None or not changes:
        return
    notices = hook.notices(tenant, changes)
    if not notices:
        return
    rows = Q.change_rows(tenant, notices, changes, now_iso())
    _, ids, before, after, at, created, subs = (list(c) for c in zip(*rows))
    await conn.execute(
        f"INSERT INTO {Q.CHANGE_COLUMNS} SELECT %s, v.i, v.b, v.a, v.t, v.c, v.s FROM unnest(%b::text[], %b::text[], "
        "%b::text[], %b::text[], %b::bigint[], %b::text[]) WITH ORDINALITY "
        "AS v(i, b, a, t, c, s, n) ORDER BY v.n",
        (tenant, ids, before, after, at, created, subs),
    )


class PostgresSubscriptions:
    """Mixin: needs ``self._pool`` (psycopg AsyncConnectionPool)."""

    change_hook: ChangeHook | None = None
    _pool: Any

    async def create_subscription(self, tenant: str, doc: Doc, now: str) -> bool:
        async with self._pool.connection() as conn, conn.transaction():
            cur = await conn.execute(
                _pg(Q.INSERT) + " ON CONFLICT DO NOTHING",
                (
                    tenant,
                    doc["id"],
                    Q.dumps(doc),
                    now,
                    now,
                    Q.is_periodic(doc),
                    Q.first_periodic(doc),
                ),
            )
            if cur.rowcount == 0:
                return False
            await conn.execute(Q.BUMP_REVISION)
            return True

    async def get_subscription(self, tenant: str, sub_id: str) -> SubscriptionRecord | None:
        async with self._pool.connection() as conn:
            row = await (await conn.execute(_pg(Q.GET), (tenant, sub_id))).fetchone()
        return Q.record(row) if row else None

    async def list_subscriptions(
        self, tenant: str, limit: int, offset: int
    ) -> tuple[list[SubscriptionRecord], int]:
        async with self._pool.connection() as conn:
            rows = await (await conn.execute(_pg(Q.PAGE), (tenant, limit, offset))).fetchall()
            row = await (await conn.execute(_pg(Q.COUNT), (tenant,))).fetchone()
        return [Q.record(r) for r in rows], int(row[0]) if row else 0

    async def update_subscription(self, tenant: str, doc: Doc, now: str) -> bool:
        async with self._pool.connection() as conn, conn.transaction():
            cur = await conn.execute(
                _pg(Q.UPDATE), (Q.dumps(doc), now, Q.is_periodic(doc), tenant, doc["id"])
            )
            await conn.execute(Q.BUMP_REVISION)
            return cur.rowcount > 0

    async def delete_subscription(self, tenant: str, sub_id: str) -> bool:
        for attempt in range(5):
            try:
                return await self._delete(tenant, sub_id)
            except _RETRYABLE:
                if attempt == 4:
                    raise
        raise AssertionError("unreachable")

    async def _delete(self, tenant: str, sub_id: str) -> bool:
        async with self._pool.connection() as conn, conn.transaction():
            cur = await conn.execute(_pg(Q.DELETE), (tenant, sub_id))
            found = cur.rowcount > 0
            await conn.execute(
                "WITH gone AS (DELETE FROM notify_queue WHERE tenant = %s AND sub_id = %s "
                "RETURNING seq) DELETE FROM notify_change e WHERE e.seq IN (SELECT seq FROM gone) "
                "AND NOT EXISTS (SELECT 1 FROM notify_queue o WHERE o.seq = e.seq "
                "AND NOT (o.tenant = %s AND o.sub_id = %s))",
                (tenant, sub_id, tenant, sub_id),
            )
            await conn.execute(Q.BUMP_REVISION)
            return found

    async def all_subscriptions(self) -> tuple[int, list[SubscriptionRecord]]:
        async with self._pool.connection() as conn, conn.transaction():
            await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            row = await (await conn.execute(Q.REVISION)).fetchone()
            rows = await (await conn.execute(Q.ALL)).fetchall()
        return int(row[0]) if row else 0, [Q.record(r) for r in rows]

    async def subscriptions_revision(self) -> int:
        async with self._pool.connection() as conn:
            row = await (await conn.execute(Q.REVISION)).fetchone()
        return int(row[0]) if row else 0

    async def claim_due(
        self, owner: str, now_ms: int, lease_ms: int, limit: int, periodic: bool
    ) -> list[SubscriptionRecord]:
        due = (now_ms, now_ms, int(periodic), now_ms)
        async with self._pool.connection() as conn:
            probe = await conn.execute(_pg(Q.DUE), (*due, 1))
            if await probe.fetchone() is None:
                return []  # nothing due: no locking transaction
        async with self._pool.connection() as conn, conn.transaction():
            cur = await conn.execute(_CLAIM, (*due, limit, owner, now_ms + lease_ms))
            return [Q.record(r) for r in await cur.fetchall()]

    async def pending(self, tenant: str, sub_id: str, limit: int) -> list[PendingNotice]:
        async with self._pool.connection() as conn:
            rows = await (await conn.execute(_pg(Q.PENDING), (tenant, sub_id, limit))).fetchall()
        return [Q.pending_notice(r) for r in rows]

    async def finish_delivery(
        self, tenant: str, sub_id: str, owner: str, outcome: Delivery | None
    ) -> None:
        for attempt in range(5):
            try:
                return await self._finish(tenant, sub_id, owner, outcome)
            except _RETRYABLE:
                if attempt == 4:
                    raise

    async def finish_many(
        self, owner: str, items: Sequence[tuple[str, str, Delivery | None]]
    ) -> None:
        for tenant, sub_id, outcome in items:
            await self.finish_delivery(tenant, sub_id, owner, outcome)

    async def _finish(
        self, tenant: str, sub_id: str, owner: str, outcome: Delivery | None
    ) -> None:
        async with self._pool.connection() as conn, conn.transaction():
            await conn.execute(_LOCK_SUB, (tenant, sub_id))
            if outcome is None:
                await conn.execute(_pg(Q.RELEASE), (tenant, sub_id, owner))
                return
            if outcome.done:
                await conn.execute(
                    "WITH gone AS (DELETE FROM notify_queue WHERE oid = ANY(%s) RETURNING seq) "
                    "DELETE FROM notify_change e WHERE e.seq IN (SELECT seq FROM gone) "
                    "AND NOT EXISTS (SELECT 1 FROM notify_queue o WHERE o.seq = e.seq "
                    "AND NOT o.oid = ANY(%s))",
                    (outcome.done, outcome.done),
                )
            await conn.execute(_pg(Q.FINISH), Q.finish_params(outcome, tenant, sub_id, owner))

    async def release_leases(self, owner: str | None) -> None:
        async with self._pool.connection() as conn:
            if owner is None:
                await conn.execute(Q.RELEASE_ALL)
            else:
                await conn.execute(_pg(Q.RELEASE_OWNER), (owner,))

    async def fan_out(self, limit: int) -> int:
        todo = _pg(Q.TO_FAN.format(todo="NOT fanned"))
        async with self._pool.connection() as conn:
            if await (await conn.execute(todo, (1,))).fetchone() is None:
                return 0
        async with self._pool.connection() as conn, conn.transaction():
            # one process at a time: changes of one entity keep their order in the queue
            got = await (await conn.execute("SELECT pg_try_advisory_xact_lock(%s)",
                                            (_FAN_KEY,))).fetchone()
            if not got or not got[0]:
                return 0
            rows = await (await conn.execute(todo, (limit,))).fetchall()
            if not rows:
                return 0
            live = set(await (await conn.execute(Q.SUBSCRIPTION_KEYS)).fetchall())
            queue, _ = Q.queue_rows(rows, live)
            if queue:
                cols = [list(c) for c in zip(*queue)]
                await conn.execute(
                    f"INSERT INTO {Q.QUEUE_COLUMNS} SELECT v.te, v.s, v.q, v.t, v.c FROM unnest(%b::text[], %b::text[], "
                    "%b::bigint[], %b::text[], %b::bigint[]) WITH ORDINALITY "
                    "AS v(te, s, q, t, c, n) ORDER BY v.n", cols)
            seqs = [r[0] for r in rows]
            await conn.execute("UPDATE notify_change SET fanned = true WHERE seq = ANY(%s)",
                               (seqs,))
            await conn.execute(
                "DELETE FROM notify_change e WHERE e.seq = ANY(%s) AND NOT EXISTS "
                "(SELECT 1 FROM notify_queue o WHERE o.seq = e.seq)", (seqs,))
            return len(rows)

    async def outbox_size(self, tenant: str | None = None) -> int:
        where, params = ("true", ()) if tenant is None else ("tenant = %s", (tenant,))
        async with self._pool.connection() as conn:
            q = await (await conn.execute(Q.QUEUED.format(where=where), params)).fetchone()
            c = await (await conn.execute(
                Q.UNFANNED.format(todo="NOT fanned AND ", where=where), params)).fetchone()
        return (int(q[0]) if q else 0) + (int(c[0]) if c else 0)
