"""``dosi demo`` end to end: the district's sources reach the hub through the real
adapters (embedded MQTT broker, open-data stand-in polled over HTTP, GTFS import), the
histories hold the back-filled hours, and every faulty device reading is in the
dead-letter store with a reason while the good ones are in history."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from dosi.demo.district import load_district
from dosi.demo.faults import FaultRates
from dosi.demo.runner import Demo, DemoOptions
from dosi.settings import Settings
from tests.integration.receiver import free_port

SDM = "https://smartdatamodels.org/"
PARKING = SDM + "dataModel.Parking/OffStreetParking"
DEADLINE = 90.0


async def until(check, what: str):
    loop = asyncio.get_running_loop()
    end = loop.time() + DEADLINE
    while True:
        result = await check()
        if result:
            return result
        if loop.time() > end:
            raise AssertionError(f"gave up waiting for {what}")
        await asyncio.sleep(0.2)


@pytest.fixture
async def demo(tmp_path):
    settings = Settings(auth=False, store_url=f"sqlite:///{tmp_path}/demo.db", port=free_port())
    options = DemoOptions(backfill_hours=1, tick_s=3600, poll_s=1.0, keep_log=True,
                          faults=FaultRates(dropout=0.1, out_of_range=0.1, malformed=0.1),
                          mqtt_url=None, prefix="demo-test")
    d = Demo(settings, options)
    await d.start()
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{settings.port}", timeout=30) as c:
        yield d, c
    await d.stop()


async def count(client: httpx.AsyncClient, etype: str) -> int:
    r = await client.get("/ngsi-ld/v1/entities", params={"type": etype, "count": "true", "limit": 0})
    return int(r.headers.get("ngsild-results-count", 0))


async def test_demo_city_comes_alive_through_the_ingest_paths(demo):
    d, client = demo
    district = load_district()
    expected = {
        SDM + "dataModel.Environment/AirQualityObserved": len(district.stations),
        SDM + "dataModel.Transportation/TrafficFlowObserved": len(district.links),
        SDM + "dataModel.Weather/WeatherObserved": len(district.kma_grid),
        SDM + "dataModel.UrbanMobility/GtfsStop": len(district.bus_stops),
        PARKING: len(district.car_parks),
        SDM + "dataModel.Environment/NoiseLevelObserved": len(district.noise_sensors),
    }
    for etype, n in expected.items():
        async def enough(etype=etype, n=n):
            return await count(client, etype) == n
        await until(enough, f"{n} entities of {etype}")

    # every faulty reading the devices sent is a dead letter with a reason ...
    sent = list(d.publisher.log)
    faulty = [(t, p) for t, p in sent if _faulty(t, p)]
    assert faulty, "the fault rates should have produced bad readings"

    async def dead_letters():
        out = []
        for ds in ("jung-gu-parking", "jung-gu-noise"):
            r = await client.get(f"/dosi/v1/datasets/{ds}/deadletters", params={"limit": 1000})
            out += r.json()
        return out if len(out) >= len(faulty) else None
    letters = await until(dead_letters, f"{len(faulty)} dead letters")
    assert sorted(p.decode() for _, p in faulty) == sorted(x["payload"] for x in letters)
    assert all(x["reason"] for x in letters)

    # ... and every good one is in the car park's history
    park = district.car_parks[0]
    good = [p for t, p in sent if t.endswith(f"/parking/{park.id}") and not _faulty(t, p)]
    eid = f"urn:ngsi-ld:OffStreetParking:{d.options.district}:{park.id}"

    async def history():
        r = await client.get(f"/ngsi-ld/v1/temporal/entities/{eid}", params={
            "timerel": "after", "timeAt": "2000-01-01T00:00:00Z", "options": "temporalValues",
            "attrs": SDM + "dataModel.Parking/occupiedSpotNumber"})
        values = r.json().get(SDM + "dataModel.Parking/occupiedSpotNumber", {}).get("values", [])
        return values if len(values) >= len(good) else None
    values = await until(history, "the car park's history")
    assert sorted(v for v, _ in values) == sorted(json.loads(p)["occupied"] for p in good)


def _faulty(topic: str, payload: bytes) -> bool:
    if "/parking/" in topic:
        try:
            doc = json.loads(payload)
        except ValueError:
            return True
        return doc["free"] < 0
    return payload.endswith((b"|laeq|", b"|240.0"))
