"""A Mosquitto broker of a test's own, on a free loopback port (the real broker binary).

The shared broker on 1883 keeps the default per-client queue limit (1000 messages);
tests that kill the hub mid-stream need the broker to queue everything, and must not
feel the other tests' traffic: they start their own with ``max_queued_messages 0``.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def mosquitto_binary() -> str | None:
    return shutil.which("mosquitto") or next(
        (p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto") if os.path.exists(p)),
        None)


@contextmanager
def own_broker(tmp: Path) -> Iterator[int]:
    """Start mosquitto on a free port; yields the port. Skips (or fails under
    DOSI_REQUIRE_MQTT=1, as scripts/test.sh sets) when mosquitto is not installed."""
    binary = mosquitto_binary()
    if binary is None:
        if os.environ.get("DOSI_REQUIRE_MQTT"):
            pytest.fail("mosquitto is not installed (scripts/services.sh installs it)")
        pytest.skip("mosquitto is not installed")
    port = free_port()
    conf = tmp / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\n"
                    "max_queued_messages 0\nmax_inflight_messages 0\npersistence false\n")
    proc = subprocess.Popen([binary, "-c", str(conf)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("mosquitto did not start") from None
                time.sleep(0.05)
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
