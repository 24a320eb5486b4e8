"""The MQTT adapter against a real Mosquitto (a broker of this test's own): JSON and
k|v payloads per device group, every observation in history, bad messages in the
dead-letter store with a reason while good ones flow on, both stores."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from dosi.api.app import build_hub
from dosi.ingest.adapters.runtime import start_adapters
from dosi.settings import Settings
from dosi.storage.base import HistoryQuery
from tests.contract.conftest import store_url  # noqa: F401
from tests.mosquitto import own_broker

TFO = "https://smartdatamodels.org/dataModel.Transportation/"
DEADLINE = 60.0  # seconds: generous, only for a broken adapter to fail rather than hang


def vds_group(prefix: str, **kw: Any) -> dict[str, Any]:
    return {"name": f"{prefix}-vds", "dataset": f"{prefix}-vds",
            "topic": prefix + "/{district}/vds/{device}",
            "entity_id": "urn:ngsi-ld:TrafficFlowObserved:{device}",
            "entity_type": "TrafficFlowObserved", "time_attribute": "dateObserved",
            "context": ["https://smart-data-models.github.io/dataModel.Transportation/context.jsonld"],
            "max_bytes": 4096,
            "attributes": {"n": {"name": "intensity", "min": 0, "max": 10000},
                           "v": {"name": "averageVehicleSpeed", "unitCode": "KMH",
                                 "min": 0, "max": 250},
                           "occ": {"name": "occupancy", "unitCode": "C62", "min": 0, "max": 1}},
            **kw}


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    with own_broker(tmp_path_factory.mktemp("mqtt")) as port:
        yield port


def publish(port: int, messages: list[tuple[str, bytes]]) -> None:
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    c.connect("127.0.0.1", port)
    c.loop_start()
    infos = [c.publish(t, p, qos=1) for t, p in messages]
    for i in infos:
        i.wait_for_publish(30)
    c.disconnect()
    c.loop_stop()


async def until(cond: Any, what: str) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + DEADLINE
    while not cond():
        if loop.time() > end:
            raise AssertionError(f"gave up waiting for {what}")
        await asyncio.sleep(0.05)


@pytest.fixture
async def hub(store_url: str) -> AsyncIterator[Any]:  # noqa: F811
    h = await build_hub(Settings(auth=False, store_url=store_url))
    yield h
    await h.contexts.close()
    await h.store.close()


GOOD = [
    ("{p}/jung/vds/V-01", b"n|12|v|47.5|occ|0.21|ts|2024-05-01T14:00:00+09:00"),
    ("{p}/jung/vds/V-02", b'{"n": 7, "v": {"value": 52, "unitCode": "KMH"}, "ts": 1714539600}'),
    ("{p}/jung/vds/V-01", b"n|15|v|44.0|occ|0.25|ts|2024-05-01T14:00:30+09:00"),
    ("{p}/jongno/vds/V-03", b"n|3|v|61|ts|2024-05-01T05:00:00Z"),
]
BAD = [
    ("{p}/jung/vds/V-09", b'{"n": 3, "v": 40', "payload is not JSON"),
    ("{p}/jung/vds/V-09", b'{"v": {"value": 25, "unitCode": "HM"}}',
     "v: unit 'HM', expected 'KMH'"),  # miles per hour where km/h belongs
    ("{p}/jung/vds/V-09", b"v|400|ts|1714539600", "v '400' is out of range 0..250"),
    ("{p}/jung/vds/V-09", b"n|many|ts|1714539600", "n 'many' is not a number"),
    ("{p}/jung/vds/V-09", b"rain|1|ts|1714539600", "unknown attribute key 'rain'"),
    ("{p}/jung/vds/V-09", b"n|1|pad|" + b"x" * 5000, "message of 5008 bytes is larger than 4096"),
    ("{p}/jung/vds/V-09", b'{"n": 1, "ts": ' + b"9" * 400 + b"}", "unreadable value"),
    ("{p}/jung/vds/V-09", b'{"n": ' + b"9" * 400 + b', "ts": 1714539600}', "unreadable value"),
    ("{p}/jung/vds/V-09", '{"n": 1, "ts": "²"}'.encode(), "unreadable value"),
    # a device repeating the same bad bytes: each message is its own dead letter
    ("{p}/jung/vds/V-09", b"n|many|ts|1714539600", "n 'many' is not a number"),
]


@pytest.mark.parametrize("fast", [True, False], ids=["fast-path", "pipeline"])
async def test_device_messages_and_malformed_ones(hub: Any, broker: int, fast: bool,
                                                  request: pytest.FixtureRequest) -> None:
    prefix = f"t-mqtt-{request.node.callspec.id.replace('-', '')}"
    group = vds_group(prefix, fast=fast)
    running = await start_adapters(hub, ["mqtt"], mqtt={
        "url": f"mqtt://127.0.0.1:{broker}", "client_id": prefix, "groups": [group]})
    ad = running.adapters[0]
    try:
        await until(lambda: ad.connected.is_set(), "the subscription")
        msgs = [(t.format(p=prefix), b) for t, b in GOOD[:2]]
        msgs += [(t.format(p=prefix), b) for t, b, _ in BAD]
        msgs += [(t.format(p=prefix), b) for t, b in GOOD[2:]]
        await asyncio.to_thread(publish, broker, msgs)
        await until(lambda: ad.acked >= len(msgs), "every message to be acknowledged")
    finally:
        await running.stop()
    dataset = group["dataset"]
    letters, total = await hub.store.list_dead_letters(dataset, 50)
    assert total == len(BAD)
    for letter, (*_, reason) in zip(letters, BAD):
        assert reason in letter.reason
    assert letters[0].payload == BAD[0][1] and letters[0].meta["topic"].endswith("/V-09")
    v1 = await hub.store.get("", "urn:ngsi-ld:TrafficFlowObserved:V-01")
    speed = v1["attrs"][TFO + "averageVehicleSpeed"][0]
    assert (speed["value"], speed["unitCode"], speed["observedAt"]) == (
        44.0, "KMH", "2024-05-01T05:00:30.000Z")  # the newest of two messages
    v2 = await hub.store.get("", "urn:ngsi-ld:TrafficFlowObserved:V-02")
    assert v2["attrs"][TFO + "intensity"][0]["value"] == 7
    assert await hub.store.get("", "urn:ngsi-ld:TrafficFlowObserved:V-09") is None
    hist = await hub.store.history("", ["urn:ngsi-ld:TrafficFlowObserved:V-01"],
                                   HistoryQuery(attrs=(TFO + "intensity",)))
    values = sorted(i.doc["value"] for i in hist["urn:ngsi-ld:TrafficFlowObserved:V-01"].instances)
    assert values == [12, 15]  # both observations kept, not only the last
    q = await hub.store.get_quality(dataset)
    assert (q.accepted, q.rejected) == (len(GOOD), len(BAD))


async def test_messages_sent_while_the_adapter_is_away_arrive(hub: Any, broker: int) -> None:
    """QoS 1 on a persistent session: the broker keeps what comes while the hub is down."""
    prefix = "t-mqtt-away"
    opts = {"url": f"mqtt://127.0.0.1:{broker}", "client_id": prefix,
            "groups": [vds_group(prefix)]}
    running = await start_adapters(hub, ["mqtt"], mqtt=opts)
    await until(lambda: running.adapters[0].connected.is_set(), "the subscription")
    await running.stop()
    await asyncio.to_thread(publish, broker, [
        (f"{prefix}/jung/vds/V-{i % 5}", f"n|{i}|ts|{1714539600 + i}".encode())
        for i in range(200)])
    running = await start_adapters(hub, ["mqtt"], mqtt=opts)
    ad = running.adapters[0]
    try:
        await until(lambda: ad.acked >= 200, "the queued messages")
    finally:
        await running.stop()
    ids = [f"urn:ngsi-ld:TrafficFlowObserved:V-{d}" for d in range(5)]
    hist = await hub.store.history("", ids, HistoryQuery(attrs=(TFO + "intensity",)))
    seen = sorted(i.doc["value"] for h in hist.values() for i in h.instances)
    assert seen == list(range(200))
