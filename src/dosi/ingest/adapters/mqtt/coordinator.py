"""Subscribes to the device groups' topics and ingests what arrives, losing nothing.

QoS 1 on a persistent MQTT 5 session (clean start off, a session expiry): while the
hub is down the broker keeps the messages, and it redelivers any message the hub had
not acknowledged. A message is acknowledged only after its batch was written (fast
path) or ``submit`` returned a verdict for it (pipeline), so killing the hub at any
moment loses nothing. Messages are batched (``batch_max`` messages or ``batch_wait``
seconds, whichever first); paho's network thread only queues them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections import deque
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from dosi.ingest.adapters.mqtt.fastpath import FastObservationWriter
from dosi.ingest.adapters.mqtt.mapping import (
    DeviceGroup,
    DeviceMessage,
    mapper_for,
    observations,
    record_of,
    to_entity,
)
from dosi.ingest.adapters.opendata import Submit
from dosi.ingest.records import RawRecord

log = logging.getLogger("dosi.ingest.mqtt")
Message = tuple[int, int, str, bytes, int, float]
"""(session generation, mid, topic, payload, qos, time received) as paho handed it over."""
_Plan = tuple[dict[str, list[tuple[DeviceGroup, DeviceMessage, RawRecord]]], list[RawRecord]]


class MqttSettings(BaseSettings):
    """``DOSI_MQTT_*``. Device groups inline (``DOSI_MQTT_GROUPS``, JSON) or in a file."""

    model_config = SettingsConfigDict(env_prefix="DOSI_MQTT_", extra="ignore")
    url: str = Field(default="mqtt://127.0.0.1:1883", description="mqtt://[user:pass@]host:port")
    client_id: str = Field(default="dosi-ingest", description="fixed: it names the session")
    groups: list[DeviceGroup] = []
    groups_file: str | None = None
    qos: int = 1
    protocol: Literal["5", "3.1.1"] = Field(
        default="5", description="MQTT version; 3.1.1 for brokers without 5 (the demo's amqtt)")
    session_expiry: int = Field(default=7 * 86400, description="seconds the broker keeps "
                                "the session (and its queued messages) while the hub is away")
    receive_maximum: int = Field(default=2000, description="unacknowledged messages in flight")
    batch_max: int = 500
    batch_wait: float = 0.05
    fast: bool = Field(default=True, description="fast path for groups that allow it")

    def all_groups(self) -> list[DeviceGroup]:
        groups = list(self.groups)
        if self.groups_file:
            doc = json.loads(Path(self.groups_file).read_text(encoding="utf-8"))
            groups += [DeviceGroup(**g) for g in (doc["groups"] if isinstance(doc, dict) else doc)]
        return groups


class MqttAdapter:
    name = "mqtt"

    def __init__(self, **options: Any) -> None:
        self.settings = MqttSettings(**options)
        self.groups = self.settings.all_groups()
        names = [g.name for g in self.groups]
        if len(set(names)) != len(names):
            raise ValueError("device group names must be unique")
        self.received = 0
        self.written = 0  # messages written through the fast path
        self.submitted = 0  # messages handed to the pipeline
        self.acked = 0
        self._queue: deque[Message] = deque()
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiting = threading.Event()
        self._generation = 0
        self._client: Any = None
        self._task: asyncio.Task[None] | None = None
        self._fast: FastObservationWriter | None = None
        self._pipeline: Any = None
        self._store: Any = None
        self._route: dict[str, DeviceGroup | None] = {}
        self.connected: asyncio.Event | None = None  # set in start()

    def mappers(self) -> dict[str, Any]:
        mapper = mapper_for(self.groups)
        return {g.dataset: mapper for g in self.groups}

    # --- paho's network thread ---
    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any
                    ) -> None:
        if reason.is_failure:
            log.warning("mqtt: broker refused the connection: %s", reason)
            return
        from paho.mqtt.subscribeoptions import SubscribeOptions

        self._generation += 1
        subs = list(dict.fromkeys(g.subscription for g in self.groups))
        if self.settings.protocol == "5":
            client.subscribe([(s, SubscribeOptions(qos=self.settings.qos)) for s in subs])
        else:
            client.subscribe([(s, self.settings.qos) for s in subs])
        log.info("mqtt: connected (session present: %s), subscribing to %s",
                 flags.session_present, subs)

    def _on_subscribe(self, client: Any, userdata: Any, mid: Any, reasons: Any,
                      props: Any = None) -> None:
        """``connected`` is set once the broker confirmed the subscription (SUBACK)."""
        if any(getattr(r, "is_failure", False) for r in reasons or ()):
            log.warning("mqtt: broker refused a subscription: %s", reasons)
        if self._loop is not None and self.connected is not None:
            self._loop.call_soon_threadsafe(self.connected.set)

    def _on_message(self, client: Any, userdata: Any, msg: Any) -> None:
        self._queue.append((self._generation, msg.mid, msg.topic, msg.payload, msg.qos,
                            time.time()))
        if self._waiting.is_set() and self._loop is not None:
            self._waiting.clear()
            self._loop.call_soon_threadsafe(self._wake.set)  # type: ignore[union-attr]

    # --- the event loop ---
    def _group_of(self, topic: str) -> DeviceGroup | None:
        try:
            return self._route[topic]
        except KeyError:
            pass
        found = next((g for g in self.groups if g.match(topic) is not None), None)
        if len(self._route) < 100_000:
            self._route[topic] = found
        return found

    async def _next_batch(self) -> list[Message]:
        assert self._wake is not None
        while not self._queue:
            self._wake.clear()
            self._waiting.set()
            if self._queue:
                break
            await self._wake.wait()
        s = self.settings
        deadline = time.monotonic() + s.batch_wait
        while len(self._queue) < s.batch_max and time.monotonic() < deadline:
            await asyncio.sleep(min(0.005, s.batch_wait))
        return [self._queue.popleft() for _ in range(min(s.batch_max, len(self._queue)))]

    async def _fast_groups(self) -> dict[str, str]:
        """Groups whose messages may take the fast path now: the dataset is in the catalog
        and its data model (if any) is the group's entity type."""
        if self._fast is None or self._pipeline is None:
            return {}
        out: dict[str, str] = {}
        for g in self.groups:
            if not g.fast:
                continue
            ds = await self._pipeline.dataset(g.dataset)
            if ds is not None and ds.doc.get("dataModel") in (None, g.entity_type):
                out[g.name] = ds.doc.get("tenant") or ""
        return out

    async def _plan(self, batch: list[Message]) -> _Plan:
        """Read and check a batch (CPU on the event loop, while the previous one commits)."""
        fast_ok = await self._fast_groups()
        fast: dict[str, list[tuple[DeviceGroup, DeviceMessage, RawRecord]]] = {}
        records: list[RawRecord] = []
        for _gen, _mid, topic, payload, _qos, t in batch:
            received = datetime.fromtimestamp(t, UTC)
            group = self._group_of(topic)
            if group is None:  # a subscription shared by no group: cannot happen, but say so
                records.append(RawRecord("mqtt-unmatched", "mqtt", payload, received, None,
                                         {"topic": topic, "group": ""}))
                continue
            if group.name not in fast_ok:
                records.append(record_of(group, topic, payload, received))
                continue
            try:
                msg = observations(group, topic, payload, received)
                bad = self._pipeline.models.validate(to_entity(group, msg), partial=True)  # type: ignore[union-attr]
            except Exception:  # noqa: BLE001 - any bad message: the pipeline says why
                bad = True
            record = record_of(group, topic, payload, received)
            if bad:  # the pipeline rejects (or flags) it with the reason; no idempotency key:
                # a device may well repeat the same bytes, and each one is a record
                records.append(record)
                continue
            fast.setdefault(fast_ok[group.name], []).append((group, msg, record))
        return fast, records

    async def _commit(self, plan: _Plan, submit: Submit) -> None:
        """Write a planned batch: the fast path, then ``submit`` for the rest."""
        fast, records = plan[0], list(plan[1])
        for tenant, items in fast.items():
            assert self._fast is not None
            failed = set(await self._fast.write([(g, m) for g, m, _ in items], tenant))
            # an entity the store refused goes through the pipeline, which says why
            records += [r for _, m, r in items if m.entity_id in failed]
            await self._account([r for _, m, r in items if m.entity_id not in failed])
        if records:
            await submit(records)
            self.submitted += len(records)

    async def _account(self, records: list[RawRecord]) -> None:
        """Quality counters of what the fast path accepted (one transaction)."""
        from dosi.ingest.pipeline import iso
        from dosi.storage.ingest_base import IngestOutcome, QualityCounters

        by_ds: dict[str, list[RawRecord]] = {}
        for r in records:
            by_ds.setdefault(r.dataset, []).append(r)
        for ds, recs in by_ds.items():
            last = iso(max(r.received_at for r in recs))
            await self._store.record_ingest(IngestOutcome(ds, quality=QualityCounters(
                accepted=len(recs), last_record_at=last, last_accepted_at=last)))
            self.written += len(recs)

    async def _handle(self, batch: list[Message], plan: _Plan | None, submit: Submit) -> None:
        """Commit a batch (retrying while the store or pipeline fails), then acknowledge it."""
        while True:
            try:
                if plan is None:
                    plan = await self._plan(batch)
                await self._commit(plan, submit)
                break
            except asyncio.CancelledError:
                raise
            except Exception:  # the store or pipeline is down: keep the batch, retry
                log.exception("mqtt: batch of %d failed, retrying", len(batch))
                plan = None
                await asyncio.sleep(1.0)
        self.received += len(batch)
        gen = self._generation
        for g, mid, _topic, _payload, qos, _t in batch:
            if qos > 0 and g == gen:  # older sessions' messages come again
                self._client.ack(mid, qos)
                self.acked += 1

    async def _run(self, submit: Submit) -> None:
        """Batches in order: batch k+1 is read and checked while batch k commits; k+1 is
        committed (and acknowledged) only after k."""
        pending: asyncio.Task[None] | None = None
        try:
            while True:
                batch = await self._next_batch()
                try:
                    plan: _Plan | None = await self._plan(batch)
                except Exception:  # noqa: BLE001 - _handle retries it
                    plan = None
                if pending is not None:
                    await pending
                pending = asyncio.create_task(self._handle(batch, plan, submit))
        finally:
            if pending is not None:
                pending.cancel()
                await asyncio.gather(pending, return_exceptions=True)

    async def start(self, submit: Submit, hub: Any = None) -> None:
        import paho.mqtt.client as mqtt
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self.connected = asyncio.Event()
        if self.settings.fast and hub is not None and hub.ingest is not None and self.groups:
            self._pipeline, self._store = hub.ingest.pipeline, hub.store
            self._fast = FastObservationWriter(hub.store, hub.contexts.resolve)
            for g in self.groups:
                if g.fast:
                    await self._fast.prepare(g)
        url = urlsplit(self.settings.url)
        v5 = self.settings.protocol == "5"
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=self.settings.client_id,
                             protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311, manual_ack=True,
                             **({} if v5 else {"clean_session": False}))
        if url.username:
            client.username_pw_set(url.username, url.password)
        if url.scheme == "mqtts":
            client.tls_set()
        client.max_queued_messages_set(0)
        client.reconnect_delay_set(0.5, 10)
        client.on_connect = self._on_connect
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        self._client = client
        if v5:
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = self.settings.session_expiry
            props.ReceiveMaximum = self.settings.receive_maximum
            client.connect_async(url.hostname or "127.0.0.1", url.port or 1883, keepalive=30,
                                 clean_start=False, properties=props)
        else:  # MQTT 3.1.1: a persistent session is clean_session=False (brokers keep it)
            client.connect_async(url.hostname or "127.0.0.1", url.port or 1883, keepalive=30)
        client.loop_start()
        self._task = asyncio.create_task(self._run(submit), name="ingest-mqtt")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._client is not None:
            self._client.disconnect()
            self._client.loop_stop()
