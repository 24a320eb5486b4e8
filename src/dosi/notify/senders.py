"""Getting a notification to its endpoint: HTTP(S) POST (``http_post``) and MQTT(S) publish
(paho-mqtt, QoS 0/1/2, MQTT 3.1.1 or 5.0 from ``notifierInfo``).

A sender raises ``DeliveryError`` when the receiver did not take the notification;
the dispatcher then keeps it in the outbox and tries again later.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import orjson

from dosi.notify.http_post import HttpPoster, PostError


class DeliveryError(Exception):
    """The endpoint did not accept the notification."""


@dataclass
class Message:
    uri: str
    headers: dict[str, str]  # Content-Type, Link, receiverInfo
    body: dict[str, Any]
    notifier_info: dict[str, str]


class HttpSender:
    """POSTs (``http_post``), at most ``per_origin`` at once per scheme://host:port: a
    receiver gets a few keep-alive connections, and notifications waiting for it gather
    into fewer, larger ones."""

    def __init__(self, timeout: float, per_origin: int = 4) -> None:
        self._poster = HttpPoster(timeout, max_idle=per_origin * 2)
        self._per_origin = per_origin
        self._gates: dict[str, asyncio.Semaphore] = {}

    def _gate(self, uri: str) -> asyncio.Semaphore:
        parts = urlsplit(uri)
        origin = f"{parts.scheme}://{parts.netloc}"
        gate = self._gates.get(origin)
        if gate is None:
            if len(self._gates) > 10_000:
                self._gates = {k: g for k, g in self._gates.items() if g.locked()}
            gate = self._gates[origin] = asyncio.Semaphore(self._per_origin)
        return gate

    async def send(self, msg: Message) -> None:
        body = orjson.dumps(msg.body)
        try:
            async with self._gate(msg.uri):
                status = await self._poster.post(msg.uri, body, msg.headers)
        except PostError as exc:
            raise DeliveryError(str(exc)) from exc
        if not 200 <= status < 300:
            raise DeliveryError(f"HTTP {status}")

    async def close(self) -> None:
        await self._poster.close()


class MqttSender:
    """One connected paho client per broker/credentials/version, kept open."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._clients: dict[tuple[Any, ...], Any] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _qos(info: dict[str, str]) -> int:
        try:
            qos = int(info.get("MQTT-QoS", "0"))
        except ValueError:
            return 0
        return qos if qos in (0, 1, 2) else 0

    def _client(self, uri: str, version: str) -> tuple[Any, str]:
        import paho.mqtt.client as mqtt

        parts = urlsplit(uri)
        tls = parts.scheme == "mqtts"
        port = parts.port or (8883 if tls else 1883)
        key = (parts.hostname, port, parts.username, parts.password, version, tls)
        topic = unquote(parts.path.lstrip("/"))
        with self._lock:
            client = self._clients.get(key)
            if client is not None and client.is_connected():
                return client, topic
            if client is not None:
                client.loop_stop()
                client.disconnect()
            proto = mqtt.MQTTv5 if version in ("mqtt5.0", "mqtt5") else mqtt.MQTTv311
            client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                                 client_id=f"dosi-{uuid.uuid4().hex[:12]}", protocol=proto)
            if parts.username:
                client.username_pw_set(unquote(parts.username),
                                       unquote(parts.password) if parts.password else None)
            if tls:
                client.tls_set()
            connected = threading.Event()
            client.on_connect = lambda c, u, f, rc, p=None: connected.set()
            try:
                client.connect(parts.hostname or "localhost", port, keepalive=30)
            except (OSError, ValueError) as exc:
                raise DeliveryError(f"MQTT broker {parts.hostname}:{port}: {exc}") from exc
            client.loop_start()
            if not connected.wait(self.timeout) or not client.is_connected():
                client.loop_stop()
                raise DeliveryError(f"MQTT broker {parts.hostname}:{port} refused the connection")
            self._clients[key] = client
            return client, topic

    def _publish(self, msg: Message) -> None:
        client, topic = self._client(msg.uri, msg.notifier_info.get("MQTT-Version", ""))
        payload = orjson.dumps({"metadata": msg.headers, "body": msg.body})
        info = client.publish(topic, payload, qos=self._qos(msg.notifier_info))
        if info.rc != 0:
            raise DeliveryError(f"MQTT publish failed (rc {info.rc})")
        info.wait_for_publish(self.timeout)
        if not info.is_published():
            raise DeliveryError("MQTT broker did not acknowledge the notification in time")

    async def send(self, msg: Message) -> None:
        await asyncio.to_thread(self._publish, msg)

    async def close(self) -> None:
        def stop() -> None:
            with self._lock:
                for client in self._clients.values():
                    client.loop_stop()
                    client.disconnect()
                self._clients.clear()

        await asyncio.to_thread(stop)


class Senders:
    """Picks the sender by the endpoint's URI scheme."""

    def __init__(self, timeout: float = 10.0) -> None:
        self.http = HttpSender(timeout)
        self.mqtt = MqttSender(timeout)

    async def send(self, msg: Message) -> None:
        if msg.uri.startswith(("mqtt://", "mqtts://")):
            await self.mqtt.send(msg)
        else:
            await self.http.send(msg)

    async def close(self) -> None:
        await self.http.close()
        await self.mqtt.close()
