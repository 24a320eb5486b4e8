"""Pure parts of the source adapters: the KMA grid, the open-data envelope, KST times,
MQTT device-group reading. No I/O."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from dosi.ingest.adapters.kma.grid import NX_MAX, NY_MAX, to_grid, to_latlon
from dosi.ingest.adapters.mqtt.mapping import DeviceGroup, observations, to_entity
from dosi.ingest.adapters.opendata import items_of, kst_to_utc, number, parse_envelope
from dosi.ingest.errors import RecordError


@pytest.mark.parametrize("lat,lon,cell", [
    (37.5714, 126.9658, (60, 127)),  # Seoul Jongno-gu (KMA's own table)
    (35.1796, 129.0756, (98, 76)),  # Busan City Hall
    (33.4996, 126.5312, (53, 38)),  # Jeju
    (37.4563, 126.7052, (55, 124)),  # Incheon
])
def test_kma_grid_known_points(lat: float, lon: float, cell: tuple[int, int]) -> None:
    assert to_grid(lat, lon) == cell


def test_kma_grid_centre_of_jongno_cell() -> None:
    lat, lon = to_latlon(60, 127)
    assert abs(lat - 37.5799) < 0.001 and abs(lon - 126.9894) < 0.001
    assert to_latlon(43, 136) == (38.0, 126.0)  # the projection's origin


def test_kma_grid_round_trip_over_the_whole_grid() -> None:
    for nx in range(1, NX_MAX + 1, 7):
        for ny in range(1, NY_MAX + 1, 7):
            assert to_grid(*to_latlon(nx, ny)) == (nx, ny)
    with pytest.raises(ValueError):
        to_latlon(0, 127)


def test_envelopes() -> None:
    body = parse_envelope(b'{"response": {"header": {"resultCode": "00", "resultMsg": "OK"},'
                          b' "body": {"items": {"item": {"a": 1}}}}}')
    assert items_of(body) == [{"a": 1}]
    its = parse_envelope(b'{"header": {"resultCode": 0}, "body": {"items": []}}')
    assert items_of(its) == []
    assert items_of({"items": ""}) == []  # data.go.kr writes "" for no rows
    with pytest.raises(RecordError, match="LIMITED_NUMBER_OF_SERVICE_REQUESTS_EXCEEDS_ERROR"):
        parse_envelope(b"\xef\xbb\xbf<OpenAPI_ServiceResponse><cmmMsgHeader><returnAuthMsg>"
                       b"LIMITED_NUMBER_OF_SERVICE_REQUESTS_EXCEEDS_ERROR</returnAuthMsg>"
                       b"<returnReasonCode>22</returnReasonCode></cmmMsgHeader>"
                       b"</OpenAPI_ServiceResponse>")
    with pytest.raises(RecordError, match="no header.resultCode"):
        parse_envelope(b'{"result": 1}')


def test_kst_and_numbers() -> None:
    assert kst_to_utc("2024-05-01 14:00", "%Y-%m-%d %H:%M") == "2024-05-01T05:00:00.000Z"
    assert kst_to_utc("2024-12-31 24:00", "%Y-%m-%d %H:%M") == "2024-12-31T15:00:00.000Z"
    assert kst_to_utc("20240501140500", "%Y%m%d%H%M%S") == "2024-05-01T05:05:00.000Z"
    with pytest.raises(RecordError, match="does not match"):
        kst_to_utc("2024/05/01", "%Y-%m-%d %H:%M")
    assert number({"v": "-"}, "v", 0, 10, "x") is None
    assert number({"v": "0.021"}, "v", 0, 1, "ppm") == 0.021
    assert number({"v": "35"}, "v", 0, 100, "x") == 35
    with pytest.raises(RecordError, match="'nan' is out of range|is not a number"):
        number({"v": "nan"}, "v", 0, 100, "x")


GROUP = DeviceGroup(
    name="vds", dataset="vds", topic="city/{district}/vds/{device}",
    entity_id="urn:ngsi-ld:TrafficFlowObserved:{device}", entity_type="TrafficFlowObserved",
    time_attribute="dateObserved", max_bytes=200,
    attributes={"n": {"name": "intensity", "kind": "number", "min": 0, "max": 10000},
                "v": {"name": "averageVehicleSpeed", "unitCode": "KMH", "min": 0, "max": 250},
                "st": {"name": "status", "kind": "text"}})
NOW = datetime(2024, 5, 1, 5, 0, tzinfo=UTC)


def test_mqtt_group_topics_and_payloads() -> None:
    assert GROUP.subscription == "city/+/vds/+"
    assert GROUP.match("city/jung/vds/V-17") == {"district": "jung", "device": "V-17"}
    assert GROUP.match("city/jung/air/V-17") is None
    ul = observations(GROUP, "city/jung/vds/V-17", b"n|12|v|47.5|ts|1714539600", NOW)
    js = observations(GROUP, "city/jung/vds/V-17",
                      b'{"n": 12, "v": {"value": 47.5, "unitCode": "KMH"},'
                      b' "ts": "2024-05-01T14:00:00+09:00"}', NOW)
    assert to_entity(GROUP, ul) == to_entity(GROUP, js) == {
        "id": "urn:ngsi-ld:TrafficFlowObserved:V-17", "type": "TrafficFlowObserved",
        "intensity": {"type": "Property", "value": 12, "observedAt": "2024-05-01T05:00:00.000Z"},
        "averageVehicleSpeed": {"type": "Property", "value": 47.5, "unitCode": "KMH",
                                "observedAt": "2024-05-01T05:00:00.000Z"},
        "dateObserved": {"type": "Property", "value": "2024-05-01T05:00:00.000Z",
                         "observedAt": "2024-05-01T05:00:00.000Z"}}
    no_time = observations(GROUP, "city/jung/vds/V-1", b"st|ok", NOW)
    assert no_time.observations[0].observed_at == "2024-05-01T05:00:00.000Z"  # received


@pytest.mark.parametrize("topic,payload,reason", [
    ("city/j/vds/V1", b"{broken", "payload is not JSON"),
    ("city/j/vds/V1", b"n|12|v", "payload is not key|value pairs"),
    ("city/j/vds/V1", b'{"v": {"value": 30, "unitCode": "HM"}}', "v: unit 'HM', expected 'KMH'"),
    ("city/j/vds/V1", b"v|400", "v '400' is out of range 0..250"),
    ("city/j/vds/V1", b"n|many", "n 'many' is not a number"),
    ("city/j/vds/V1", b"rain|1", "unknown attribute key 'rain'"),
    ("city/j/vds/V1", b"n|1|ts|yesterday", "time 'yesterday' is not ISO 8601"),
    ("city/j/vds/V1", b"n|1|ts|2024-05-01T14:00:00", "has no time zone"),
    ("city/j/vds/V1", b"n|" + b"1" * 300, "larger than 200"),
    ("city/j/vds/V1", b"\xff\xfe", "not UTF-8"),
    ("city/j/vds/V%201", b"n|1", "cannot be part of an entity id"),
    ("city/j/vds/V1", b"{}", "no attribute"),
])
def test_mqtt_bad_messages_say_why(topic: str, payload: bytes, reason: str) -> None:
    with pytest.raises(RecordError) as exc:
        observations(GROUP, topic, payload, NOW)
    assert reason in exc.value.reason
