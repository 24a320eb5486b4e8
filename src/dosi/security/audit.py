"""The audit log: who read or changed what, and when. Records gather in memory for
``flush_interval`` seconds and are appended (hash-chained) in one transaction, so
auditing costs one write per interval rather than one per request. ``flush()`` runs
before the log is read and when the hub stops."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from dosi.ngsild.values import now_iso
from dosi.security.chain import ChainReport, verify_rows
from dosi.storage.security_base import AuditEntry, AuditRow, SecurityStore

log = logging.getLogger("dosi.audit")


class AuditLog:
    def __init__(self, store: SecurityStore, flush_interval: float = 0.2,
                 max_batch: int = 1000) -> None:
        self.store = store
        self._pending: list[AuditEntry] = []
        self._interval = flush_interval
        self._max = max_batch
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()

    def record(self, subject: str, action: str, tenant: str = "", target: str = "",
               detail: dict[str, Any] | None = None) -> None:
        self._pending.append(AuditEntry(now_iso(), subject, action, tenant, target, detail))
        if len(self._pending) >= self._max:
            self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="dosi-audit")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.flush()

    async def _loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._interval):
                    await self._wake.wait()
            self._wake.clear()
            try:
                await self.flush()
            except Exception:  # the store is down: keep the records and try again
                log.exception("audit records could not be written; retrying")

    async def flush(self) -> None:
        async with self._lock:
            batch, self._pending = self._pending, []
            if not batch:
                return
            try:
                await self.store.append_audit(batch)
            except BaseException:
                self._pending[:0] = batch
                raise

    async def read(self, **filters: Any) -> list[AuditRow]:
        await self.flush()
        return await self.store.read_audit(**filters)


async def verify(store: SecurityStore, page: int = 5000) -> ChainReport:
    """Check the whole chain (``dosi audit verify``)."""

    async def rows() -> list[AuditRow]:
        out: list[AuditRow] = []
        after = 0
        while True:
            chunk = await store.read_audit(after=after, limit=page)
            out += chunk
            if len(chunk) < page:
                return out
            after = chunk[-1].seq

    return verify_rows(await rows())
