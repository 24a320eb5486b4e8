"""The delivery workers in a process of their own (``DOSI_NOTIFY_MODE=process``).

``dosi serve`` then starts ``python -m dosi.notify.worker`` beside the HTTP server: the
API process only records notifications in the outbox (inside its write transactions)
and pokes the worker through its standard input after each commit; the worker claims,
renders and sends. Delivering never takes CPU from request handling, and the two
processes use both cores. The worker exits when its standard input closes (the API
process ended) and is restarted by the API process if it dies.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
from contextlib import suppress

from dosi.settings import Settings

log = logging.getLogger("dosi.notify")
_SETTINGS = "DOSI_WORKER_SETTINGS"  # the API process's settings, as JSON


async def _serve(settings: Settings) -> None:
    from dosi.api.app import build_hub
    from dosi.services.retention import history_policy
    from dosi.storage.base import open_store

    store = await open_store(settings.store_url, history=history_policy(settings))
    hub = await build_hub(settings, store)
    await hub.subscriptions.start(settings.store_url.startswith("sqlite:"), hook=False)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    async def pokes() -> None:
        while data := await reader.read(4096):
            if data:
                hub.subscriptions.dispatcher.wake()
        stop.set()

    task = asyncio.create_task(pokes())
    await stop.wait()
    task.cancel()
    await hub.subscriptions.stop()
    await hub.contexts.close()
    await hub.store.close()


class WorkerProcess:
    """The API process's handle on its delivery worker: start, poke, restart, stop."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._proc: subprocess.Popen[bytes] | None = None
        self._poked = False

    def start(self) -> None:
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "dosi.notify.worker"], stdin=subprocess.PIPE,
            env={**os.environ, _SETTINGS: self.settings.model_dump_json()},
        )
        os.set_blocking(self._proc.stdin.fileno(), False)  # type: ignore[union-attr]

    def poke(self) -> None:
        """After a commit: one byte down the pipe (dropped if the pipe is full)."""
        proc = self._proc
        if proc is None or proc.stdin is None:
            return
        if proc.poll() is not None:
            log.warning("notification worker exited (%s); restarting it", proc.returncode)
            self.start()
            proc = self._proc
            assert proc is not None and proc.stdin is not None
        with suppress(BlockingIOError, BrokenPipeError, OSError):
            os.write(proc.stdin.fileno(), b"!")

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        with suppress(OSError):
            if proc.stdin is not None:
                proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main() -> int:
    with suppress(OSError):  # requests first: under overload notifications wait, not writes
        os.nice(10)
    raw = os.environ.get(_SETTINGS)
    settings = Settings.model_validate_json(raw) if raw else Settings()
    logging.basicConfig(level=settings.log_level.upper(),
                        format="%(asctime)s %(name)s[worker] %(message)s")
    asyncio.run(_serve(settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
