"""Declarative mappings, coordinates and model validation, without I/O."""

from __future__ import annotations

import json
import socket
from datetime import UTC, datetime
from typing import Any

import pytest

from dosi.ingest import crs
from dosi.ingest.errors import MappingError, RecordError
from dosi.ingest.mapping import Mapping, load_mapping_text, parse_time
from dosi.ingest.models import ModelRegistry, compile_custom, key_values
from dosi.ingest.records import RawRecord

KST = "Asia/Seoul"


def rec(doc: Any) -> RawRecord:
    raw = doc if isinstance(doc, bytes) else json.dumps(doc, ensure_ascii=False).encode()
    return RawRecord("d", "s", raw, datetime.now(UTC))


def test_korean_times_to_utc() -> None:
    from zoneinfo import ZoneInfo

    z = ZoneInfo(KST)
    assert parse_time("2026-11-25 14:00", "%Y-%m-%d %H:%M", z) == "2026-11-25T05:00:00.000Z"
    # AirKorea writes the last hour of a day as 24:00
    assert parse_time("2026-11-25 24:00", "%Y-%m-%d %H:%M", z) == "2026-11-25T15:00:00.000Z"
    assert parse_time("202611251400", "%Y%m%d%H%M", z) == "2026-11-25T05:00:00.000Z"
    assert parse_time("2026-11-25T14:00:00+09:00", None, UTC) == \
        "2026-11-25T05:00:00.000Z"
    assert parse_time(1795582800000, "epoch_ms", z) == "2026-11-25T05:00:00.000Z"
    with pytest.raises(RecordError, match="does not match"):
        parse_time("25/11/2026", "%Y-%m-%d %H:%M", z)


def test_mapping_yaml_to_entity() -> None:
    m = Mapping(load_mapping_text("""
type: TrafficFlowObserved
id: "urn:ngsi-ld:TrafficFlowObserved:{linkId}"
context: https://smart-data-models.github.io/dataModel.Transportation/context.jsonld
records: response.body.items
observedAt: {field: createdDate, format: "%Y%m%d%H%M%S", timezone: Asia/Seoul}
missing: ["-", ""]
location: {x: x, y: y, crs: "EPSG:5186"}
attributes:
  speed: {name: averageVehicleSpeed, type: number, unitCode: KMH}
  travelTime: {name: averageHeadwayTime, type: number, unitCode: SEC}
  roadName: {name: name, type: string}
  linkId: {name: refRoadSegment, kind: Relationship, object: "urn:ngsi-ld:RoadSegment:{linkId}"}
"""))
    doc = {"response": {"body": {"items": [
        {"linkId": "1000001", "speed": "42.5", "travelTime": "-", "roadName": "세종대로",
         "createdDate": "20261125140500", "x": "198000", "y": "551900"},
        {"linkId": "1000002", "speed": "30", "travelTime": "12", "roadName": "",
         "createdDate": "20261125140500", "x": "-", "y": "-"}]}}}
    a, b = m(rec(doc))
    assert a["id"] == "urn:ngsi-ld:TrafficFlowObserved:1000001"
    assert a["averageVehicleSpeed"] == {"type": "Property", "value": 42.5, "unitCode": "KMH",
                                        "observedAt": "2026-11-25T05:05:00.000Z"}
    assert "averageHeadwayTime" not in a  # "-" is missing, not zero
    assert a["refRoadSegment"] == {"type": "Relationship",
                                   "object": "urn:ngsi-ld:RoadSegment:1000001"}
    assert a["location"]["value"]["type"] == "Point"
    assert a["@context"] == [
        "https://smart-data-models.github.io/dataModel.Transportation/context.jsonld"]
    assert "location" not in b and "name" not in b and b["averageHeadwayTime"]["value"] == 12


