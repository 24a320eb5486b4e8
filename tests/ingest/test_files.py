"""The files adapter on both stores: import, interruption and resume without
duplicates, and malformed rows landing in the dead-letter store while good rows flow."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

from dosi.cli import main as dosi_main
from dosi.ingest.adapters.files.reader import import_file
from dosi.ingest.pipeline import IngestPipeline
from dosi.ingest.records import RawRecord
from dosi.storage.base import HistoryQuery, Store
from tests.ingest.conftest import AQ_MAPPING, aq_dataset, aq_row

PM10 = "https://smartdatamodels.org/dataModel.Environment/pm10"


def write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


class Crash(Exception):
    pass


async def test_interrupted_import_resumes_without_duplicates(
        tmp_path: Path, store: Store, pipeline: IngestPipeline) -> None:
    await store.put_ingest_doc("dataset", "airkorea", aq_dataset(), "create")
    rows = [aq_row(f"S{n:03d}", str(10 + n)) for n in range(230)]
    path = tmp_path / "aq.csv"
    write_csv(path, rows)
    calls = 0

    async def crashing_submit(records: list[RawRecord]) -> Any:
        nonlocal calls
        calls += 1
        verdicts = await pipeline.submit(records)
        if calls == 3:  # the third batch is committed, then the process dies before its
            raise Crash  # checkpoint is saved: the worst moment
        return verdicts

    with pytest.raises(Crash):
        await import_file(str(path), "airkorea", crashing_submit, store, batch=50)
    ck = (await store.list_ingest_docs("checkpoint"))[0]
    assert ck["row"] == 100  # two batches checkpointed
    report = await import_file(str(path), "airkorea", pipeline.submit, store, batch=50)
    assert report.skipped == 100 and report.rows == 130
    # rows 101-150 were committed before the crash: seen again, they changed nothing
    q = await store.get_quality("airkorea")
    assert q.accepted == 230 and q.rejected == 0
    for n in (0, 120, 229):
        eid = f"urn:ngsi-ld:AirQualityObserved:S{n:03d}"
        hist = await store.history("", [eid], HistoryQuery(attrs=(PM10,)))  # type: ignore[attr-defined]
        values = [i.doc["value"] for h in hist.values() for i in h.instances]
        assert values == [10 + n], (eid, values)  # exactly one history instance
    again = await import_file(str(path), "airkorea", pipeline.submit, store, batch=50)
    assert again.rows == 0 and again.skipped == 230


async def test_malformed_rows_land_in_dead_letters_while_good_rows_flow(
        tmp_path: Path, store: Store, pipeline: IngestPipeline) -> None:
    mapping = {**AQ_MAPPING, "attributes": {
        **AQ_MAPPING["attributes"],
        "pm10Value": {"name": "pm10", "type": "number", "unitField": "pm10Unit",
                      "units": {"㎍/㎥": "GQ", "ug/m3": "GQ"}}}}
    await store.put_ingest_doc("dataset", "airkorea", aq_dataset(mapping=mapping), "create")
    good = [json.dumps(aq_row(f"G{n}", "20", pm10Unit="㎍/㎥"), ensure_ascii=False)
            for n in range(3)]
    bad = {
        '{"stationCode": "B1", "pm10Value": ': "payload is not JSON",
        json.dumps(aq_row("B2", "20", pm10Unit="mg/m3")): "unit 'mg/m3'",
        json.dumps(aq_row("B3", "-15", pm10Unit="ug/m3")): "pm10",
        json.dumps({"id": "urn:ngsi-ld:Vehicle:B4", "type": "Vehicle",
                    "speed": {"type": "Property", "value": 3}}): "not the dataset's data model",
        json.dumps(aq_row("B5", "20", pm10Unit="ug/m3", note="x" * 5000)): "larger than",
        "[1, 2]": "a record is a JSON object",
    }
    lines = [good[0], *bad, good[1], good[2]]
    path = tmp_path / "mixed.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = await import_file(str(path), "airkorea", pipeline.submit, store, batch=4)
    assert report.counts == {"accepted": 3, "flagged": 0, "rejected": len(bad)}
    letters, total = await store.list_dead_letters("airkorea", 100)
    assert total == len(bad)
    for d, (payload, needle) in zip(letters, bad.items()):
        assert d.payload == payload.encode() and needle in d.reason, (d.reason, needle)
        assert d.source == "file:mixed.jsonl" and d.meta["row"] >= 2
    for n in range(3):
        assert await store.get("", f"urn:ngsi-ld:AirQualityObserved:G{n}") is not None


async def test_geojson_in_epsg5179_becomes_wgs84(
        tmp_path: Path, store: Store, pipeline: IngestPipeline) -> None:
    mapping = {"type": "OffStreetParking", "id": "urn:ngsi-ld:OffStreetParking:{code}",
               "crs": "EPSG:5179",
               "attributes": {"name": {"type": "string"},
                              "capacity": {"name": "totalSpotNumber", "type": "integer"}}}
    await store.put_ingest_doc("dataset", "parking", {
        "id": "parking", "title": "Car parks", "dataModel": "OffStreetParking",
        "mapping": mapping}, "create")
    fc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"code": "P1", "name": "세종로", "capacity": "1260"},
         "geometry": {"type": "Point", "coordinates": [953450.0, 1952600.0]}}]}
    path = tmp_path / "parks.geojson"
    path.write_text(json.dumps(fc, ensure_ascii=False), encoding="utf-8")
    report = await import_file(str(path), "parking", pipeline.submit, store)
    assert report.counts["accepted"] == 1, report.reasons
    e = await store.get("", "urn:ngsi-ld:OffStreetParking:P1")
    lon, lat = e["attrs"]["https://uri.etsi.org/ngsi-ld/location"][0]["value"]["coordinates"]
    assert 126.97 < lon < 126.99 and 37.56 < lat < 37.58  # Sejong-ro, Seoul


def test_cli_import_and_replay(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = f"sqlite:///{tmp_path}/cli.db"
    broken = {**aq_dataset(), "mapping": {**AQ_MAPPING, "id": "urn:ngsi-ld:X:{nope}"}}
    (tmp_path / "ds.json").write_text(json.dumps(broken), encoding="utf-8")
    (tmp_path / "fixed.yaml").write_text(json.dumps(AQ_MAPPING), encoding="utf-8")
    write_csv(tmp_path / "aq.csv", [aq_row(str(n)) for n in range(5)])
    assert dosi_main(["datasets", "create", str(tmp_path / "ds.json"), "--store", store]) == 0
    assert dosi_main(["import", str(tmp_path / "aq.csv"), "--dataset", "airkorea",
                      "--quiet", "--store", store]) == 0
    out = capsys.readouterr().out
    assert "0 accepted, 0 flagged, 5 rejected" in out and "'nope' is missing" in out
    fixed = {**aq_dataset()}
    (tmp_path / "ds2.json").write_text(json.dumps(fixed), encoding="utf-8")
    assert dosi_main(["datasets", "replace", "airkorea", str(tmp_path / "ds2.json"),
                      "--store", store]) == 0
    assert dosi_main(["ingest", "replay", "airkorea", "--store", store]) == 0
    assert "5 accepted, 0 flagged, 0 still rejected" in capsys.readouterr().out
    assert dosi_main(["ingest", "deadletters", "airkorea", "--store", store]) == 0
    assert "0 dead letters" in capsys.readouterr().out
    # a dataset deleted and created again imports the same file again from the start
    assert dosi_main(["datasets", "delete", "airkorea", "--store", store]) == 0
    assert dosi_main(["datasets", "create", str(tmp_path / "ds2.json"), "--store", store]) == 0
    assert dosi_main(["import", str(tmp_path / "aq.csv"), "--dataset", "airkorea",
                      "--quiet", "--store", store]) == 0
    assert "5 rows imported: 5 accepted" in capsys.readouterr().out
    assert dosi_main(["datasets", "get", "nowhere", "--store", store]) == 1
    assert "no dataset nowhere" in capsys.readouterr().err


def test_cli_models_and_datasets(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = f"sqlite:///{tmp_path}/cli.db"
    (tmp_path / "model.yaml").write_text("""
