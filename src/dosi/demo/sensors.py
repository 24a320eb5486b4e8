"""The demo city's field devices: car-park counters and noise meters publishing over MQTT.

Car parks send JSON (``{"occupied": 412, "free": 588, "ts": "..."}``), noise meters send
UltraLight-style ``k|v`` text (``t|2026-11-25T09:00:00+09:00|laeq|63.2``), on the topics
``<prefix>/parking/<id>`` and ``<prefix>/noise/<id>``. Faults come from ``dosi.demo.faults``.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone

from dosi.demo import patterns
from dosi.demo.district import District
from dosi.demo.faults import DEFAULT_FAULTS, FaultRates, fault_at, stuck_since

log = logging.getLogger("dosi.demo.sensors")
KST = timezone(timedelta(hours=9))
Reading = tuple[str, bytes]


class DeviceFleet:
    """What every device of the district publishes at an instant (pure, no I/O)."""

    def __init__(self, district: District, prefix: str = "dosi-demo",
                 rates: FaultRates = DEFAULT_FAULTS, tick_s: int = 10) -> None:
        self.district, self.prefix, self.rates, self.tick_s = district, prefix, rates, tick_s

    def readings(self, t: datetime) -> Iterator[Reading]:
        t = t.astimezone(KST)
        for park in self.district.car_parks:
            source = f"parking/{park.id}"
            fault = fault_at(source, t, self.rates, self.tick_s)
            if fault == "dropout":
                continue
            at = stuck_since(source, t, self.rates) or t
            total = park.extra["totalSpotNumber"]
            occupied = patterns.parking_occupied(park.id, park.extra["kind"], total, at)
            if fault == "out_of_range":
                occupied = total + 250
            body = json.dumps({"occupied": occupied, "free": total - occupied,
                               "ts": t.isoformat(timespec="seconds")})
            if fault == "malformed":
                body = body[:-1]  # the closing brace lost: not JSON
            yield f"{self.prefix}/{source}", body.encode()
        for sensor in self.district.noise_sensors:
            source = f"noise/{sensor.id}"
            fault = fault_at(source, t, self.rates, self.tick_s)
            if fault == "dropout":
                continue
            at = stuck_since(source, t, self.rates) or t
            laeq = patterns.noise_level(sensor.id, sensor.extra["baseDb"], at)
            if fault == "out_of_range":
                laeq = 240.0
            body = f"t|{t.isoformat(timespec='seconds')}|laeq|{laeq}"
            if fault == "malformed":
                body = f"t|{t.isoformat(timespec='seconds')}|laeq|"  # no value
            yield f"{self.prefix}/{source}", body.encode()


class Publisher:
    """Publishes a fleet's readings every ``tick_s`` seconds (QoS 1) from a thread."""

    def __init__(self, fleet: DeviceFleet, host: str, port: int,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        import paho.mqtt.client as mqtt

        self.fleet, self.clock = fleet, clock
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="dosi-demo-devices")
        self.client.connect(host, port)
        self.client.loop_start()
        self.sent = 0
        self.log: list[Reading] | None = None  # set to a list to keep what was published
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def publish_at(self, t: datetime) -> int:
        n = 0
        for topic, payload in self.fleet.readings(t):
            self.client.publish(topic, payload, qos=1)
            if self.log is not None:
                self.log.append((topic, payload))
            n += 1
        self.sent += n
        return n

    def backfill(self, hours: float, step_s: int = 300) -> int:
        """Publish the past ``hours`` at ``step_s`` spacing, so histories start full."""
        now = self.clock()
        t = now - timedelta(hours=hours)
        n = 0
        while t < now:
            n += self.publish_at(t)
            t += timedelta(seconds=step_s)
        return n

    def start(self) -> None:
        def run() -> None:
            while not self._stop.wait(self.fleet.tick_s):
                try:
                    self.publish_at(self.clock())
                except Exception:  # keep the city alive; the hub logs what it rejects
                    log.exception("demo devices: publish failed")

        self._thread = threading.Thread(target=run, name="dosi-demo-devices", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=5)
        self.client.loop_stop()
        self.client.disconnect()
