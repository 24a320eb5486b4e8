"""The Korean open-data adapters (AirKorea, ITS trafficInfo, KMA nowcast) polling a loopback
server that answers with recorded payloads, into the real pipeline on both stores."""

from __future__ import annotations

import json
from typing import Any

import pytest

from dosi.ingest.adapters import load_adapter
from dosi.ingest.adapters.runtime import dataset_docs
from dosi.ingest.pipeline import IngestPipeline
from dosi.storage.base import HistoryQuery, Store
from tests.ingest.loopback import FIXTURES, recorded_api

ENV = "https://smartdatamodels.org/dataModel.Environment/"
SDM = "https://smartdatamodels.org/"
LOCATION = "https://uri.etsi.org/ngsi-ld/location"


async def setup(store: Store, pipeline: IngestPipeline, name: str, **options: Any) -> Any:
    adapter = load_adapter(name, **options)
    for doc in dataset_docs(name, adapter):
        await store.put_ingest_doc("dataset", doc["id"], doc, "create")
    for ds, mapper in adapter.mappers().items():
        pipeline.register_mapper(ds, mapper)
    return adapter


async def dead(store: Store, dataset: str) -> list[str]:
    letters, _ = await store.list_dead_letters(dataset, 100)
    return [d.reason for d in letters]


def value(entity: dict[str, Any], iri: str) -> Any:
    return entity["attrs"][iri][0]


async def test_airkorea_province_poll(store: Store, pipeline: IngestPipeline) -> None:
    with recorded_api() as api:
        api.serve("/B552584/ArpltnInforInqireSvc/getCtprvnRltmMesureDnsty",
                  "airkorea/getCtprvnRltmMesureDnsty_seoul.json")
        ad = await setup(store, pipeline, "airkorea", service_key="k3y",
                         url=api.url("/B552584/ArpltnInforInqireSvc"))
        [poller] = ad.build(pipeline.submit)
        verdicts = await poller.poll_once()
        _, query = api.requests[0]
    assert query["serviceKey"] == ["k3y"] and query["sidoName"] == ["서울"]
    assert query["returnType"] == ["json"]
    # 강남구 is not in the bundled station list of the district: left out, not rejected
    assert [v.status for v in verdicts] == ["accepted"] * 4, verdicts
    jung = await store.get("", "urn:ngsi-ld:AirQualityObserved:KR-AirKorea-Jung-gu")
    pm10 = value(jung, ENV + "pm10")
    assert pm10["value"] == 35 and pm10["unitCode"] == "GQ"
    assert pm10["observedAt"] == "2024-05-01T05:00:00.000Z"  # 14:00 KST
    assert value(jung, ENV + "no2")["unitCode"] == "59"  # ppm
    assert value(jung, ENV + "airQualityLevel")["value"] == "moderate"  # khaiGrade 2
    lon, lat = value(jung, LOCATION)["value"]["coordinates"]
    assert 126.97 < lon < 126.98 and 37.56 < lat < 37.57
    # the roadside station: PM10 missing ("-") with a communication failure flag
    jongno = await store.get("", "urn:ngsi-ld:AirQualityObserved:KR-AirKorea-Jongno")
    assert ENV + "pm10" not in jongno["attrs"] and ENV + "pm25" in jongno["attrs"]
    flags = next(v for k, v in jongno["attrs"].items() if k.endswith("measurementFlags"))
    assert flags[0]["value"] == {"pm10": "communicationFailure",
                                 "no2": "inspectionAndCalibration"}
    assert await dead(store, "airkorea") == []


async def test_airkorea_station_poll_reads_24_00_as_next_midnight(
        store: Store, pipeline: IngestPipeline) -> None:
    with recorded_api() as api:
        api.serve("/svc/getMsrstnAcctoRltmMesureInfo",
                  "airkorea/getMsrstnAcctoRltmMesureInfo_junggu.json")
        ad = await setup(store, pipeline, "airkorea", url=api.url("/svc"),
                         station_names=["중구"])
        [poller] = ad.build(pipeline.submit)
        [v] = await poller.poll_once()
        assert api.requests[0][1]["stationName"] == ["중구"]
    assert v.status == "accepted"
    e = await store.get("", v.entity_ids[0])
    # "2024-05-01 24:00" KST is 2024-05-02 00:00 KST = 2024-05-01 15:00 UTC
    assert value(e, ENV + "pm10")["observedAt"] == "2024-05-01T15:00:00.000Z"


