"""Subscriptions and the outbox on SQLite: ``SubscriptionStore`` for ``SqliteStore``
(a mixin), and the step its writer thread runs inside each write transaction.

Every statement that writes runs on the store's one writer thread (``_writer``), so
claims and acknowledgements never race; a SQLite file has one hub process.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

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


def record_notices(
    conn: sqlite3.Connection, tenant: str, hook: ChangeHook | None, changes: Sequence[Change]
) -> None:
    """Inside a write transaction: put the notifications the changes cause in the outbox."""
    if hook is None or not changes:
        return
    notices = hook.notices(tenant, changes)
    if not notices:
        return
    conn.executemany(f"INSERT INTO {Q.CHANGE_COLUMNS} VALUES (?, ?, ?, ?, ?, ?, ?)",
                     Q.change_rows(tenant, notices, changes, now_iso()))


def _finish(
    conn: sqlite3.Connection, tenant: str, sub_id: str, owner: str, outcome: Delivery | None
) -> None:
    if outcome is None:
        conn.execute(Q.RELEASE, (tenant, sub_id, owner))
        return
    if outcome.done:
        marks = ",".join("?" * len(outcome.done))
        seqs = [r[0] for r in conn.execute(
            f"SELECT DISTINCT seq FROM notify_queue WHERE oid IN ({marks})", outcome.done)]
        conn.execute(f"DELETE FROM notify_queue WHERE oid IN ({marks})", outcome.done)
        conn.executemany(Q.ORPHAN_EVENTS, [(e,) for e in seqs])
    conn.execute(Q.FINISH, Q.finish_params(outcome, tenant, sub_id, owner))


class SqliteSubscriptions:
    """Mixin: needs ``self._writer`` (SqliteWriter) and ``self._read`` (reader pool)."""

    change_hook: ChangeHook | None = None
    _writer: Any
    _read: Any

    async def create_subscription(self, tenant: str, doc: Doc, now: str) -> bool:
        def job(conn: sqlite3.Connection) -> bool:
            try:
                conn.execute(
                    Q.INSERT,
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
            except sqlite3.IntegrityError:
                return False
            conn.execute(Q.BUMP_REVISION)
            return True

        return await self._writer.run(job)  # type: ignore[no-any-return]

    async def get_subscription(self, tenant: str, sub_id: str) -> SubscriptionRecord | None:
        row = await self._read(lambda conn: conn.execute(Q.GET, (tenant, sub_id)).fetchone())
        return Q.record(row) if row else None

    async def list_subscriptions(
        self, tenant: str, limit: int, offset: int
    ) -> tuple[list[SubscriptionRecord], int]:
        def run(conn: sqlite3.Connection) -> tuple[list[SubscriptionRecord], int]:
            rows = conn.execute(Q.PAGE, (tenant, limit, offset)).fetchall()
            (n,) = conn.execute(Q.COUNT, (tenant,)).fetchone()
            return [Q.record(r) for r in rows], int(n)

        return await self._read(run)  # type: ignore[no-any-return]

    async def update_subscription(self, tenant: str, doc: Doc, now: str) -> bool:
        def job(conn: sqlite3.Connection) -> bool:
            n = conn.execute(
                Q.UPDATE, (Q.dumps(doc), now, Q.is_periodic(doc), tenant, doc["id"])
            ).rowcount
            conn.execute(Q.BUMP_REVISION)
            return n > 0

        return await self._writer.run(job)  # type: ignore[no-any-return]

    async def delete_subscription(self, tenant: str, sub_id: str) -> bool:
        def job(conn: sqlite3.Connection) -> bool:
            n = conn.execute(Q.DELETE, (tenant, sub_id)).rowcount
            eids = [
                r[0]
                for r in conn.execute(
                    "SELECT DISTINCT seq FROM notify_queue WHERE tenant = ? AND sub_id = ?",
                    (tenant, sub_id),
                )
            ]
            conn.execute(Q.DELETE_OUTBOX_OF, (tenant, sub_id))
            conn.executemany(Q.ORPHAN_EVENTS, [(e,) for e in eids])
            conn.execute(Q.BUMP_REVISION)
            return n > 0

        return await self._writer.run(job)  # type: ignore[no-any-return]

    async def all_subscriptions(self) -> tuple[int, list[SubscriptionRecord]]:
        def run(conn: sqlite3.Connection) -> tuple[int, list[SubscriptionRecord]]:
            conn.execute("BEGIN")
            try:
                (rev,) = conn.execute(Q.REVISION).fetchone()
                return int(rev), [Q.record(r) for r in conn.execute(Q.ALL)]
            finally:
                conn.execute("COMMIT")

        return await self._read(run)  # type: ignore[no-any-return]

    async def subscriptions_revision(self) -> int:
        row = await self._read(lambda conn: conn.execute(Q.REVISION).fetchone())
        return int(row[0]) if row else 0

    async def claim_due(
        self, owner: str, now_ms: int, lease_ms: int, limit: int, periodic: bool
    ) -> list[SubscriptionRecord]:
        due = (now_ms, now_ms, int(periodic), now_ms)
        if not await self._read(lambda conn: conn.execute(Q.DUE, (*due, 1)).fetchone()):
            return []  # nothing due: no write transaction

        def job(conn: sqlite3.Connection) -> list[SubscriptionRecord]:
            keys = conn.execute(Q.DUE, (*due, limit)).fetchall()
            out = []
            for tenant, sub_id in keys:
                conn.execute(
                    "UPDATE subscription SET lease_owner = ?, lease_until = ? "
                    "WHERE tenant = ? AND id = ?",
                    (owner, now_ms + lease_ms, tenant, sub_id),
                )
                row = conn.execute(Q.GET, (tenant, sub_id)).fetchone()
                out.append(Q.record(row))
            return out

        return await self._writer.run(job)  # type: ignore[no-any-return]

    async def pending(self, tenant: str, sub_id: str, limit: int) -> list[PendingNotice]:
        rows = await self._read(
            lambda conn: conn.execute(Q.PENDING, (tenant, sub_id, limit)).fetchall()
        )
        return [Q.pending_notice(r) for r in rows]

    async def finish_delivery(
        self, tenant: str, sub_id: str, owner: str, outcome: Delivery | None
    ) -> None:
        await self.finish_many(owner, [(tenant, sub_id, outcome)])

    async def finish_many(
        self, owner: str, items: Sequence[tuple[str, str, Delivery | None]]
    ) -> None:
        def job(conn: sqlite3.Connection) -> None:
            for tenant, sub_id, outcome in items:
                _finish(conn, tenant, sub_id, owner, outcome)

        size = sum(len(o.done) if o else 1 for _, _, o in items)
        await self._writer.run(job, size=max(1, size))

    async def release_leases(self, owner: str | None) -> None:
        def job(conn: sqlite3.Connection) -> None:
            if owner is None:
                conn.execute(Q.RELEASE_ALL)
            else:
                conn.execute(Q.RELEASE_OWNER, (owner,))

        await self._writer.run(job)

    async def fan_out(self, limit: int) -> int:
        todo = Q.TO_FAN.format(todo="fanned = 0")
        if not await self._read(lambda conn: conn.execute(todo, (1,)).fetchone()):
            return 0

        def job(conn: sqlite3.Connection) -> int:
            rows = conn.execute(todo, (limit,)).fetchall()
            if not rows:
                return 0
            live = set(conn.execute(Q.SUBSCRIPTION_KEYS))
            queue, unheard = Q.queue_rows(rows, live)
            conn.executemany(f"INSERT INTO {Q.QUEUE_COLUMNS} VALUES (?, ?, ?, ?, ?)", queue)
            conn.execute("UPDATE notify_change SET fanned = 1 WHERE fanned = 0 AND seq <= ?",
                         (rows[-1][0],))
            conn.executemany("DELETE FROM notify_change WHERE seq = ?", [(q,) for q in unheard])
            return len(rows)

        return await self._writer.run(job)  # type: ignore[no-any-return]

    async def outbox_size(self, tenant: str | None = None) -> int:
        def run(conn: sqlite3.Connection) -> int:
            where, params = ("true", ()) if tenant is None else ("tenant = ?", (tenant,))
            (queued,) = conn.execute(Q.QUEUED.format(where=where), params).fetchone()
            (unfanned,) = conn.execute(
                Q.UNFANNED.format(todo="fanned = 0 AND ", where=where), params).fetchone()
            return int(queued) + int(unfanned)

        return await self._read(run)  # type: ignore[no-any-return]
