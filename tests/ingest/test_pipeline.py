"""The pipeline on both stores: verdicts, dead letters, replay, idempotency, quality."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from dosi.ingest.pipeline import IngestPipeline
from dosi.ingest.records import RawRecord
from dosi.storage.base import Store
from tests.ingest.conftest import AQ_MAPPING, aq_dataset

NOW = datetime(2026, 11, 25, 6, 0, tzinfo=UTC)
PM10 = "https://smartdatamodels.org/dataModel.Environment/pm10"


def row(code: str = "111121", pm10: Any = "31", **kw: Any) -> bytes:
    doc = {"stationCode": code, "stationName": "중구", "dataTime": "2026-11-25 14:00",
           "pm10Value": pm10, "no2Value": "0.021", "dmX": "198245.05", "dmY": "551900.0", **kw}
    return json.dumps(doc, ensure_ascii=False).encode()


def rec(payload: bytes, key: str | None = None, dataset: str = "airkorea") -> RawRecord:
    return RawRecord(dataset, "test", payload, NOW, key=key)


async def test_good_record_becomes_an_entity_with_kst_time_and_wgs84(
        store: Store, pipeline: IngestPipeline) -> None:
    await store.put_ingest_doc("dataset", "airkorea", aq_dataset(), "create")
    [v] = await pipeline.submit([rec(row())])
    assert v.status == "accepted" and v.entity_ids == ["urn:ngsi-ld:AirQualityObserved:111121"]
    e = await store.get("", v.entity_ids[0])
    pm10 = e["attrs"][PM10][0]
    assert pm10["value"] == 31 and pm10["unitCode"] == "GQ"
    assert pm10["observedAt"] == "2026-11-25T05:00:00.000Z"  # 14:00 KST
    lon, lat = e["attrs"]["https://uri.etsi.org/ngsi-ld/location"][0]["value"]["coordinates"]
    assert 126.9 < lon < 127.1 and 37.5 < lat < 37.65  # central Seoul


async def test_bad_records_land_in_dead_letters_while_good_ones_flow(
        store: Store, pipeline: IngestPipeline) -> None:
    await store.put_ingest_doc("dataset", "airkorea", aq_dataset(), "create")
    bad = {
        b"{broken json": "payload is not JSON",
        row(pm10="12x"): "pm10Value '12x' is not a number",
        row(pm10="-40"): "pm10",  # out of range: the SDM schema says minimum 0
        b'{"id": "urn:x:1", "type": "Parking", "name": {"type": "Property", "value": 1}}':
            "not the dataset's data model",
        json.dumps({"stationCode": "9", "pad": "x" * 5000}).encode(): "larger than the limit",
    }
    records = [rec(row("1"))] + [rec(p) for p in bad] + [rec(row("2"))]
    verdicts = await pipeline.submit(records)
    assert [v.status for v in verdicts] == ["accepted"] + ["rejected"] * len(bad) + ["accepted"]
    for v, needle in zip(verdicts[1:-1], bad.values()):
        assert needle in (v.reason or ""), v.reason
    letters, total = await store.list_dead_letters("airkorea", 100)
    assert total == len(bad)
    assert [d.payload for d in letters] == list(bad)
    assert all(d.reason and d.source == "test" for d in letters)
    q = await store.get_quality("airkorea")
    assert (q.accepted, q.flagged, q.rejected) == (2, 0, len(bad))


async def test_flag_mode_accepts_and_flags(store: Store, pipeline: IngestPipeline) -> None:
    await store.put_ingest_doc("dataset", "airkorea", aq_dataset("flag"), "create")
    [v] = await pipeline.submit([rec(row(pm10="-40"))])
    assert v.status == "flagged" and "pm10" in (v.reason or "")
    assert (await store.get("", v.entity_ids[0])) is not None
    assert (await store.list_dead_letters("airkorea", 10))[1] == 0


async def test_replay_after_mapping_fix(store: Store, pipeline: IngestPipeline) -> None:
    broken = {**AQ_MAPPING, "attributes": {**AQ_MAPPING["attributes"],
                                           "pm10Value": {"name": "pm10", "type": "integer"}}}
    await store.put_ingest_doc("dataset", "airkorea", aq_dataset(mapping=broken), "create")
    verdicts = await pipeline.submit([rec(row("1", pm10="31.5")), rec(b"not json")])
    assert [v.status for v in verdicts] == ["rejected", "rejected"]
    await store.put_ingest_doc("dataset", "airkorea", aq_dataset(), "replace")
    counts = await pipeline.replay("airkorea")
    assert counts == {"accepted": 1, "flagged": 0, "rejected": 1}
    letters, total = await store.list_dead_letters("airkorea", 10)
    assert total == 1 and letters[0].payload == b"not json"
    e = await store.get("", "urn:ngsi-ld:AirQualityObserved:1")
    assert e["attrs"][PM10][0]["value"] == 31.5
    q = await store.get_quality("airkorea")
    assert (q.accepted, q.rejected) == (1, 1)


async def test_idempotency_key_changes_nothing(store: Store, pipeline: IngestPipeline) -> None:
    await store.put_ingest_doc("dataset", "airkorea", aq_dataset(), "create")
    first = await pipeline.submit([rec(row(), key="m1"), rec(row(), key="m1")])
    before = await store.get("", "urn:ngsi-ld:AirQualityObserved:111121")
    again = await pipeline.submit([rec(row(), key="m1")])
    assert first[0] == first[1] == again[0]
    assert await store.get("", "urn:ngsi-ld:AirQualityObserved:111121") == before
    q = await store.get_quality("airkorea")
    assert q.accepted == 1  # counted once
    [other] = await pipeline.submit([rec(row(), key="m2")])  # a new key is a new message
    assert other.status == "accepted"
    assert (await store.get_quality("airkorea")).accepted == 2


async def test_unknown_dataset_is_dead_lettered(store: Store, pipeline: IngestPipeline) -> None:
    [v] = await pipeline.submit([rec(row(), dataset="nowhere")])
    assert v.status == "rejected" and "unknown dataset" in (v.reason or "")
    assert (await store.list_dead_letters("nowhere", 10))[1] == 1


async def test_dataset_retention_prunes_old_history(
        store: Store, pipeline: IngestPipeline) -> None:
    from dosi.services.catalog import CatalogService
    from dosi.services.retention import retention_pass
    from dosi.storage.base import HistoryQuery

    await store.put_ingest_doc("dataset", "airkorea", aq_dataset(retention="P30D"), "create")
    old = json.dumps({**json.loads(row("R1")), "dataTime": "2020-01-01 10:00"}).encode()
    await pipeline.submit([rec(old), rec(row("R1"))])  # 2020 and 2026-11-25, one batch
    catalog = CatalogService(store, pipeline, pipeline.contexts)
    rules = await catalog.retention_rules()
    assert [(r.keep_ms, r.tenant, r.type) for r in rules] == [
        (30 * 86_400_000, "", "https://smartdatamodels.org/dataModel.Environment/AirQualityObserved")]
    eid = "urn:ngsi-ld:AirQualityObserved:R1"

    async def observed() -> list[int | None]:
        hist = await store.history("", [eid], HistoryQuery(attrs=(PM10,)))  # type: ignore[attr-defined]
        return sorted(i.observed_at for h in hist.values() for i in h.instances)

    y2020, y2026 = 1577840400000, 1795582800000  # 2020-01-01 01:00Z, 2026-11-25 05:00Z
    assert await observed() == [y2020, y2026]  # both observations of the batch are kept
    assert await retention_pass(store, rules, 1000) > 0  # type: ignore[arg-type]
    assert await observed() == [y2026]
