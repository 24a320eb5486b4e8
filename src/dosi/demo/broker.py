"""An embedded MQTT broker (amqtt) for ``dosi demo`` when no broker is configured.

Production deployments point dosi at Mosquitto; the demo must run on a machine with
nothing installed, so it starts a pure-Python broker on loopback instead.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import Any

log = logging.getLogger("dosi.demo.broker")


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class EmbeddedBroker:
    """Start/stop an amqtt broker listening on ``host:port`` (anonymous, loopback only)."""

    def __init__(self, host: str = "127.0.0.1", port: int | None = None) -> None:
        self.host = host
        self.port = port or free_port(host)
        self._broker: Any = None

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    async def start(self) -> None:
        try:
            from amqtt.broker import Broker
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise RuntimeError(
                "the demo's embedded MQTT broker needs amqtt: pip install 'dosi[demo]', "
                "or point DOSI_MQTT_URL at a running broker such as Mosquitto") from exc
        for name in ("amqtt", "transitions"):
            logging.getLogger(name).setLevel(logging.WARNING)
        config = {
            "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}"}},
            "sys_interval": 0,
            "auth": {"allow-anonymous": True, "plugins": ["auth_anonymous"]},
            "topic-check": {"enabled": False},
        }
        self._broker = Broker(config)
        await self._broker.start()
        log.info("embedded MQTT broker at %s", self.url)

    async def stop(self) -> None:
        if self._broker is not None:
            broker, self._broker = self._broker, None
            try:  # amqtt waits for clients that vanished without DISCONNECT; don't hang on them
                await asyncio.wait_for(broker.shutdown(), timeout=5)
            except TimeoutError:
                log.warning("embedded MQTT broker: shutdown timed out, abandoning open sessions")