@pytest.mark.parametrize("fixture,reason", [
    ("airkorea/error_service_key.xml", "SERVICE_KEY_IS_NOT_REGISTERED_ERROR (code 30)"),
    ("airkorea/error_resultcode.json", "NO_DATA (resultCode 03)"),
    ("airkorea/truncated.json", "payload is not JSON"),
])
async def test_airkorea_error_answers_land_in_dead_letters(
        store: Store, pipeline: IngestPipeline, fixture: str, reason: str) -> None:
    with recorded_api() as api:
        api.serve("/svc/getCtprvnRltmMesureDnsty", fixture,
                  "airkorea/getCtprvnRltmMesureDnsty_seoul.json")
        ad = await setup(store, pipeline, "airkorea", url=api.url("/svc"))
        [poller] = ad.build(pipeline.submit)
        [v] = await poller.poll_once()
        assert v.status == "rejected" and reason in (v.reason or "")
        [letter] = (await store.list_dead_letters("airkorea", 10))[0]
        assert letter.payload == (FIXTURES / fixture).read_bytes()  # kept verbatim
        # the next poll gets a good answer: data flows on
        assert [x.status for x in await poller.poll_once()] == ["accepted"] * 4


async def test_airkorea_bad_rows_are_rejected_one_by_one(
        store: Store, pipeline: IngestPipeline) -> None:
    with recorded_api() as api:
        api.serve("/svc/getCtprvnRltmMesureDnsty", "airkorea/getCtprvnRltmMesureDnsty_badrows.json")
        ad = await setup(store, pipeline, "airkorea", url=api.url("/svc"))
        verdicts = await ad.build(pipeline.submit)[0].poll_once()
    assert [v.status for v in verdicts] == ["rejected", "rejected", "accepted"]
    assert sorted(await dead(store, "airkorea")) == [
        "coValue '400' is out of range 0..50 ppm",  # µg/m³ sent where ppm belongs
        "pm25Grade '7' is not a grade 1-4",
    ]


async def test_its_traffic_links(store: Store, pipeline: IngestPipeline) -> None:
    with recorded_api() as api:
        api.serve("/trafficInfo", "its/trafficInfo_junggu.json")
        ad = await setup(store, pipeline, "its", url=api.url("/trafficInfo"), api_key="its-key")
        verdicts = await ad.build(pipeline.submit)[0].poll_once()
        q = api.requests[0][1]
    assert q["apiKey"] == ["its-key"] and q["getType"] == ["json"] and q["type"] == ["all"]
    assert len(verdicts) == 16 and {v.status for v in verdicts} == {"accepted"}
    e = await store.get("", "urn:ngsi-ld:TrafficFlowObserved:KR-ITS-1000000101")
    speed = value(e, "https://smartdatamodels.org/dataModel.Transportation/averageVehicleSpeed")
    assert speed["value"] == 23.0 and speed["unitCode"] == "KMH"
    assert speed["observedAt"] == "2024-05-01T05:05:00.000Z"
    ref = next(v for k, v in e["attrs"].items() if k.endswith("refRoadSegment"))
    assert ref[0]["object"] == "urn:ngsi-ld:RoadSegment:KR-MOCT-1000000101"
    line = value(e, LOCATION)["value"]
    assert line["type"] == "LineString"  # node-link nodes, EPSG:5186 -> WGS84
    for lon, lat in line["coordinates"]:
        assert 126.97 < lon < 127.01 and 37.55 < lat < 37.58


async def test_its_unknown_link_and_error_envelope(store: Store, pipeline: IngestPipeline) -> None:
    with recorded_api() as api:
        api.serve("/trafficInfo", "its/error_key.json", "its/trafficInfo_junggu.json")
        ad = await setup(store, pipeline, "its", url=api.url("/trafficInfo"), only_known=False)
        [v] = await ad.build(pipeline.submit)[0].poll_once()
        verdicts = await ad.build(pipeline.submit)[0].poll_once()
    assert v.status == "rejected"
    assert [x.status for x in verdicts].count("accepted") == 16
    reasons = await dead(store, "its-traffic")
    assert reasons == ["API error 인증키가 유효하지 않습니다. (resultCode 99)",
                       "unknown linkId '1000099901' (not in the bundled node-link extract)"]


