"""The demo city's devices publish through a real MQTT broker: the embedded one that
``dosi demo`` starts when no broker is configured, and Mosquitto where it runs."""

from __future__ import annotations

import json
import queue
import time
from datetime import datetime, timedelta, timezone

import paho.mqtt.client as mqtt

from dosi.demo.broker import EmbeddedBroker
from dosi.demo.district import load_district
from dosi.demo.faults import NO_FAULTS, FaultRates
from dosi.demo.sensors import DeviceFleet, Publisher

KST = timezone(timedelta(hours=9))
T0 = datetime(2026, 11, 25, 9, 0, tzinfo=KST)


def _subscriber(port: int, topic: str) -> tuple[mqtt.Client, queue.Queue]:
    got: queue.Queue = queue.Queue()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    subscribed = queue.Queue()
    client.on_message = lambda c, u, m: got.put((m.topic, m.payload))
    client.on_subscribe = lambda *a: subscribed.put(True)
    client.connect("127.0.0.1", port)
    client.loop_start()
    client.subscribe(topic, qos=1)
    subscribed.get(timeout=10)
    return client, got


def _drain(got: queue.Queue, n: int) -> list[tuple[str, bytes]]:
    out, deadline = [], time.monotonic() + 30
    while len(out) < n and time.monotonic() < deadline:
        try:
            out.append(got.get(timeout=0.5))
        except queue.Empty:
            pass
    return out


async def test_embedded_broker_carries_a_backfilled_hour_of_device_readings():
    broker = EmbeddedBroker()
    await broker.start()
    try:
        import asyncio

        fleet = DeviceFleet(load_district(), prefix="demo-test", rates=NO_FAULTS)
        sub, got = await asyncio.to_thread(_subscriber, broker.port, "demo-test/#")
        pub = await asyncio.to_thread(Publisher, fleet, "127.0.0.1", broker.port, lambda: T0)
        sent = await asyncio.to_thread(pub.backfill, 1, 300)
        received = await asyncio.to_thread(_drain, got, sent)
        pub.stop()
        sub.disconnect()
        sub.loop_stop()
    finally:
        await broker.stop()
    devices = len(load_district().car_parks) + len(load_district().noise_sensors)
    assert sent == 12 * devices
    assert len(received) == sent
    parks = [json.loads(p) for t, p in received if "/parking/" in t]
    assert all(p["occupied"] + p["free"] > 0 and p["occupied"] >= 0 for p in parks)
    noise = [p.decode() for t, p in received if "/noise/" in t]
    assert all(n.startswith("t|2026-11-25T0") and "|laeq|" in n for n in noise)


def test_faulty_devices_send_garbage_a_hub_must_reject():
    fleet = DeviceFleet(load_district(), rates=FaultRates(0.0, 0.5, 0.5, 0.0))
    readings = [r for i in range(50) for r in fleet.readings(T0 + timedelta(seconds=10 * i))]
    broken = 0
    for topic, payload in readings:
        if "/parking/" in topic:
            try:
                doc = json.loads(payload)
            except ValueError:
                broken += 1
                continue
            park = next(p for p in load_district().car_parks if topic.endswith(p.id))
            broken += doc["occupied"] > park.extra["totalSpotNumber"]
        else:
            broken += payload.endswith((b"|laeq|", b"|240.0"))
    assert broken == len(readings)
