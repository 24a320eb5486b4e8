"""Ingested data notifies subscribers, whether it came in through the hub (HTTP push)
or through ``dosi import`` in another process on the same store."""

from __future__ import annotations

from pathlib import Path

import httpx

from dosi.api.app import create_app
from dosi.cli_ingest import services
from dosi.ingest.adapters.files.reader import import_file
from dosi.settings import Settings
from tests.ingest.conftest import aq_dataset, aq_row
from tests.ingest.test_files import write_csv
from tests.integration.receiver import Receiver

SDM_ENV = "https://smart-data-models.github.io/dataModel.Environment/context.jsonld"


async def test_push_and_file_import_notify_subscribers(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/hub.db"
    app = create_app(Settings(auth=False, store_url=url, notify_poll_interval=0.1))
    receiver = await Receiver().start()
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://hub") as c:
                r = await c.post("/ngsi-ld/v1/subscriptions", json={
                    "id": "urn:ngsi-ld:Subscription:aq", "type": "Subscription",
                    "entities": [{"type": "AirQualityObserved"}],
                    "notification": {"endpoint": {"uri": receiver.url},
                                     "format": "keyValues", "attributes": ["pm10"]},
                    "@context": [SDM_ENV]}, headers={"Content-Type": "application/ld+json"})
                assert r.status_code == 201, r.text
                await c.post("/dosi/v1/datasets", json=aq_dataset())
                key = (await c.post("/dosi/v1/datasets/airkorea/keys",
                                    json={"source": "t"})).json()["key"]
                r = await c.post("/dosi/v1/ingest/airkorea", json=aq_row("P1", "11"),
                                 headers={"X-API-Key": key})
                assert r.json()["accepted"] == 1
                [first] = await receiver.wait_for(1)
                assert [e["id"] for e in first["data"]] == ["urn:ngsi-ld:AirQualityObserved:P1"]
                # dosi import runs beside the hub, on the same database
                path = tmp_path / "aq.csv"
                write_csv(path, [aq_row("F1", "21"), aq_row("F2", "22")])
                async with services(url) as s:
                    report = await import_file(str(path), "airkorea", s.pipeline.submit,
                                               s.store)
                assert report.counts["accepted"] == 2
                want = {"urn:ngsi-ld:AirQualityObserved:F1",
                        "urn:ngsi-ld:AirQualityObserved:F2"}
                got: set[str] = set()
                for n in (2, 3):  # one notification with both, or one each
                    bodies = await receiver.wait_for(n)
                    got = {e["id"] for b in bodies[1:] for e in b["data"]}
                    if got >= want:
                        break
                assert got == want
    finally:
        await receiver.stop()
