"""``dosi demo``: the hub on SQLite with a living district, fed through the real ingest paths.

Starts, in one process: an MQTT broker (embedded amqtt unless ``DOSI_MQTT_URL`` names
one), a loopback stand-in for AirKorea / ITS / KMA, the hub with the MQTT, AirKorea,
ITS and KMA adapters pointed at them, then loads the district's facilities and a GTFS
feed of its bus stops, back-fills the last hours of device readings and keeps the
devices publishing. Every value reaches the store through an adapter (device readings
through the MQTT adapter's fast path, checked by the pipeline's validator).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson
import uvicorn

from dosi.demo import facilities, gtfs, opendata
from dosi.demo.broker import EmbeddedBroker, free_port
from dosi.demo.district import DEFAULT_DISTRICT, load_district
from dosi.demo.faults import DEFAULT_FAULTS, FaultRates
from dosi.demo.sensors import DeviceFleet, Publisher

log = logging.getLogger("dosi.demo")
SERVICE_KEY = "dosi-demo-key"
ADAPTERS = ["mqtt", "airkorea", "its", "kma", "gtfs"]


@dataclass
class DemoOptions:
    district: str = DEFAULT_DISTRICT
    backfill_hours: float = 6.0
    tick_s: int = 10
    poll_s: float = 60.0
    faults: FaultRates = DEFAULT_FAULTS
    prefix: str = "dosi-demo"
    keep_log: bool = False  # keep every published reading (tests)
    mqtt_url: str | None = field(default_factory=lambda: os.environ.get("DOSI_MQTT_URL"))


class _Server(uvicorn.Server):
    def install_signal_handlers(self) -> None:  # the demo's own loop handles Ctrl-C
        pass


def _check_free(host: str, port: int) -> None:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            raise RuntimeError(f"cannot listen on {host}:{port} ({exc.strerror}); "
                               "is another hub running? choose one with --port") from None


async def _serve(app: Any, host: str, port: int) -> tuple[_Server, asyncio.Task]:
    _check_free(host, port)
    server = _Server(uvicorn.Config(app, host=host, port=port, log_level="warning",
                                    access_log=False, lifespan="on"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()  # raises what stopped it
            raise RuntimeError(f"server on {host}:{port} stopped at start-up")
        await asyncio.sleep(0.05)
    return server, task


class Demo:
    """The running demo city; ``start`` then ``stop`` (tests drive it the same way)."""

    def __init__(self, settings: Any, options: DemoOptions | None = None) -> None:
        self.settings = settings
        self.options = options or DemoOptions()
        self.district = load_district(self.options.district)
        self.broker: EmbeddedBroker | None = None
        self.publisher: Publisher | None = None
        self.adapters: Any = None
        self.app: Any = None
        self._servers: list[tuple[_Server, asyncio.Task]] = []
        self.opendata_url = ""
        self.loaded: dict[str, int] = {}

    @property
    def hub(self) -> Any:
        return self.app.state.hub

    async def start(self) -> None:
        _check_free(self.settings.host, self.settings.port)
        try:
            await self._start()
        except BaseException:
            await self.stop()
            raise

    async def _start(self) -> None:
        from dosi.api.app import create_app
        from dosi.ingest.adapters.runtime import start_adapters

        opts = self.options
        mqtt_url, protocol = opts.mqtt_url, "5"
        if not mqtt_url:
            protocol = "3.1.1"  # amqtt speaks MQTT 3.1.1
            self.broker = EmbeddedBroker()
            await self.broker.start()
            mqtt_url = self.broker.url
        stand_in = opendata.create_app(self.district, SERVICE_KEY)
        od_port = free_port()
        self._servers.append(await _serve(stand_in, "127.0.0.1", od_port))
        self.opendata_url = f"http://127.0.0.1:{od_port}"

        self.app = create_app(self.settings)
        self._servers.append(await _serve(self.app, self.settings.host, self.settings.port))
        key = opts.district
        options = {
            "mqtt": {"url": mqtt_url, "client_id": f"dosi-demo-{key}", "protocol": protocol,
                     "groups": facilities.device_groups(opts.prefix, key)},
            "airkorea": {"url": f"{self.opendata_url}/B552584/ArpltnInforInqireSvc",
                         "service_key": SERVICE_KEY, "interval": opts.poll_s, "sido_name": "서울"},
            "its": {"url": f"{self.opendata_url}/trafficInfo", "api_key": SERVICE_KEY,
                    "interval": opts.poll_s},
            "kma": {"url": f"{self.opendata_url}/1360000/VilageFcstInfoService_2.0",
                    "service_key": SERVICE_KEY, "interval": opts.poll_s,
                    "cells": [(g["nx"], g["ny"]) for g in self.district.kma_grid]},
            "gtfs": {"feeds": []},  # the demo feed is imported below, once written
        }
        self.adapters = await start_adapters(self.hub, ADAPTERS, **options)
        await self._load_static(key)
        host, port = urlsplit(mqtt_url).hostname or "127.0.0.1", urlsplit(mqtt_url).port or 1883
        fleet = DeviceFleet(self.district, opts.prefix, opts.faults, opts.tick_s)
        self.publisher = await asyncio.to_thread(Publisher, fleet, host, port)
        self.publisher.log = [] if opts.keep_log else None
        if opts.backfill_hours > 0:
            self.loaded["backfilled readings"] = await asyncio.to_thread(
                self.publisher.backfill, opts.backfill_hours)
        self.publisher.start()

    async def _load_static(self, key: str) -> None:
        from dosi.errors import AlreadyExistsError
        from dosi.ingest.adapters.gtfs.coordinator import import_feed
        from dosi.ingest.records import RawRecord

        pipeline = self.hub.ingest.pipeline
        try:
            await self.hub.catalog.create_dataset({
                "id": facilities.FACILITIES, "title": "Jung-gu car parks and noise meters",
                "provider": "dosi demo", "keywords": ["parking", "noise", "demo"]})
        except AlreadyExistsError:  # in the catalog from an earlier run
            pass
        now = datetime.now(UTC)
        records = [RawRecord(facilities.FACILITIES, "demo-registry",
                             orjson.dumps(e), now, f"registry:{e['id']}")
                   for e in facilities.facility_entities(self.district, key, now)]
        verdicts = await pipeline.submit(records)
        self.loaded["facilities"] = sum(v.status != "rejected" for v in verdicts)
        for v in verdicts:
            if v.status == "rejected":
                log.warning("demo facility rejected: %s", v.reason)
        with tempfile.TemporaryDirectory() as tmp:
            feed = gtfs.write_feed(self.district, Path(tmp) / "jung-gu-gtfs.zip")
            verdicts = await import_feed(f"{key}-bus", feed, pipeline.submit)
        self.loaded["GTFS rows"] = sum(v.status != "rejected" for v in verdicts)

    async def stop(self) -> None:
        if self.publisher:
            await asyncio.to_thread(self.publisher.stop)
        if self.adapters:
            await self.adapters.stop()
        for server, task in reversed(self._servers):
            server.should_exit = True
            await task
        self._servers.clear()
        if self.broker:
            await self.broker.stop()


async def run(settings: Any, options: DemoOptions | None = None) -> None:
    """Run the demo until cancelled (Ctrl-C)."""
    demo = Demo(settings, options)
    await demo.start()
    base = f"http://{settings.host}:{settings.port}"
    print(f"dosi demo: {demo.district.name} is live.\n"
          f"  NGSI-LD API   {base}/ngsi-ld/v1/entities?type=OffStreetParking\n"
          f"  history       {base}/ngsi-ld/v1/temporal/entities?type=TrafficFlowObserved"
          f"&timerel=after&timeAt=2000-01-01T00:00:00Z&lastN=12\n"
          f"  live changes  {base}/dosi/v1/stream\n"
          f"  datasets      {base}/dosi/v1/datasets   quality {base}/dosi/v1/quality\n"
          f"  API docs      {base}/docs\n"
          f"  loaded: " + ", ".join(f"{v} {k}" for k, v in demo.loaded.items()), flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await demo.stop()
