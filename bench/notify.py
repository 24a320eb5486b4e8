"""Notification benchmarks (issue 4): latency write -> receiver (p50/p99) and delivery
throughput to a local HTTP receiver and to Mosquitto with 1, 100 and 10,000
subscriptions; and write throughput with 100 matching subscriptions vs none.

usage: python bench/notify.py [--store sqlite|postgresql://...] [--subs 1,100,10000]
                              [--seconds 5] [--out docs/performance.md]

The hub runs as one uvicorn process; the writer and the receivers share this process's
event loop (the receiver answers 200 at once). Latency is measured from just before
the write request is sent to the moment the receiver has the notification (one clock).
Not a test: nothing here asserts timing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import queue
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from run import free_port, stop, wait_up

LD = {"Content-Type": "application/ld+json"}
CTX = {"Car": "https://example.org/Car", "Bus": "https://example.org/Bus",
       "t": "https://example.org/t"}


class Sink:
    """Where notifications land: HTTP (a uvicorn receiver) or MQTT (a paho subscriber)."""

    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.items = 0
        self.last = 0.0

    def record(self, body: dict[str, Any]) -> None:
        now = time.perf_counter()
        for d in body.get("data", []):
            t = d.get("t")
            if isinstance(t, (int, float)):
                self.latencies.append(now - t)
            self.items += 1
        self.last = now


async def http_sink(sink: Sink) -> tuple[str, uvicorn.Server, asyncio.Task[None]]:
    async def notify(request: Request) -> Response:
        sink.record(orjson.loads(await request.body()))
        return Response(status_code=200)

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(Starlette(routes=[Route("/n", notify,
                            methods=["POST"])]), host="127.0.0.1", port=port,
                            log_level="error", lifespan="off"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    return f"http://127.0.0.1:{port}/n", server, task


def mqtt_sink(sink: Sink, topic: str) -> Any:
    import paho.mqtt.client as mqtt

    ready: queue.Queue[int] = queue.Queue()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    client.on_message = lambda c, u, m: sink.record(orjson.loads(m.payload)["body"])
    client.on_subscribe = lambda c, u, mid, rc, p: ready.put(mid)
    client.connect("127.0.0.1", 1883)
    client.loop_start()
    client.subscribe(topic + "/#", qos=0)
    ready.get(timeout=10)
    return client


MODE = {"value": "inline"}


def start_hub(store: str, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "DOSI_AUTH": "false", "DOSI_NOTIFY_POLL_INTERVAL": "0.2",
           "DOSI_NOTIFY_MODE": MODE["value"]}
    proc = subprocess.Popen([sys.executable, "-m", "dosi.cli", "serve", "--port", str(port),
                             "--store", store], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    wait_up(f"http://127.0.0.1:{port}/health")
    return proc


async def subscribe(c: httpx.AsyncClient, n: int, uri_of: Any, etype: str = "Car") -> None:
    sem = asyncio.Semaphore(16)

    async def one(i: int) -> None:
        async with sem:
            r = await c.post("/ngsi-ld/v1/subscriptions", headers=LD, json={
                "type": "Subscription", "entities": [{"type": etype}], "@context": CTX,
                "notification": {"format": "keyValues",
                                 "endpoint": {"uri": uri_of(i), "accept": "application/json"}}})
            r.raise_for_status()

    await asyncio.gather(*(one(i) for i in range(n)))


async def entities(c: httpx.AsyncClient, count: int, etype: str = "Car") -> list[str]:
    ids = [f"urn:ngsi-ld:{etype}:{i}" for i in range(count)]
    body = [{"id": i, "type": etype, "t": {"type": "Property", "value": 0}, "@context": CTX}
            for i in ids]
    r = await c.post("/ngsi-ld/v1/entityOperations/upsert", json=body, headers=LD)
    r.raise_for_status()
    return ids


async def update(c: httpx.AsyncClient, eid: str) -> None:
    r = await c.patch(f"/ngsi-ld/v1/entities/{eid}/attrs", headers=LD, json={
        "t": {"type": "Property", "value": time.perf_counter()}, "@context": CTX})
    r.raise_for_status()


async def drain(sink: Sink, expected: int, timeout: float) -> None:
    end = time.perf_counter() + timeout
    while sink.items < expected and time.perf_counter() < end:
        await asyncio.sleep(0.05)


async def scenario(store: str, kind: str, subs: int, seconds: float) -> dict[str, Any]:
    """Latency (isolated writes) and throughput (a burst) with ``subs`` subscriptions."""
    port = free_port()
    hub = start_hub(store, port)
    sink = Sink()
    server = task = mq = None
    try:
        if kind == "http":
            url, server, task = await http_sink(sink)
            uri_of = (lambda i: url)
        else:
            topic = f"dosi-bench/{uuid.uuid4().hex}"
            mq = mqtt_sink(sink, topic)
            uri_of = (lambda i: f"mqtt://127.0.0.1:1883/{topic}/{i % 16}")
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=120) as c:
            ids = await entities(c, 200)
            await subscribe(c, subs, uri_of)
            await asyncio.sleep(1.0)
            writes = 30 if subs < 1000 else 5
            for i in range(writes):  # latency: one change at a time, drained each time
                before = sink.items
                await update(c, ids[i])
                await drain(sink, before + subs, 60)
            latencies = sorted(sink.latencies)
            sink.latencies.clear()
            burst = 200 if subs < 1000 else 10
            start, before = time.perf_counter(), sink.items
            sem = asyncio.Semaphore(8)

            async def one(eid: str) -> None:
                async with sem:
                    await update(c, eid)

            await asyncio.gather(*(one(ids[i % len(ids)]) for i in range(burst)))
            await drain(sink, before + burst * subs, 300)
            elapsed = max(sink.last - start, 1e-9)
            return {
                "kind": kind, "subs": subs,
                "p50_ms": 1000 * statistics.median(latencies) if latencies else None,
                "p99_ms": 1000 * latencies[int(0.99 * (len(latencies) - 1))]
                if latencies else None,
                "throughput": (sink.items - before) / elapsed,
                "delivered": f"{sink.items - before}/{burst * subs}",
            }
    finally:
        stop(hub)
        if server is not None:
            server.should_exit = True
            await task  # type: ignore[misc]
        if mq is not None:
            mq.loop_stop()
            mq.disconnect()


RECEIVER = """
import sys, uvicorn
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route
async def n(request):
    await request.body()
    return Response(status_code=200)