async def test_kma_nowcast_two_cells(store: Store, pipeline: IngestPipeline) -> None:
    with recorded_api() as api:
        api.serve("/vf/getUltraSrtNcst", "kma/getUltraSrtNcst_60_127.json",
                  "kma/getUltraSrtNcst_61_126.json")
        ad = await setup(store, pipeline, "kma", url=api.url("/vf"), service_key="x",
                         cells=[[60, 127]], points=[[37.5326, 127.0246]])  # -> cell 61,126
        pollers = ad.build(pipeline.submit)
        verdicts = [v for p in pollers for v in await p.poll_once()]
        asked = [(q["nx"], q["ny"], q["dataType"]) for _, q in api.requests]
        assert all(len(q["base_date"][0]) == 8 and q["base_time"][0].endswith("00")
                   for _, q in api.requests)
    assert asked == [(["60"], ["127"], ["JSON"]), (["61"], ["126"], ["JSON"])]
    assert [v.status for v in verdicts] == ["accepted", "accepted"], verdicts
    e = await store.get("", "urn:ngsi-ld:WeatherObserved:KR-KMA-60-127")
    assert value(e, SDM + "dataModel.Weather/temperature")["value"] == 21.3
    assert value(e, SDM + "dataModel.Weather/relativeHumidity")["value"] == 0.48
    lon, lat = value(e, LOCATION)["value"]["coordinates"]
    assert abs(lat - 37.58) < 0.01 and abs(lon - 126.99) < 0.01  # Jongno
    wet = await store.get("", "urn:ngsi-ld:WeatherObserved:KR-KMA-61-126")
    assert value(wet, SDM + "dataModel.Weather/precipitation")["value"] == 2.5
    wtype = next(v for k, v in wet["attrs"].items() if k.endswith("weatherType"))
    assert wtype[0]["value"] == "rain"


@pytest.mark.parametrize("fixture,reason", [
    ("kma/error_service_key.xml", "SERVICE_KEY_IS_NOT_REGISTERED_ERROR"),
    ("kma/error_no_data.json", "NO_DATA (resultCode 03)"),
    ("kma/getUltraSrtNcst_out_of_range.json", "T1H obsrValue '72.5' is out of range -60..60 °C"),
])
async def test_kma_bad_answers_land_in_dead_letters(
        store: Store, pipeline: IngestPipeline, fixture: str, reason: str) -> None:
    with recorded_api() as api:
        api.serve("/vf/getUltraSrtNcst", fixture, "kma/getUltraSrtNcst_60_127.json")
        ad = await setup(store, pipeline, "kma", url=api.url("/vf"))
        [poller] = ad.build(pipeline.submit)
        [v] = await poller.poll_once()
        [good] = await poller.poll_once()
    assert v.status == "rejected" and reason in (v.reason or "")
    assert good.status == "accepted"
    assert len(await dead(store, "kma-nowcast")) == 1


def _kma_with(change: dict[str, Any]) -> bytes:
    doc = json.loads((FIXTURES / "kma/getUltraSrtNcst_60_127.json").read_bytes())
    doc["response"]["body"]["items"]["item"][0].update(change)
    return json.dumps(doc).encode()


async def test_malformed_inputs_through_every_polling_adapter(
        store: Store, pipeline: IngestPipeline) -> None:
    """Broken JSON, wrong units, out-of-range values, unknown types and huge messages:
    each lands in the dead letters with a reason, the good records around them flow on."""
    seoul = json.loads((FIXTURES / "airkorea/getCtprvnRltmMesureDnsty_seoul.json").read_bytes())
    items = seoul["response"]["body"]["items"]
    huge = dict(items[1], note="x" * 300_000)
    unknown = dict(items[3], stationName="없는측정소")
    seoul["response"]["body"]["items"] = [items[0], huge, dict(items[2], pm10Value="12x")]
    with recorded_api() as api:
        api.serve("/svc/getCtprvnRltmMesureDnsty", json.dumps(seoul).encode())
        api.serve("/vf/getUltraSrtNcst", b'{"response": {"header": {"resultCode": "00"',
                  _kma_with({"category": "XYZ"}), _kma_with({"obsrValue": "warm"}),
                  "kma/getUltraSrtNcst_60_127.json")
        ak = await setup(store, pipeline, "airkorea", url=api.url("/svc"), only_known=False)
        kma = await setup(store, pipeline, "kma", url=api.url("/vf"))
        air = await ak.build(pipeline.submit)[0].poll_once()
        # a station outside the list is an unknown source: rejected, not guessed
        api.serve("/svc/getCtprvnRltmMesureDnsty", json.dumps(
            {"response": {"header": {"resultCode": "00", "resultMsg": "NORMAL_CODE"},
                          "body": {"items": [unknown, items[3]]}}}).encode())
        air += await ak.build(pipeline.submit)[0].poll_once()
        [kpoll] = kma.build(pipeline.submit)
        weather = [v for _ in range(4) for v in await kpoll.poll_once()]
    assert [v.status for v in air] == ["accepted", "rejected", "rejected", "rejected", "accepted"]
    assert [v.status for v in weather] == ["rejected"] * 3 + ["accepted"]
    reasons = await dead(store, "airkorea") + await dead(store, "kma-nowcast")
    assert reasons[0].startswith("record of ") and "larger than the limit" in reasons[0]
    assert reasons[1:] == [
        "pm10Value '12x' is not a number",
        "unknown stationName '없는측정소'",
        reasons[3],
        "unknown category 'XYZ'",
        "PTY 'warm' is not a precipitation type code 0-7",
    ]
    assert reasons[3].startswith("payload is not JSON")


