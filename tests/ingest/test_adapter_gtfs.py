"""The GTFS adapter: a recorded static feed (bus stops of Seoul Jung-gu / Jongno-gu) as
UrbanMobility Gtfs* entities through the real pipeline, and broken feeds into dead letters."""

from __future__ import annotations

import zipfile
from pathlib import Path

from dosi.ingest.adapters.gtfs.coordinator import GtfsAdapter, import_feed
from dosi.ingest.adapters.runtime import dataset_docs
from dosi.ingest.pipeline import IngestPipeline
from dosi.storage.base import Store
from tests.ingest.loopback import FIXTURES

FEED = FIXTURES / "gtfs" / "seoul-junggu"
UM = "https://smartdatamodels.org/dataModel.UrbanMobility/"


def zip_feed(tmp: Path, changes: dict[str, str] | None = None, drop: str = "") -> Path:
    out = tmp / "feed.zip"
    with zipfile.ZipFile(out, "w") as z:
        for f in sorted(FEED.iterdir()):
            if f.name != drop:
                z.writestr(f.name, (changes or {}).get(f.name, f.read_text(encoding="utf-8")))
    return out


async def setup(store: Store, pipeline: IngestPipeline) -> GtfsAdapter:
    ad = GtfsAdapter()
    for doc in dataset_docs("gtfs", ad):
        await store.put_ingest_doc("dataset", doc["id"], doc, "create")
    for ds, mapper in ad.mappers().items():
        pipeline.register_mapper(ds, mapper)
    return ad


def attr(e: dict, name: str) -> dict:
    return next(v[0] for k, v in e["attrs"].items() if k.rsplit("/", 1)[-1] == name)


async def test_feed_becomes_gtfs_entities(store: Store, pipeline: IngestPipeline,
                                          tmp_path: Path) -> None:
    await setup(store, pipeline)
    verdicts = await import_feed("seoul", zip_feed(tmp_path), pipeline.submit, batch=7)
    assert len(verdicts) == 19 and {v.status for v in verdicts} == {"accepted"}, [
        v.reason for v in verdicts if v.status != "accepted"]
    stop = await store.get("", "urn:ngsi-ld:GtfsStop:seoul:S-GWANGHWAMUN")
    assert attr(stop, "name")["value"] == "광화문"
    assert attr(stop, "location")["value"]["coordinates"] == [126.97689, 37.57142]
    route = await store.get("", "urn:ngsi-ld:GtfsRoute:seoul:R-472")
    assert attr(route, "shortName")["value"] == "472" and attr(route, "routeType")["value"] == "3"
    assert attr(route, "operatedBy")["object"] == "urn:ngsi-ld:GtfsAgency:seoul:SEOUL"
    st = await store.get("", "urn:ngsi-ld:GtfsStopTime:seoul:T-472-0700_3")
    assert attr(st, "hasStop")["object"] == "urn:ngsi-ld:GtfsStop:seoul:S-JONGGAK"
    assert attr(st, "hasTrip")["object"] == "urn:ngsi-ld:GtfsTrip:seoul:T-472-0700"
    assert (attr(st, "arrivalTime")["value"], attr(st, "stopSequence")["value"]) == ("07:05:00", 3)
    agency = await store.get("", "urn:ngsi-ld:GtfsAgency:seoul:SEOUL")
    assert attr(agency, "timezone")["value"] == "Asia/Seoul"
    # importing the same feed again changes no entity count
    await import_feed("seoul", zip_feed(tmp_path), pipeline.submit)
    letters, _ = await store.list_dead_letters("gtfs", 10)
    assert letters == []


async def test_bad_rows_and_broken_feeds(store: Store, pipeline: IngestPipeline,
                                         tmp_path: Path) -> None:
    await setup(store, pipeline)
    stops = (FEED / "stops.txt").read_text(encoding="utf-8").replace("37.565770", "137.565770")
    times = (FEED / "stop_times.txt").read_text(encoding="utf-8").replace("07:09:00,07:09:30",
                                                                          "7h09,07:09:30")
    stops += "S-HUGE,09999,큰정류장" + "x" * 5000 + ",37.5,126.9,0,1\n"  # a huge row
    stops += "S-WIDE,09998,넓은정류장,37.5,126.9,0,1,extra\n"  # more fields than the header
    routes = (FEED / "routes.txt").read_text(encoding="utf-8") + (
        "R-700,SEOUL,700,extended type,700,3D5BAB,FFFFFF\n")  # no such type in the model
    verdicts = await import_feed("seoul", zip_feed(tmp_path, {"stops.txt": stops,
                                                              "stop_times.txt": times,
                                                              "routes.txt": routes}),
                                 pipeline.submit)
    assert [v.status for v in verdicts].count("accepted") == 17
    (tmp_path / "junk.zip").write_bytes(b"PK\x03\x04 not really")
    verdicts += await import_feed("x", tmp_path / "junk.zip", pipeline.submit)
    verdicts += await import_feed("y", zip_feed(tmp_path, drop="trips.txt"), pipeline.submit)
    assert [v.status for v in verdicts[-2:]] == ["rejected", "rejected"]
    letters, total = await store.list_dead_letters("gtfs", 10)
    assert total == 7
    reasons = [d.reason for d in letters]
    assert reasons[0] == "stop_lat '137.565770' is out of range -90..90"
    assert "larger than the limit" in reasons[1]
    assert reasons[2] == "row has 1 more field(s) than the header of stops.txt"
    assert "routeType: '700' is not one of" in reasons[3]
    assert reasons[4] == "arrival_time '7h09' is not a GTFS time HH:MM:SS"
    assert reasons[5].startswith("not a GTFS zip")
    assert reasons[6] == "feed lacks required file(s): trips.txt"
    assert letters[0].key == "seoul/stops.txt:5"  # file and line of the bad row