name: RiverLevel
attributes:
  level: {kind: Property, valueType: number, unitCode: MTR, required: true, minimum: 0}
""", encoding="utf-8")
    (tmp_path / "bad.yaml").write_text("name: X\nattributes: {level: {kind: Thing}}\n",
                                       encoding="utf-8")
    (tmp_path / "ds.yaml").write_text("""
id: river
title: River gauges
dataModel: RiverLevel
updateInterval: PT10M
keywords: [water]
""", encoding="utf-8")

    def run(*args: str) -> tuple[int, str, str]:
        rc = dosi_main([*args, "--store", store])
        out = capsys.readouterr()
        return rc, out.out, out.err

    assert run("models", "create", str(tmp_path / "model.yaml"))[0] == 0
    rc, _, err = run("models", "create", str(tmp_path / "bad.yaml"))
    assert rc == 1 and "kind" in err
    rc, out, _ = run("models", "list", "--bundled")
    assert "RiverLevel\t(custom, 1 attributes)" in out and "AirQualityObserved" in out
    rc, out, _ = run("models", "schema", "RiverLevel")
    assert json.loads(out)["properties"]["level"] == {"type": "number", "minimum": 0}
    assert run("datasets", "create", str(tmp_path / "ds.yaml"))[0] == 0
    rc, out, _ = run("datasets", "key-create", "river", "--source", "kwater")
    assert rc == 0 and "dosi_" in out
    rc, out, _ = run("datasets", "keys", "river")
    assert "\tkwater\t" in out
    rc, out, _ = run("datasets", "catalog", "--base-url", "http://hub.example")
    [ds] = json.loads(out)["dcat:dataset"]
    assert ds["@id"] == "http://hub.example/dosi/v1/datasets/river"
    rc, out, _ = run("ingest", "quality", "river")
    assert json.loads(out)["timeliness"]["status"] == "silent"  # nothing came yet
    rc, _, err = run("models", "delete", "RiverLevel")
    assert rc == 1 and "river" in err  # in use
    assert run("datasets", "delete", "river")[0] == 0
    assert run("models", "delete", "RiverLevel")[0] == 0


async def test_cp949_csv(tmp_path: Path, store: Store, pipeline: IngestPipeline) -> None:
    await store.put_ingest_doc("dataset", "airkorea", aq_dataset(), "create")
    path = tmp_path / "old.csv"
    row = aq_row("K1", "33", stationName="종로구")
    path.write_bytes((",".join(row) + "\n" + ",".join(row.values()) + "\n").encode("cp949"))
    report = await import_file(str(path), "airkorea", pipeline.submit, store, encoding="cp949")
    assert report.counts["accepted"] == 1, report.reasons
    e = await store.get("", "urn:ngsi-ld:AirQualityObserved:K1")
    [name] = [v[0]["value"] for k, v in e["attrs"].items() if k.endswith("/name")]
    assert name == "종로구"
