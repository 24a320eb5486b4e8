"""Notifications to a real MQTT broker (Mosquitto on 127.0.0.1:1883, started by
scripts/services.sh) and the Server-Sent Events live stream of a running server."""

from __future__ import annotations

import asyncio
import os
import queue
import socket
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
import uvicorn

from dosi.api.app import create_app
from dosi.settings import Settings
from tests.integration.receiver import free_port

MQTT_HOST, MQTT_PORT = "127.0.0.1", 1883
LD = {"Content-Type": "application/ld+json"}
CTX = {"Car": "https://example.org/Car", "speed": "https://example.org/speed"}


def _broker_up() -> bool:
    try:
        with socket.create_connection((MQTT_HOST, MQTT_PORT), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture
def mqtt_topic() -> Any:
    """A paho client subscribed to a fresh topic; yields (topic, queue of messages)."""
    if not _broker_up():
        if os.environ.get("CI") or os.environ.get("DOSI_REQUIRE_MQTT"):
            pytest.fail("Mosquitto is not listening on 127.0.0.1:1883 (scripts/services.sh)")
        pytest.skip("Mosquitto is not listening on 127.0.0.1:1883")
    import paho.mqtt.client as mqtt

    topic = f"dosi-test/{uuid.uuid4().hex}"
    got: queue.Queue[dict[str, Any]] = queue.Queue()
    subscribed = queue.Queue[int]()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    client.on_message = lambda c, u, m: got.put(orjson.loads(m.payload))
    client.on_subscribe = lambda c, u, mid, rc, p: subscribed.put(mid)
    client.connect(MQTT_HOST, MQTT_PORT)
    client.loop_start()
    client.subscribe(topic, qos=1)
    subscribed.get(timeout=10)
    yield topic, got
    client.loop_stop()
    client.disconnect()


@pytest.mark.parametrize("qos, version", [("0", "mqtt3.1.1"), ("1", "mqtt5.0"), ("2", None)])
async def test_mqtt_notification_reaches_the_broker(
    client: httpx.AsyncClient, mqtt_topic: Any, qos: str, version: str | None
) -> None:
    topic, got = mqtt_topic
    info = [{"key": "MQTT-QoS", "value": qos}]
    if version:
        info.append({"key": "MQTT-Version", "value": version})
    body = {"type": "Subscription", "entities": [{"type": "Car"}], "@context": CTX,
            "notification": {"format": "keyValues", "endpoint": {
                "uri": f"mqtt://{MQTT_HOST}:{MQTT_PORT}/{topic}", "accept": "application/json",
                "notifierInfo": info, "receiverInfo": [{"key": "X-Who", "value": "test"}]}}}
    r = await client.post("/ngsi-ld/v1/subscriptions", json=body, headers=LD)
    assert r.status_code == 201, r.text
    r = await client.post("/ngsi-ld/v1/entities", headers=LD, json={
        "id": "urn:ngsi-ld:Car:m1", "type": "Car", "@context": CTX,
        "speed": {"type": "Property", "value": 5}})
    assert r.status_code == 201
    msg = await asyncio.to_thread(got.get, True, 20)
    assert msg["metadata"]["Content-Type"] == "application/json"
    assert msg["metadata"]["X-Who"] == "test"
    assert "Link" in msg["metadata"]
    assert msg["body"]["type"] == "Notification"
    assert msg["body"]["data"] == [{"id": "urn:ngsi-ld:Car:m1", "type": "Car", "speed": 5}]


@pytest.fixture
async def server(tmp_path: Any) -> AsyncIterator[str]:
    """The hub served by uvicorn on a free loopback port, in this event loop."""
    port = free_port()
    app = create_app(Settings(auth=False, store_url=f"sqlite:///{tmp_path}/hub.db", port=port))
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                        log_level="warning"))
    task = asyncio.create_task(srv.serve())
    while not srv.started:
        await asyncio.sleep(0.01)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    await task


async def test_live_stream_pushes_matching_changes(server: str) -> None:
    async with httpx.AsyncClient(base_url=server, timeout=20) as c:
        link = '<https://example.org/ctx>; rel="http://www.w3.org/ns/json-ld#context"'
        r = await c.post("/ngsi-ld/v1/jsonldContexts", json={"@context": CTX})
        ctx_url = server + r.headers["location"]
        link = f'<{ctx_url}>; rel="http://www.w3.org/ns/json-ld#context"'
        async with c.stream("GET", "/dosi/v1/stream", params={"type": "Car", "q": "speed>3",
                            "format": "keyValues"}, headers={"Link": link}) as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            lines = stream.aiter_lines()
            assert (await anext(lines)).startswith(":")
            for i, speed in enumerate((1, 9)):
                r = await c.post("/ngsi-ld/v1/entities", headers=LD, json={
                    "id": f"urn:ngsi-ld:Car:s{i}", "type": "Car", "@context": CTX,
                    "speed": {"type": "Property", "value": speed}})
                assert r.status_code == 201
            event = data = None
            async for line in lines:
                if line.startswith("event:"):
                    event = line.split(":", 1)[1].strip()
                elif line.startswith("data:"):
                    data = orjson.loads(line.split(":", 1)[1])
                    break
    assert event == "notification"
    assert data is not None
    assert data["data"] == [{"id": "urn:ngsi-ld:Car:s1", "type": "Car", "speed": 9}]
