"""Zero loss when the hub is killed mid-stream: a real ``dosi serve`` process ingesting
from a real Mosquitto (QoS 1, persistent session) is SIGKILLed while devices keep
publishing, then restarted; every observation must end up in history exactly once."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt

from dosi.storage.base import HistoryQuery, open_store
from tests.ingest.test_adapter_mqtt import TFO, vds_group
from tests.mosquitto import free_port, own_broker

N, DEVICES = 4000, 40
DEADLINE = 120.0  # generous: a broken adapter fails instead of hanging; no timing asserted


def hub_process(port: int, env: dict[str, str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "dosi.cli", "serve", "--port", str(port)],
        env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT)


def wait(cond, what: str) -> None:
    end = time.monotonic() + DEADLINE
    while True:
        try:
            if cond():
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > end:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.1)


def accepted(base: str, dataset: str) -> int:
    r = httpx.get(f"{base}/dosi/v1/datasets/{dataset}/quality", timeout=5)
    return int(r.json()["validity"]["accepted"]) if r.status_code == 200 else -1


def last_intensity(base: str, device: str) -> int | None:
    r = httpx.get(f"{base}/ngsi-ld/v1/entities/urn:ngsi-ld:TrafficFlowObserved:{device}",
                  timeout=5)
    if r.status_code != 200:
        return None
    return next((a["value"] for k, a in r.json().items() if k.endswith("intensity")), None)


def test_kill_and_restart_loses_nothing(tmp_path: Path) -> None:
    prefix = "t-kill"
    group = vds_group(prefix)
    dataset = group["dataset"]
    with own_broker(tmp_path) as broker:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        env = {**os.environ, "DOSI_STORE_URL": f"sqlite:///{tmp_path}/hub.db",
               "DOSI_INGEST_ADAPTERS": '["mqtt"]', "DOSI_MQTT_URL": f"mqtt://127.0.0.1:{broker}",
               "DOSI_MQTT_CLIENT_ID": "dosi-kill-test", "DOSI_MQTT_GROUPS": json.dumps([group]),
               "DOSI_NOTIFY": "false", "DOSI_AUTH": "false"}  # not about security
        log = tmp_path / "hub.log"
        hub = hub_process(port, env, log)
        pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        pub.max_queued_messages_set(0)
        pub.connect("127.0.0.1", broker)
        pub.loop_start()
        try:
            # the hub has subscribed once its first message is in
            def probe() -> bool:
                pub.publish(f"{prefix}/jung/vds/probe", b"n|0", qos=1)
                return accepted(base, dataset) > 0
            wait(probe, "the hub's subscription")
            before = accepted(base, dataset)

            def devices(first: int, last: int) -> threading.Thread:
                def run() -> None:
                    for i in range(first, last):
                        pub.publish(f"{prefix}/jung/vds/V-{i % DEVICES}",
                                    f"n|{i}|v|{30 + i % 50}|ts|{1714539600 + i}".encode(), qos=1)
                        if i % 20 == 0:
                            time.sleep(0.005)
                thread = threading.Thread(target=run)
                thread.start()
                return thread

            # 1. the hub ingests; it is killed once it has taken some, while devices publish
            phase1 = devices(0, N // 2)
            wait(lambda: accepted(base, dataset) >= before + 300, "the first observations")
            hub.send_signal(signal.SIGKILL)
            hub.wait()
            phase1.join()
            # 2. devices go on while the hub is down; 3. and after it is back
            devices(N // 2, 3 * N // 4).join()
            hub = hub_process(port, env, log)
            devices(3 * N // 4, N).join()
            # the broker delivers one session's messages in order: the last one in means all
            wait(lambda: last_intensity(base, f"V-{(N - 1) % DEVICES}") == N - 1,
                 "every observation after restart")
        finally:
            pub.disconnect()
            pub.loop_stop()
            hub.send_signal(signal.SIGTERM)
            try:
                hub.wait(30)
            except subprocess.TimeoutExpired:
                hub.kill()

    async def history() -> list[int]:
        store = await open_store(f"sqlite:///{tmp_path}/hub.db")
        ids = [f"urn:ngsi-ld:TrafficFlowObserved:V-{d}" for d in range(DEVICES)]
        hist = await store.history("", ids, HistoryQuery(attrs=(TFO + "intensity",), limit=N))
        await store.close()
        return [i.doc["value"] for h in hist.values() for i in h.instances]

    values = asyncio.run(history())
    assert sorted(set(values)) == list(range(N)), f"lost: {sorted(set(range(N)) - set(values))[:20]}"
    assert len(values) == N  # a redelivered message replaced its instance, not added one
