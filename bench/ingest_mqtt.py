"""MQTT ingestion benchmark (issue 5): observations/s into the hub with history on,
beside the raw Mosquitto rate on the same machine in the same run (the ceiling).

usage: python bench/ingest_mqtt.py [--messages 60000] [--devices 1000] [--values 4]
                                   [--out docs/performance.md]

Each figure is the drain of a backlog: N QoS 1 messages are first queued by the broker
for a persistent session that is offline, then the subscriber connects and the clock
runs from its connection to its N-th message. So the publisher's speed does not count,
and every subscriber meets the same queue:
  1. ceiling, C: ``mosquitto_sub`` (QoS 1, persistent session) only receives and acks;
  2. ceiling, Python: a paho-mqtt subscriber that only acks (the client library the hub uses);
  3. the hub: dosi's MQTT adapter (``MqttAdapter``, the code ``dosi serve`` runs) on a
     SQLite store with history on, acknowledging each message only after its batch is
     committed (fast path: one transaction per batch, every value a history row).
Messages are UltraLight-like ``n|12|v|47|occ|0.31|hw|4|ts|<epoch>`` from N vehicle
detector stations (a TrafficFlowObserved entity each, Smart Data Models schema checked,
``dateObserved`` set to the message time); an observation is one measured value with its
time (one history row; the ``dateObserved`` rows are not counted), as in SensorThings.
A fourth, live figure: the same adapter with the publisher running at the same time.
Not a test: nothing here asserts timing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from run import free_port

# a vehicle detector station (VDS) per device: counts, speed, occupancy, headway, gap, length
KEYS = [("n", "intensity", None, 0, 10000), ("v", "averageVehicleSpeed", "KMH", 0, 250),
        ("occ", "occupancy", "C62", 0, 1), ("hw", "averageHeadwayTime", "SEC", 0, 3600),
        ("gap", "averageGapDistance", "MTR", 0, 10000), ("len", "averageVehicleLength", "MTR", 0, 30)]


def group(prefix: str, values: int) -> dict:
    return {"name": "bench-vds", "dataset": "bench-vds", "topic": prefix + "/{district}/vds/{device}",
            "entity_id": "urn:ngsi-ld:TrafficFlowObserved:bench-{device}",
            "entity_type": "TrafficFlowObserved", "time_attribute": "dateObserved",
            "context": ["https://smart-data-models.github.io/dataModel.Transportation/context.jsonld"],
            "attributes": {k: {"name": n, "unitCode": u, "min": lo, "max": hi}
                           for k, n, u, lo, hi in KEYS[:values]}}


def payload(i: int, values: int) -> str:
    vals = [i % 40, 30 + i % 50, round((i % 90) / 100, 2), 2 + i % 9, 20 + i % 70, 4.5][:values]
    parts = [f"{k}|{v}" for (k, *_), v in zip(KEYS, vals)]
    return "|".join(parts) + f"|ts|{1714540000 + i}"


def publish(port: int, n: int, prefix: str, devices: int, values: int) -> None:
    """Publish n QoS 1 messages and wait until the broker has them all."""
    import paho.mqtt.client as mqtt

    pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    pub.max_inflight_messages_set(1000)
    pub.max_queued_messages_set(0)
    pub.connect("127.0.0.1", port)
    pub.loop_start()
    last = None
    for i in range(n):
        last = pub.publish(f"{prefix}/d{i % 7}/vds/dev{i % devices}", payload(i, values), qos=1)
    assert last is not None
    last.wait_for_publish(600)
    pub.disconnect()
    pub.loop_stop()


def start_broker(tmp: Path) -> tuple[subprocess.Popen, int]:
    import socket

    port = free_port()
    conf = tmp / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\n"
                    "max_queued_messages 0\nmax_inflight_messages 0\n")
    proc = subprocess.Popen(["mosquitto", "-c", str(conf)], stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return proc, port
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("mosquitto did not start")


def paho_session(port: int, client_id: str, topic: str, n: int | None) -> float:
    """Connect a persistent session (n None: only subscribe); drain n messages; seconds."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    got = 0
    done = __import__("threading").Event()
    start = [0.0]

    def on_connect(c, u, f, rc, p):
        start[0] = time.perf_counter()
        c.subscribe(topic, qos=1)
        if n is None:
            done.set()

    def on_message(c, u, m):
        nonlocal got
        got += 1
        if n is not None and got >= n:
            done.set()

    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    c.on_connect, c.on_message = on_connect, on_message
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = 3600
    props.ReceiveMaximum = 2000
    c.connect("127.0.0.1", port, clean_start=False, properties=props)
    c.loop_start()
    done.wait(600)
    elapsed = time.perf_counter() - start[0]
    if n is None:
        time.sleep(0.3)
    c.disconnect()
    c.loop_stop()
    return elapsed