@pytest.mark.parametrize("payload, reason", [
    (b"{nope", "payload is not JSON"),
    ({"code": "1", "v": "3,5x"}, "v '3,5x' is not a number"),
    ({"v": "3"}, "id field 'code' is missing"),
    ({"code": "1", "v": "3", "n": "2.5"}, "n '2.5' is not an integer"),
    ({"code": "1", "v": "3", "u": "ppm"}, "v unit 'ppm' is not one of"),
    ({"code": "1", "v": "3", "x": "abc", "y": "1"}, "location"),
    ([1], "a record is a JSON object"),
])
def test_bad_records_say_why(payload: Any, reason: str) -> None:
    m = Mapping({"type": "T", "id": "urn:x:{code}", "location": {"x": "x", "y": "y"},
                 "attributes": {"v": {"type": "number", "unitField": "u",
                                      "units": {"ppb": "61"}},
                                "n": {"type": "integer"}}})
    payload = {**payload, "u": payload.get("u", "ppb")} if isinstance(payload, dict) else payload
    with pytest.raises(RecordError) as err:
        m(rec(payload))
    assert reason in err.value.reason


@pytest.mark.parametrize("spec, needle", [
    ({"id": "urn:x:{a}"}, "'type'"),
    ({"type": "T", "id": "urn:x:{a}", "attributes": {"a": {"kind": "Prop"}}}, "kind"),
    ({"type": "T", "id": "urn:x:{a}", "attributes": {"a": {"type": "float"}}}, "type"),
    ({"type": "T", "id": "urn:x:{a}", "crs": "EPSG:2097"}, "unsupported CRS"),
    ({"type": "T", "id": "urn:x:{a}", "observedAt": {"field": "t", "timezone": "Mars/Base"}},
     "time zone"),
    ({"type": "T", "id": "urn:x:{a}", "colour": "red"}, "unknown mapping keys"),
])
def test_bad_mappings_are_refused(spec: dict[str, Any], needle: str) -> None:
    with pytest.raises((MappingError, ValueError), match=needle):
        Mapping(spec)


def test_crs_korean_systems_agree() -> None:
    # Seoul City Hall in the four systems (pyproj forward transforms of 126.9780, 37.5665)
    from pyproj import Transformer

    for epsg in (5186, 5179, 5181):
        fwd = Transformer.from_crs("EPSG:4326", f"EPSG:{epsg}", always_xy=True)
        x, y = fwd.transform(126.9780, 37.5665)
        lon, lat = crs.to_wgs84(x, y, f"EPSG:{epsg}")
        assert abs(lon - 126.9780) < 1e-6 and abs(lat - 37.5665) < 1e-6
    assert crs.to_wgs84(126.9780, 37.5665, 4326) == (126.978, 37.5665)
    with pytest.raises(crs.CrsError):
        crs.to_wgs84(1e12, 1e12, 5186)
    line = crs.transform_geometry({"type": "LineString", "coordinates": [
        [198000, 551900], [198100, 552000]]}, "urn:ogc:def:crs:EPSG::5186")
    assert all(126.9 < c[0] < 127.1 for c in line["coordinates"])


def test_sdm_validation_resolves_refs_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_network(*a: Any, **k: Any) -> Any:
        raise AssertionError("the network was used")

    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(socket.socket, "connect", no_network)
    reg = ModelRegistry()
    e = {"id": "urn:ngsi-ld:AirQualityObserved:1", "type": "AirQualityObserved",
         "dateObserved": {"type": "Property", "value": "2026-11-25T05:00:00Z"},
         "location": {"type": "GeoProperty",
                      "value": {"type": "Point", "coordinates": [126.97, 37.56]}},
         "pm10": {"type": "Property", "value": 31}}
    assert reg.validate(e) == []
    # location's schema comes from common-schema.json through a $ref by its public URL
    bad = {**e, "location": {"type": "GeoProperty", "value": {"type": "Point"}}}
    assert any(p.startswith("location:") for p in reg.validate(bad))
    assert any("pm10" in p for p in reg.validate({**e, "pm10": {"type": "Property",
                                                                 "value": -4}}))
    assert any("required" in p for p in reg.validate({k: v for k, v in e.items()
                                                       if k != "dateObserved"}))


