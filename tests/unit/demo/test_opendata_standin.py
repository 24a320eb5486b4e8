"""The loopback stand-in for AirKorea, ITS and KMA answers in the real envelopes."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from starlette.testclient import TestClient

from dosi.demo.district import load_district
from dosi.demo.opendata import airkorea_items, create_app

KST = timezone(timedelta(hours=9))
NOON = datetime(2026, 11, 25, 12, 50, tzinfo=KST)


def client() -> TestClient:
    return TestClient(create_app(load_district(), "demo-key", clock=lambda: NOON))


def test_wrong_service_key_gets_the_portal_xml_error():
    r = client().get("/B552584/ArpltnInforInqireSvc/getCtprvnRltmMesureDnsty",
                     params={"serviceKey": "nope", "sidoName": "서울", "returnType": "json"})
    assert "SERVICE_KEY_IS_NOT_REGISTERED_ERROR" in r.text


def test_airkorea_answers_every_station_for_the_hour():
    r = client().get("/B552584/ArpltnInforInqireSvc/getCtprvnRltmMesureDnsty",
                     params={"serviceKey": "demo-key", "sidoName": "서울", "returnType": "json"})
    body = r.json()["response"]
    assert body["header"]["resultCode"] == "00"
    items = body["body"]["items"]
    assert {i["stationName"] for i in items} == {s.id for s in load_district().stations}
    assert all(i["dataTime"] == "2026-11-25 12:00" for i in items)
    assert all(i["pm10Value"] == "-" or int(i["pm10Value"]) > 0 for i in items)


def test_airkorea_marks_outages_with_dash_and_flag():
    district = load_district()
    dashes = [(i, p) for h in range(24 * 14)
              for i in airkorea_items(district, NOON + timedelta(hours=h))
              for p in ("pm10", "pm25", "no2", "o3", "co", "so2") if i[f"{p}Value"] == "-"]
    assert dashes, "two weeks of six stations should show some outages"
    assert all(i[f"{p}Flag"] in ("통신장애", "점검및교정") and i[f"{p}Grade"] is None
               for i, p in dashes)


def test_its_gives_five_minute_speeds_per_link():
    r = client().get("/trafficInfo", params={"apiKey": "demo-key", "type": "all", "getType": "json"})
    items = r.json()["body"]["items"]
    assert len(items) == len(load_district().links)
    assert {i["createdDate"] for i in items} == {"20261125125000"}
    assert all(0 < float(i["speed"]) < 80 for i in items)


def test_kma_nowcast_uses_the_last_published_hour():
    r = client().get("/1360000/VilageFcstInfoService_2.0/getUltraSrtNcst",
                     params={"serviceKey": "demo-key", "nx": 60, "ny": 127, "dataType": "JSON"})
    items = r.json()["response"]["body"]["items"]["item"]
    assert {i["category"] for i in items} == {"T1H", "REH", "WSD", "VEC", "RN1", "PTY"}
    assert {(i["baseDate"], i["baseTime"]) for i in items} == {("20261125", "1200")}