def c_drain(port: int, client_id: str, topic: str, n: int | None) -> float:
    args = ["mosquitto_sub", "-p", str(port), "-i", client_id, "-c", "-q", "1", "-t", topic]
    if n is None:
        subprocess.run(args + ["-W", "1"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       check=False)
        return 0.0
    t0 = time.perf_counter()
    subprocess.run(args + ["-C", str(n)], stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - t0


async def hub_drain(port: int, tmp: Path, prefix: str, n: int, values: int, client_id: str,
                    live: tuple[int, int] | None = None) -> tuple[float, int, int]:
    """The adapter on a fresh SQLite hub: (seconds, entities, history rows)."""
    from dosi.api.app import build_hub
    from dosi.ingest.adapters.runtime import start_adapters
    from dosi.settings import Settings

    db = tmp / f"{client_id}.db"
    hub = await build_hub(Settings(auth=False, store_url=f"sqlite:///{db}", history=True))
    running = await start_adapters(hub, ["mqtt"], mqtt={
        "url": f"mqtt://127.0.0.1:{port}", "client_id": client_id,
        "groups": [group(prefix, values)]})
    ad = running.adapters[0]
    assert ad.connected is not None
    await asyncio.wait_for(ad.connected.wait(), 30)
    t0 = time.perf_counter()
    pub = None
    if live is not None:
        pub = subprocess.Popen(  # noqa: ASYNC220 - a benchmark, the loop may wait
            [sys.executable, __file__, "--publish", str(port), str(n), prefix,
                                str(live[0]), str(values)])
    while ad.received < n:
        await asyncio.sleep(0.01)
    elapsed = time.perf_counter() - t0
    await running.stop()
    if ad.submitted:
        raise RuntimeError(f"{ad.submitted} messages left the fast path (bad?)")
    if pub is not None:
        pub.wait()
    await hub.store.close()
    con = sqlite3.connect(db)
    entities = con.execute("SELECT count(*) FROM entity").fetchone()[0]
    rows = con.execute("SELECT count(*) FROM attr_history").fetchone()[0] - n  # dateObserved
    con.close()
    return elapsed, entities, rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=60000)
    ap.add_argument("--devices", type=int, default=1000)
    ap.add_argument("--values", type=int, default=4, help="values per message (1-6)")
    ap.add_argument("--out", default=None, help="append the figures to this markdown file")
    ap.add_argument("--publish", nargs=5, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.publish:
        port, n, prefix, devices, values = a.publish
        publish(int(port), int(n), prefix, int(devices), int(values))
        return
    n, v = a.messages, a.values
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        broker, port = start_broker(tmp)
        try:
            out = {}
            # 1 + 2: ceilings
            for label, fn, cid in (("mosquitto_sub (C)", c_drain, "ceil-c"),
                                   ("paho subscriber (Python)", paho_session, "ceil-py")):
                topic = f"{cid}/+/vds/+"
                fn(port, cid, topic, None)
                publish(port, n, cid, a.devices, v)
                out[label] = fn(port, cid, topic, n)
                print(f"{label}: {n / out[label]:,.0f} msg/s", flush=True)
            # 3: the hub, backlog
            asyncio.run(hub_drain(port, tmp, "hubq", 0, v, "hub-q"))  # registers the session
            publish(port, n, "hubq", a.devices, v)
            secs, ents, rows = asyncio.run(hub_drain(port, tmp, "hubq", n, v, "hub-q"))
            print(f"hub (backlog): {n / secs:,.0f} msg/s, {rows / secs:,.0f} obs/s; "
                  f"{ents} entities, {rows} history rows", flush=True)
            # 4: the hub, live publisher
            lsecs, _, lrows = asyncio.run(hub_drain(port, tmp, "hubl", n, v, "hub-l",
                                                        live=(a.devices, v)))
            print(f"hub (live): {n / lsecs:,.0f} msg/s, {lrows / lsecs:,.0f} obs/s", flush=True)
        finally:
            broker.terminate()
            broker.wait()
    ceiling = n / out["mosquitto_sub (C)"]
    py = n / out["paho subscriber (Python)"]
    hub = n / secs
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    text = f"""
## MQTT ingestion (issue 5)

Measured {now} on {os.cpu_count()} cores ({platform.machine()}), Python {platform.python_version()},
SQLite store with history on; `python bench/ingest_mqtt.py --messages {n} --devices {a.devices}
--values {v}`. Broker: Mosquitto on loopback, QoS 1, persistent sessions; each figure drains
a backlog of {n:,} queued messages ({v} values each, {a.devices} devices), clock from the
subscriber's connection to its last message; one observation = one value with its time
(one history row). The machine's 2 cores are shared by broker, subscriber and (live) publisher.

| subscriber | messages/s | observations/s | vs C ceiling |
|---|---:|---:|---:|
| `mosquitto_sub` (C), receive + ack only: the ceiling | {ceiling:,.0f} | {ceiling * v:,.0f} | 100% |
| paho-mqtt (Python), receive + ack only | {py:,.0f} | {py * v:,.0f} | {py / ceiling:.0%} |
| dosi MQTT adapter -> SQLite, history on (backlog) | {hub:,.0f} | {rows / secs:,.0f} | {hub / ceiling:.0%} |
| dosi MQTT adapter, publisher running at the same time | {n / lsecs:,.0f} | {lrows / lsecs:,.0f} | {(n / lsecs) / ceiling:.0%} |

Stored after the backlog run: {ents:,} entities, {rows:,} history rows (expected {n * v:,}).
"""
    print(text)
    if a.out:
        with open(a.out, "a", encoding="utf-8") as f:
            f.write(text)


if __name__ == "__main__":
    main()
