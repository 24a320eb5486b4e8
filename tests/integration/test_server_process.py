"""The real server: ``dosi serve`` and ``dosi demo`` as a user runs them."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import httpx
import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def serve(tmp_path):
    procs: list[subprocess.Popen] = []

    def start(command: str, port: int, *extra: str) -> str:
        log = tmp_path / f"{command}-{port}.log"  # a file: a pipe nobody reads would fill up
        proc = subprocess.Popen(
            [sys.executable, "-m", "dosi.cli", command, "--port", str(port), *extra],
            cwd=tmp_path, stdout=log.open("wb"), stderr=subprocess.STDOUT,
            env={**os.environ, "DOSI_AUTH": "false"},  # not about security
        )
        procs.append(proc)
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                if httpx.get(base + "/health", timeout=1).status_code == 200:
                    return base
            except httpx.HTTPError:
                time.sleep(0.1)
        proc.kill()
        raise AssertionError(log.read_text(errors="replace"))

    yield start
    for p in procs:
        p.terminate()
        p.wait(10)


def test_serve_keeps_entities_across_restarts(serve, tmp_path):
    store = f"sqlite:///{tmp_path}/city.db"
    port = free_port()
    base = serve("serve", port, "--store", store)
    body = {"id": "urn:ngsi-ld:ParkingSpot:1", "type": "ParkingSpot",
            "status": {"type": "Property", "value": "free"}}
    assert httpx.post(f"{base}/ngsi-ld/v1/entities", json=body).status_code == 201
    subprocess.run(["pkill", "-f", f"--port {port}"], check=False)
    time.sleep(1)
    base = serve("serve", free_port(), "--store", store)
    got = httpx.get(f"{base}/ngsi-ld/v1/entities/urn:ngsi-ld:ParkingSpot:1").json()
    assert got["status"]["value"] == "free"


def test_demo_serves_a_living_district(serve):
    """``dosi demo`` as the README runs it: the district's car parks fill from MQTT
    device readings, and the open-data sources and the GTFS feed arrive too."""
    base = serve("demo", free_port(), "--backfill-hours", "0.5")
    link = ('<https://smart-data-models.github.io/dataModel.Parking/context.jsonld>; '
            'rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json"')
    deadline = time.monotonic() + 120
    parks: list = []
    while time.monotonic() < deadline:
        r = httpx.get(f"{base}/ngsi-ld/v1/entities", headers={"Link": link},
                      params={"type": "OffStreetParking", "options": "keyValues"})
        parks = r.json() if r.status_code == 200 else []
        if len(parks) == 4 and all("availableSpotNumber" in p for p in parks):
            break
        time.sleep(0.5)
    assert len(parks) == 4, parks
    assert all(0 <= p["availableSpotNumber"] <= p["totalSpotNumber"] for p in parks)
    types = httpx.get(f"{base}/ngsi-ld/v1/types").json()["typeList"]
    assert {t.rsplit("/", 1)[-1] for t in types} >= {
        "OffStreetParking", "NoiseLevelObserved", "GtfsStop", "TrafficFlowObserved"}


def test_bad_store_url_is_a_readable_cli_error():
    r = subprocess.run([sys.executable, "-m", "dosi.cli", "serve", "--store", "mysql://x"],
                       capture_output=True, text=True)
    assert r.returncode == 2
    assert "unsupported store URL" in r.stderr and "Traceback" not in r.stderr
