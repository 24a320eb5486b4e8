"""Nothing lost: the hub process is killed (SIGKILL) while notifications are pending and
a receiver (an HTTP endpoint, or the MQTT broker) is down; after a restart on the same store and the receiver's recovery,
every acknowledged change has been delivered (at least once), in order per entity, and
the subscription's status counters tell what the receivers saw.

A real ``dosi serve`` subprocess, real HTTP receivers on loopback (threads of this
process), both stores. No timing assertion: the test polls until everything arrived or
a generous deadline passed, then checks the contents.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.pg import fresh_pg

ENTS = "/ngsi-ld/v1/entities"
SUBS = "/ngsi-ld/v1/subscriptions"
TYPE = "https://example.org/NoLoss/Counter"
ATTR = "https://example.org/NoLoss/n"
ENTITIES = [f"urn:ngsi-ld:Counter:{i}" for i in range(4)]
DEADLINE = 120.0  # seconds: generous, the loop ends as soon as all arrived


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Receiver:
    """An HTTP receiver that records each notification it accepts and, while ``down``,
    answers 503 (and counts those refusals)."""

    def __init__(self) -> None:
        self.down = False
        self.accepted: list[dict[str, Any]] = []
        self.refused = 0
        self.lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with owner.lock:
                    if owner.down:
                        owner.refused += 1
                        code = 503
                    else:
                        owner.accepted.append(json.loads(body))
                        code = 200
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/notify"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def values(self) -> dict[str, list[int]]:
        """Per entity, the values of ``n`` in the order they arrived."""
        out: dict[str, list[int]] = defaultdict(list)
        with self.lock:
            for body in self.accepted:
                for e in body["data"]:
                    out[e["id"]].append(e[ATTR] if ATTR in e else e["n"])
        return out

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Hub:
    """``dosi serve`` as a subprocess; ``kill()`` sends SIGKILL."""

    def __init__(self, store: str, tmp: Path, env: dict[str, str]) -> None:
        self.store, self.tmp, self.env = store, tmp, env
        self.proc: subprocess.Popen[bytes] | None = None
        self.base = ""
        self.runs = 0

    def start(self) -> None:
        port = free_port()
        self.runs += 1
        log = open(self.tmp / f"hub-{self.runs}.log", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "dosi.cli", "serve", "--port", str(port),
             "--store", self.store],
            cwd=self.tmp, stdout=log, stderr=subprocess.STDOUT,
            env={**os.environ, "DOSI_AUTH": "false", **self.env},  # not about security
        )
        self.base = f"http://127.0.0.1:{port}"
        end = time.monotonic() + 60
        while time.monotonic() < end:
            assert self.proc.poll() is None, self.log()
            try:
                if httpx.get(self.base + "/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError("hub did not start:\n" + self.log())

    def log(self) -> str:
        return "\n".join((self.tmp / f"hub-{i}.log").read_text(errors="replace")[-4000:]
                         for i in range(1, self.runs + 1))

    def kill(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)
        self.proc = None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def status(self, sub_id: str) -> dict[str, Any]:
        r = httpx.get(f"{self.base}{SUBS}/{sub_id}", timeout=10)
        assert r.status_code == 200, r.text
        return r.json()["notification"]


def subscribe(hub: Hub, sub_id: str, url: str) -> None:
    body = {"id": sub_id, "type": "Subscription", "entities": [{"type": TYPE}],
            "notification": {"format": "keyValues", "attributes": [ATTR],
                             "endpoint": {"uri": url, "accept": "application/json"}}}
    r = httpx.post(hub.base + SUBS, json=body, timeout=10)
    assert r.status_code == 201, r.text


class Writers:
    """One thread per entity, each PATCHing ``n`` = 1, 2, 3, ... one at a time until
    told to stop or the hub goes away; ``acked`` holds the values the hub answered 204."""

    def __init__(self, hub: Hub, start: dict[str, int]) -> None:
        self.hub = hub
        self.acked: dict[str, list[int]] = defaultdict(list)
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(e, start[e]), daemon=True)
                        for e in ENTITIES]
        for t in self.threads:
            t.start()

    def _run(self, eid: str, n: int) -> None:
        with httpx.Client(base_url=self.hub.base, timeout=10) as c:
            while not self.stop.is_set():
                n += 1
                try:
                    r = c.patch(f"{ENTS}/{eid}/attrs", json={ATTR: {"type": "Property",
                                                                    "value": n}})
                except httpx.HTTPError:
                    return  # the hub is gone; this write may or may not have committed
                assert r.status_code == 204, r.text
                self.acked[eid].append(n)

    def join(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(30)

    def count(self) -> int:
        return sum(len(v) for v in self.acked.values())


def wait_for(predicate: Any, what: str, hub: Hub, timeout: float = DEADLINE) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"gave up waiting for {what}\n{hub.log()}")


def in_order(seen: list[int]) -> bool:
    """Each value first arrives after every smaller one (replays of a batch after a
    crash may repeat values: at least once)."""
    first = list(dict.fromkeys(seen))
    return first == sorted(first)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgres":
        return asyncio.run(fresh_pg())
    return f"sqlite:///{tmp_path}/hub.db"


@pytest.fixture
def receivers() -> Iterator[tuple[Receiver, Receiver]]:
    down, up = Receiver(), Receiver()
    yield down, up
    down.close()
    up.close()


def test_sigkill_with_pending_notifications_loses_nothing(store, tmp_path, receivers):
    down, up = receivers
    down.down = True
    # first run: failed attempts back off 2 s, so the kill falls while rows wait
    # (a 2 s send timeout: a dead process's leases run out after 3 x 2 + 5 s on PostgreSQL)
    hub = Hub(store, tmp_path, {"DOSI_NOTIFY_RETRY_BASE": "2", "DOSI_NOTIFY_RETRY_MAX": "2",
                                "DOSI_NOTIFY_TIMEOUT": "2"})
    hub.start()
    try:
        for eid in ENTITIES:
            r = httpx.post(hub.base + ENTS, json={"id": eid, "type": TYPE,
                                                   ATTR: {"type": "Property", "value": 0}})
            assert r.status_code == 201, r.text
        subscribe(hub, "urn:ngsi-ld:Subscription:down", down.url)
        subscribe(hub, "urn:ngsi-ld:Subscription:up", up.url)

        writers = Writers(hub, dict.fromkeys(ENTITIES, 0))
        # the dead receiver has refused and the hub recorded it; the live one is being
        # served; the writers are still writing when the hub dies
        wait_for(lambda: down.refused >= 1 and writers.count() >= 40 and up.accepted
                 and hub.status("urn:ngsi-ld:Subscription:down").get("timesFailed", 0) >= 1,
                 "a refused notification and some writes", hub)
        failed_before = hub.status("urn:ngsi-ld:Subscription:down").get("timesFailed", 0)
        refused_before = down.refused
        sent_before = hub.status("urn:ngsi-ld:Subscription:up").get("timesSent", 0)
        hub.kill()
        writers.join()
        acked = {e: list(v) for e, v in writers.acked.items()}
        assert sum(map(len, acked.values())) >= 40

        # second run on the same store: the dead receiver is still down for a while
        hub.env = {**hub.env, "DOSI_NOTIFY_RETRY_BASE": "0.2", "DOSI_NOTIFY_RETRY_MAX": "0.5"}
        hub.start()
        wait_for(lambda: down.refused > refused_before, "a refusal after the restart", hub)
        with down.lock:
            down.down = False

        def complete(rec: Receiver) -> bool:
            got = rec.values()
            return all(set(v) <= set(got.get(e, ())) for e, v in acked.items())

        wait_for(lambda: complete(down) and complete(up), "every change at both", hub)
        # settle: the last answers are recorded in the status
        wait_for(lambda: hub.status("urn:ngsi-ld:Subscription:down").get("timesSent")
                 == len(down.accepted) and all(
                     hub.status(s).get("status") == "ok" for s in
                     ("urn:ngsi-ld:Subscription:down", "urn:ngsi-ld:Subscription:up")),
                 "the status to record the deliveries", hub)

        for rec, name in ((down, "down"), (up, "up")):
            got = rec.values()
            for eid, values in acked.items():
                missing = sorted(set(values) - set(got.get(eid, ())))
                assert not missing, f"{name}: {eid} lost changes {missing}"
                assert in_order(got[eid]), f"{name}: {eid} out of order: {got[eid]}"

        # the dead receiver got nothing before the kill and nothing is sent twice after:
        # each accepted notification counted once, each change once
        st = hub.status("urn:ngsi-ld:Subscription:down")
        assert st["timesSent"] == len(down.accepted)
        for eid, seen in down.values().items():
            assert len(seen) == len(set(seen)), f"{eid} delivered twice: {seen}"
        # failures: those recorded before the kill, plus every refusal after the restart
        # (a refusal answered just before the kill may not have been recorded)
        after = down.refused - refused_before
        assert failed_before + after <= st["timesFailed"] <= down.refused
        assert st["status"] == "ok"
        assert st["lastSuccess"] >= st["lastFailure"]
        assert st["lastNotification"] == st["lastSuccess"]

        # the live receiver: a notification sent just before the kill may be sent again
        st = hub.status("urn:ngsi-ld:Subscription:up")
        assert sent_before <= st["timesSent"] <= len(up.accepted)
        assert st["status"] == "ok" and "timesFailed" not in st
    finally:
        hub.stop()


class Broker:
    """A Mosquitto of the test's own on a free loopback port, to stop and start (the
    shared one on 1883 stays up for the other tests)."""

    def __init__(self, tmp: Path) -> None:
        exe = shutil.which("mosquitto") or next(
            (p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto")
             if os.path.exists(p)), None)
        if exe is None:
            if os.environ.get("CI") or os.environ.get("DOSI_REQUIRE_MQTT"):
                pytest.fail("mosquitto is not installed (scripts/services.sh installs it)")
            pytest.skip("mosquitto is not installed")
        self.exe, self.port = exe, free_port()
        self.conf = tmp / "mosquitto.conf"
        self.conf.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous true\n")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        import socket

        self.proc = subprocess.Popen([self.exe, "-c", str(self.conf)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        end = time.monotonic() + 20
        while time.monotonic() < end:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.1)
        raise AssertionError("mosquitto did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None


def test_sigkill_with_the_mqtt_broker_down_loses_nothing(tmp_path):
    import queue

    import paho.mqtt.client as mqtt

    broker = Broker(tmp_path)  # not started: the receiver is down
    hub = Hub(f"sqlite:///{tmp_path}/hub.db", tmp_path,
              {"DOSI_NOTIFY_RETRY_BASE": "1", "DOSI_NOTIFY_RETRY_MAX": "1",
               "DOSI_NOTIFY_TIMEOUT": "2"})
    client = None
    hub.start()
    try:
        for eid in ENTITIES:
            r = httpx.post(hub.base + ENTS, json={"id": eid, "type": TYPE,
                                                   ATTR: {"type": "Property", "value": 0}})
            assert r.status_code == 201, r.text
        body = {"id": "urn:ngsi-ld:Subscription:mqtt", "type": "Subscription",
                "entities": [{"type": TYPE}],
                "notification": {"format": "keyValues", "attributes": [ATTR], "endpoint": {
                    "uri": f"mqtt://127.0.0.1:{broker.port}/no-loss/n",
                    "accept": "application/json",
                    "notifierInfo": [{"key": "MQTT-QoS", "value": "1"}]}}}
        assert httpx.post(hub.base + SUBS, json=body).status_code == 201
        writers = Writers(hub, dict.fromkeys(ENTITIES, 0))
        wait_for(lambda: writers.count() >= 40 and hub.status(
            "urn:ngsi-ld:Subscription:mqtt").get("timesFailed", 0) >= 1,
            "a failed publish and some writes", hub)
        hub.kill()
        writers.join()
        acked = {e: list(v) for e, v in writers.acked.items()}

        # the broker and its subscriber come back, then the hub
        broker.start()
        got: queue.Queue[dict[str, Any]] = queue.Queue()
        ready: queue.Queue[int] = queue.Queue()
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        client.on_message = lambda c, u, m: got.put(json.loads(m.payload))
        client.on_subscribe = lambda c, u, mid, rc, p: ready.put(mid)
        client.connect("127.0.0.1", broker.port)
        client.loop_start()
        client.subscribe("no-loss/n", qos=1)
        ready.get(timeout=10)
        hub.start()

        seen: dict[str, list[int]] = defaultdict(list)

        def complete() -> bool:
            while not got.empty():
                for e in got.get()["body"]["data"]:
                    seen[e["id"]].append(e[ATTR])
            return all(set(v) <= set(seen.get(e, ())) for e, v in acked.items())

        wait_for(complete, "every change through the broker", hub)
        for eid in acked:
            assert in_order(seen[eid]), f"{eid} out of order: {seen[eid]}"
        wait_for(lambda: hub.status("urn:ngsi-ld:Subscription:mqtt").get("status") == "ok",
                 "status ok", hub)
        st = hub.status("urn:ngsi-ld:Subscription:mqtt")
        assert st["timesSent"] >= 1 and st["timesFailed"] >= 1
        assert st["lastSuccess"] >= st["lastFailure"]
    finally:
        if client is not None:
            client.loop_stop()
            client.disconnect()
        hub.stop()
        broker.stop()
