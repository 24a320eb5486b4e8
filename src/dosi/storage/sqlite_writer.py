"""The SQLite writer: one thread owning the one write connection (Datasette-style),
with group commit. Every SQLite write of the hub (entity writes, purge, contexts)
runs here.

Jobs queue up while a transaction is running; the writer then takes every waiting job
(up to a bound) into one ``BEGIN IMMEDIATE`` transaction, each job inside its own
SAVEPOINT, and commits once. A job that raises is rolled back to its savepoint and gets
its exception; the others are unaffected. If the transaction as a whole fails (commit
error, or SQLite rolled it back on I/O or disk-full errors), each job is run again on
its own, so one caller's failure never loses another's work. Results are handed to the
callers only after the commit.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

Job = Callable[[sqlite3.Connection], Any]


@dataclass
class _Task:
    fn: Job
    size: int
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Any]
    outcome: tuple[bool, Any] | None = field(default=None)


_STOP = object()


class SqliteWriter:
    """Runs jobs ``fn(conn)`` on the write connection, several per transaction."""

    def __init__(
        self,
        connect: Callable[[], sqlite3.Connection],
        *,
        max_group_ops: int = 20_000,
        max_group_jobs: int = 256,
        after_commit: Callable[[sqlite3.Connection, int], None] | None = None,
    ) -> None:
        self._connect = connect
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._max_ops = max_group_ops
        self._max_jobs = max_group_jobs
        self._after_commit = after_commit
        self._thread = threading.Thread(target=self._main, name="dosi-sqlite-writer", daemon=True)
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self.groups = 0  # transactions committed (for tests and metrics)
        self.jobs = 0

    def start(self) -> None:
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            raise self._error

    async def run(self, fn: Job, size: int = 1) -> Any:
        """Run ``fn(conn)`` in a write transaction; ``size`` weighs it for grouping."""
        if not self._thread.is_alive():
            raise RuntimeError("the SQLite writer is not running")
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Any] = loop.create_future()
        self._queue.put(_Task(fn, size, loop, fut))
        return await fut

    async def close(self) -> None:
        if self._thread.is_alive():
            self._queue.put(_STOP)
            await asyncio.to_thread(self._thread.join)

    # --- the thread ---

    def _main(self) -> None:
        try:
            conn = self._connect()
        except BaseException as exc:  # noqa: BLE001 - reported to start()
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        try:
            while True:
                item = self._queue.get()
                if item is _STOP:
                    break
                group, stop = [item], False
                ops = item.size
                while len(group) < self._max_jobs and ops < self._max_ops:
                    try:
                        nxt = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if nxt is _STOP:
                        stop = True
                        break
                    group.append(nxt)
                    ops += nxt.size
                try:
                    self._run_group(conn, group)
                except BaseException as exc:  # never leave a caller waiting
                    for task in group:
                        if not task.future.done():
                            task.outcome = (False, exc)
                            self._deliver(task)
                    if not isinstance(exc, Exception):
                        raise
                if stop:
                    break
        finally:
            self._fail_pending()
            conn.close()

    def _fail_pending(self) -> None:
        """Callers still queued when the writer stops get an error, not a hang."""
        while True:
            try:
                task = self._queue.get_nowait()
            except queue.Empty:
                return
            if task is not _STOP:
                task.outcome = (False, RuntimeError("the SQLite writer stopped"))
                self._deliver(task)

    def _run_group(self, conn: sqlite3.Connection, group: list[_Task]) -> None:
        try:
            self._transaction(conn, group)
        except Exception as exc:  # noqa: BLE001 - the transaction as a whole failed
            if conn.in_transaction:
                conn.rollback()
            if len(group) == 1:
                group[0].outcome = (False, exc)
            else:
                log.warning(
                    "group commit of %d jobs failed (%s); retrying one by one", len(group), exc
                )
                for task in group:
                    task.outcome = None
                    self._run_group(conn, [task])
                return
        for task in group:
            self._deliver(task)

    def _transaction(self, conn: sqlite3.Connection, group: list[_Task]) -> None:
        conn.execute("BEGIN IMMEDIATE")
        ops = 0
        for task in group:
            conn.execute("SAVEPOINT job")
            try:
                value = task.fn(conn)
            except Exception as exc:
                if not conn.in_transaction:
                    raise  # SQLite rolled everything back: fail the group
                conn.execute("ROLLBACK TO job")
                conn.execute("RELEASE job")
                task.outcome = (False, exc)
            else:
                conn.execute("RELEASE job")
                task.outcome = (True, value)
                ops += task.size
        conn.execute("COMMIT")
        self.groups += 1
        self.jobs += len(group)
        if self._after_commit is not None:
            try:
                self._after_commit(conn, ops)
            except Exception:
                log.exception("after-commit maintenance failed")

    @staticmethod
    def _deliver(task: _Task) -> None:
        assert task.outcome is not None
        ok, value = task.outcome

        def settle() -> None:
            if task.future.done():
                return
            if ok:
                task.future.set_result(value)
            else:
                task.future.set_exception(value)

        try:
            task.loop.call_soon_threadsafe(settle)
        except RuntimeError:  # the caller's loop is closed
            pass