async def test_airkorea_station_list_of_another_district(
        store: Store, pipeline: IngestPipeline, tmp_path: Any) -> None:
    """An operator's station list (e.g. from getMsrstnList) replaces the bundled one."""
    listing = {"stations": [{"stationName": "강남구", "ref": "Gangnam-gu", "addr": "서울 강남구",
                             "lat": 37.5175, "lon": 127.0475}]}
    path = tmp_path / "stations.json"
    path.write_text(json.dumps(listing, ensure_ascii=False), encoding="utf-8")
    with recorded_api() as api:
        api.serve("/svc/getCtprvnRltmMesureDnsty", "airkorea/getCtprvnRltmMesureDnsty_seoul.json")
        ad = await setup(store, pipeline, "airkorea", url=api.url("/svc"),
                         stations_file=str(path))
        [v] = await ad.build(pipeline.submit)[0].poll_once()
    assert v.entity_ids == ["urn:ngsi-ld:AirQualityObserved:KR-AirKorea-Gangnam-gu"]
    e = await store.get("", v.entity_ids[0])
    assert value(e, LOCATION)["value"]["coordinates"] == [127.0475, 37.5175]


async def test_service_keys_stay_out_of_the_log(store: Store, pipeline: IngestPipeline,
                                                caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO")
    with recorded_api() as api:
        api.serve("/vf/getUltraSrtNcst", "kma/getUltraSrtNcst_60_127.json")
        ad = await setup(store, pipeline, "kma", url=api.url("/vf"), service_key="SeCrEt%2Bkey==")
        await ad.build(pipeline.submit)[0].poll_once()
        assert api.requests[0][1]["serviceKey"] == ["SeCrEt%2Bkey=="]
    assert "getUltraSrtNcst" in caplog.text  # the request is logged...
    assert "SeCrEt" not in caplog.text  # ...without the key


async def test_airkorea_repoll_changes_nothing_and_a_later_correction_is_taken(
        store: Store, pipeline: IngestPipeline) -> None:
    """AirKorea re-serves the same hour until the next one; it also fills in a '-' later."""
    fixture = FIXTURES / "airkorea/getCtprvnRltmMesureDnsty_seoul.json"
    corrected = json.loads(fixture.read_text("utf-8"))
    for item in corrected["response"]["body"]["items"]:
        if item["stationName"] == "종로":
            item["pm10Value"], item["pm10Flag"], item["pm10Grade"] = "41", None, "2"
    with recorded_api() as api:
        api.serve("/svc/getCtprvnRltmMesureDnsty", fixture.read_bytes(), fixture.read_bytes(),
                  json.dumps(corrected, ensure_ascii=False).encode())
        ad = await setup(store, pipeline, "airkorea", url=api.url("/svc"))
        [poller] = ad.build(pipeline.submit)
        for _ in range(3):
            await poller.poll_once()
    jung = "urn:ngsi-ld:AirQualityObserved:KR-AirKorea-Jung-gu"
    hist = await store.history("", [jung], HistoryQuery(attrs=(ENV + "pm10",)))
    assert [i.doc["value"] for i in hist[jung].instances] == [35]  # three polls, one instance
    jongno = await store.get("", "urn:ngsi-ld:AirQualityObserved:KR-AirKorea-Jongno")
    assert value(jongno, ENV + "pm10")["value"] == 41