def test_subject_schemas_are_bundled() -> None:
    reg = ModelRegistry()
    w = {"id": "urn:ngsi-ld:WeatherObserved:1", "type": "WeatherObserved",
         "dateObserved": {"type": "Property", "value": "2026-11-25T05:00:00Z"},
         "location": {"type": "GeoProperty",
                      "value": {"type": "Point", "coordinates": [126.97, 37.56]}},
         "relativeHumidity": {"type": "Property", "value": 0.65}}
    assert reg.validate(w) == []
    # weather-schema.json (Weather-Commons): relativeHumidity is a fraction, not percent
    [problem] = reg.validate({**w, "relativeHumidity": {"type": "Property", "value": 65}})
    assert problem.startswith("relativeHumidity:") and "maximum" in problem
    assert not any("weather-schema" in u for u in reg.unresolved)


def test_custom_model_compiles_to_json_schema() -> None:
    model = {"name": "RiverLevel", "attributes": {
        "level": {"valueType": "number", "unitCode": "MTR", "required": True,
                  "minimum": 0, "maximum": 20},
        "status": {"valueType": "string", "enum": ["ok", "fault"]},
        "refDevice": {"kind": "Relationship"}}}
    schema = compile_custom(model)
    assert schema["required"] == ["id", "type", "level"]
    reg = ModelRegistry()
    reg.set_custom([model])
    ok = {"id": "urn:x:1", "type": "RiverLevel",
          "level": {"type": "Property", "value": 3, "unitCode": "MTR"},
          "refDevice": {"type": "Relationship", "object": "urn:x:d"}}
    assert reg.validate(ok) == []
    assert key_values(ok) == {"id": "urn:x:1", "type": "RiverLevel", "level": 3,
                              "refDevice": "urn:x:d"}
    problems = reg.validate({**ok, "level": {"type": "Property", "value": 30,
                                             "unitCode": "CMT"},
                             "status": {"type": "Property", "value": "lost"}})
    assert len(problems) == 3 and any("unitCode 'CMT'" in p for p in problems)
    assert reg.attributes("RiverLevel") == ["level", "status", "refDevice"]


def test_timeliness_late_and_silent() -> None:
    from dosi.ingest.catalog import quality_figures
    from dosi.storage.ingest_base import QualityCounters

    ds = {"id": "d", "updateInterval": "PT1H"}
    now = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)

    def status(last: str | None) -> str:
        q = QualityCounters(accepted=1, last_record_at=last, last_accepted_at=last)
        return str(quality_figures(ds, q, now)["timeliness"]["status"])

    assert status("2026-11-25T11:10:00.000Z") == "ok"
    assert status("2026-11-25T10:00:00.000Z") == "late"  # 2 intervals
    assert status("2026-11-25T08:00:00.000Z") == "silent"  # 4 intervals
    assert status(None) == "silent"  # nothing ever came
    q = QualityCounters(accepted=6, flagged=2, rejected=2, attrs_present=30, attrs_expected=40)
    fig = quality_figures({"id": "d"}, q, now)
    assert fig["validity"]["ratio"] == 0.8 and fig["validity"]["cleanRatio"] == 0.6
    assert fig["completeness"]["ratio"] == 0.75 and fig["timeliness"]["status"] == "unknown"


def test_partial_updates_need_not_carry_the_models_required_attributes() -> None:
    """A device observation updates a few attributes of a provisioned entity: the model's
    required attributes (location...) are not in it, but what it carries is still checked."""
    reg = ModelRegistry()
    update = {"id": "urn:ngsi-ld:OffStreetParking:p1", "type": "OffStreetParking",
              "availableSpotNumber": {"type": "Property", "value": 12}}
    assert any("'location' is a required property" in p for p in reg.validate(update))
    assert reg.validate(update, partial=True) == []
    bad = {**update, "availableSpotNumber": {"type": "Property", "value": -3}}
    assert any("availableSpotNumber" in p for p in reg.validate(bad, partial=True))