uvicorn.run(Starlette(routes=[Route("/n", n, methods=["POST"])]), host="127.0.0.1",
            port=int(sys.argv[1]), log_level="error")
"""


async def write_rate(store: str, subs: int, seconds: float) -> float:
    """PATCH requests/s (8 concurrent writers) with ``subs`` matching subscriptions whose
    receiver runs in a process of its own."""
    port, rport = free_port(), free_port()
    hub = start_hub(store, port)
    receiver = subprocess.Popen([sys.executable, "-c", RECEIVER, str(rport)])
    url = f"http://127.0.0.1:{rport}/n"
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as c:
            ids = await entities(c, 500)
            await subscribe(c, subs, lambda i: url)
            await asyncio.sleep(1.0)
            done, end = 0, time.perf_counter() + seconds

            async def writer(k: int) -> None:
                nonlocal done
                i = k
                while time.perf_counter() < end:
                    await update(c, ids[i % len(ids)])
                    done += 1
                    i += 8

            start = time.perf_counter()
            await asyncio.gather(*(writer(k) for k in range(8)))
            return done / (time.perf_counter() - start)
    finally:
        stop(hub)
        stop(receiver)


def fmt(x: float | None, unit: str = "") -> str:
    return "-" if x is None else f"{x:,.1f}{unit}"


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--store", default="sqlite")
    ap.add_argument("--subs", default="1,100,10000")
    ap.add_argument("--kinds", default="http,mqtt")
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--out", default=None)
    ap.add_argument("--mode", default="inline", help="DOSI_NOTIFY_MODE: inline or process")
    ap.add_argument("--writes-only", action="store_true")
    args = ap.parse_args()
    MODE["value"] = args.mode
    tmp = tempfile.mkdtemp(prefix="dosi-bench-")

    def store_url(tag: str) -> str:
        return f"sqlite:///{tmp}/{tag}.db" if args.store == "sqlite" else args.store

    rows = []
    for kind in ([] if args.writes_only else args.kinds.split(",")):
        for n in (int(x) for x in args.subs.split(",")):
            r = await scenario(store_url(f"{kind}{n}"), kind, n, args.seconds)
            print(r, flush=True)
            rows.append(r)
    none = await write_rate(store_url("w0"), 0, args.seconds)
    hundred = await write_rate(store_url("w100"), 100, args.seconds)
    print(f"writes/s: none {none:.0f}, 100 subscriptions {hundred:.0f}", flush=True)
    store_name = "sqlite" if args.store == "sqlite" else "postgres"
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "", "## Notifications (issue 4)", "",
        (f"Measured {when} on {os.cpu_count()} cores ({platform.processor() or 'cpu'}), "
         f"Python {platform.python_version()}, store {store_name}; `python bench/notify.py`. "
         "Hub: one uvicorn process; receivers and writer in one other process. Latency: "
         "write request sent -> notification received, one change at a time; throughput: "
         "entities notified per second for a burst of concurrent writes (200 changes; 10 "
         "with 10,000 subscriptions), every subscription matching every change."), "",
        ("| endpoint | subscriptions | latency p50 | latency p99 | throughput (entities/s) "
         "| delivered |"),
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r['kind']} | {r['subs']:,} | {fmt(r['p50_ms'], ' ms')} | "
                     f"{fmt(r['p99_ms'], ' ms')} | {fmt(r['throughput'])} | {r['delivered']} |")
    lines += ["", (f"Write throughput (PATCH, 8 concurrent writers, {args.seconds:g} s): "
                   f"{none:,.0f} req/s without subscriptions, {hundred:,.0f} req/s with 100 "
                   f"matching subscriptions delivering over HTTP: "
                   f"**{100 * hundred / none:.0f}%** (target >= 70%)."), ""]
    text = "\n".join(lines)
    print(text)
    if args.out:
        with open(args.out, "a", encoding="utf-8") as f:
            f.write(text)


if __name__ == "__main__":
    asyncio.run(main())
