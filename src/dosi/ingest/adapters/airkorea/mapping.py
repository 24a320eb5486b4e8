"""AirKorea real-time measurements -> Smart Data Models ``AirQualityObserved``.

One entity per station (``urn:ngsi-ld:AirQualityObserved:KR-AirKorea-<romanized station>``), its
history growing hour by hour. Field names are those of ArpltnInforInqireSvc
(getMsrstnAcctoRltmMesureInfo, getCtprvnRltmMesureDnsty): ``so2Value`` ... ``pm25Value``
as text, ``-`` when missing, ``*Grade`` 1-4 (good..very unhealthy), ``*Flag`` the
station's communication or inspection state, ``dataTime`` in KST.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from dosi.ingest.adapters.opendata import item_of, kst_to_utc, number
from dosi.ingest.errors import RecordError
from dosi.ingest.records import RawRecord

CONTEXT = ["https://smart-data-models.github.io/dataModel.Environment/context.jsonld"]
DATASET = "airkorea"

# field prefix -> (attribute, UN/CEFACT unit code, unit name, plausible upper bound)
POLLUTANTS = {
    "so2": ("so2", "59", "ppm", 2.0),
    "co": ("co", "59", "ppm", 50.0),
    "o3": ("o3", "59", "ppm", 1.0),
    "no2": ("no2", "59", "ppm", 2.0),
    "pm10": ("pm10", "GQ", "µg/m³", 2000.0),
    "pm25": ("pm25", "GQ", "µg/m³", 1000.0),
}
GRADES = {"1": "good", "2": "moderate", "3": "unhealthy", "4": "veryUnhealthy"}
FLAGS = {
    "통신장애": "communicationFailure",
    "점검및교정": "inspectionAndCalibration",
    "장비점검": "equipmentCheck",
    "자료이상": "abnormalData",
}


@lru_cache(maxsize=8)
def stations(path: str | None = None) -> dict[str, dict[str, Any]]:
    """A station list by ``stationName``: the bundled one, or a file of the same shape
    (``{"stations": [{"stationName", "ref", "addr", "lat", "lon"}, ...]}``)."""
    src = Path(path) if path else resources.files(__package__).joinpath("stations.json")
    return {s["stationName"]: s for s in json.loads(src.read_text(encoding="utf-8"))["stations"]}


def _grade(item: dict[str, Any], field: str) -> str | None:
    raw = item.get(field)
    if raw is None or str(raw).strip() in ("", "-"):
        return None
    if str(raw).strip() not in GRADES:
        raise RecordError(f"{field} {raw!r} is not a grade 1-4")
    return GRADES[str(raw).strip()]


def _flag(item: dict[str, Any], field: str) -> str | None:
    raw = item.get(field)
    if raw is None or not str(raw).strip():
        return None
    return FLAGS.get(str(raw).strip(), str(raw).strip())


def map_item(item: dict[str, Any], station_name: str | None = None,
             table: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """One measurement row -> one AirQualityObserved entity (normalized, compacted)."""
    name = item.get("stationName") or station_name
    if not name:
        raise RecordError("item has no stationName")
    station = (table if table is not None else stations()).get(name)
    if station is None:
        raise RecordError(f"unknown stationName {name!r}")
    if not item.get("dataTime"):
        raise RecordError("item has no dataTime")
    observed = kst_to_utc(str(item["dataTime"]), "%Y-%m-%d %H:%M")
    entity: dict[str, Any] = {
        "id": f"urn:ngsi-ld:AirQualityObserved:KR-AirKorea-{station['ref']}",
        "type": "AirQualityObserved",
        "dateObserved": {"type": "Property", "value": observed},
        "location": {"type": "GeoProperty",
                     "value": {"type": "Point", "coordinates": [station["lon"], station["lat"]]}},
        "name": {"type": "Property", "value": name},
        "address": {"type": "Property", "value": {
            "addressCountry": "KR", "addressRegion": item.get("sidoName") or "서울",
            "streetAddress": station["addr"]}},
        "typeofLocation": {"type": "Property", "value": "outdoor"},
        "dataProvider": {"type": "Property", "value": "AirKorea (한국환경공단)"},
        "source": {"type": "Property", "value": "https://www.airkorea.or.kr"},
        "@context": CONTEXT,
    }
    flags: dict[str, str] = {}
    for prefix, (attr, unit, unit_name, upper) in POLLUTANTS.items():
        value = number(item, f"{prefix}Value", 0.0, upper, unit_name)
        grade = _grade(item, f"{prefix}Grade")
        flag = _flag(item, f"{prefix}Flag")
        if flag:
            flags[attr] = flag
        if value is None:
            continue
        inst: dict[str, Any] = {"type": "Property", "value": value, "unitCode": unit,
                                "observedAt": observed}
        if grade:
            inst["level"] = {"type": "Property", "value": grade}
        if flag:
            inst["flag"] = {"type": "Property", "value": flag}
        entity[attr] = inst
    khai = number(item, "khaiValue", 0.0, 500.0, "(index)")
    if khai is not None:
        entity["airQualityIndex"] = {"type": "Property", "value": khai, "observedAt": observed}
    level = _grade(item, "khaiGrade")
    if level:
        entity["airQualityLevel"] = {"type": "Property", "value": level, "observedAt": observed}
    if flags:
        entity["measurementFlags"] = {"type": "Property", "value": flags, "observedAt": observed}
    return entity


def mapper_for(stations_file: str | None = None) -> Any:
    """The dataset's mapper (ingest contract): one item record -> one entity."""
    table = stations(stations_file)

    def mapper(record: RawRecord) -> list[dict[str, Any]]:
        return [map_item(item_of(record), record.meta.get("stationName"), table)]

    return mapper


mapper = mapper_for()
