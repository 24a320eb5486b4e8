"""KMA ultra-short-term nowcast (getUltraSrtNcst) -> Smart Data Models ``WeatherObserved``.

A response answers one grid cell at one base time with one row per category (``T1H``
temperature, ``RN1`` 1-hour rain, ``REH`` humidity, ``WSD``/``VEC`` wind, ``PTY``
precipitation type, ``UUU``/``VVV`` wind components); it becomes one entity per cell,
``urn:ngsi-ld:WeatherObserved:KR-KMA-<nx>-<ny>``, placed at the cell's centre
(``kma.grid``: the KMA Lambert conformal grid back to WGS84).
"""

from __future__ import annotations

from typing import Any

from dosi.ingest.adapters.kma.grid import to_latlon
from dosi.ingest.adapters.opendata import items_of, kst_to_utc, number, parse_envelope
from dosi.ingest.errors import RecordError
from dosi.ingest.records import RawRecord

CONTEXT = ["https://smart-data-models.github.io/dataModel.Weather/context.jsonld"]
DATASET = "kma-nowcast"

# category -> (attribute, unit code, unit name, low, high, scale)
CATEGORIES: dict[str, tuple[str, str, str, float, float, float]] = {
    "T1H": ("temperature", "CEL", "°C", -60.0, 60.0, 1.0),
    "RN1": ("precipitation", "MMT", "mm", 0.0, 500.0, 1.0),
    "REH": ("relativeHumidity", "C62", "%", 0.0, 100.0, 0.01),
    "WSD": ("windSpeed", "MTS", "m/s", 0.0, 100.0, 1.0),
    "VEC": ("windDirection", "DD", "deg", 0.0, 360.0, 1.0),
    "UUU": ("eastwardWindSpeed", "MTS", "m/s", -100.0, 100.0, 1.0),
    "VVV": ("northwardWindSpeed", "MTS", "m/s", -100.0, 100.0, 1.0),
}
PTY = {"0": "none", "1": "rain", "2": "rainSnow", "3": "snow", "4": "shower",
       "5": "drizzle", "6": "drizzleSnowFlurries", "7": "snowFlurries"}


def map_items(items: list[Any]) -> dict[str, Any]:
    """The rows of one response -> one WeatherObserved entity."""
    if not items:
        raise RecordError("response has no items")
    first = items[0] if isinstance(items[0], dict) else {}
    try:
        nx, ny = int(first.get("nx")), int(first.get("ny"))
        lat, lon = to_latlon(nx, ny)
    except (TypeError, ValueError) as exc:
        raise RecordError(f"bad grid cell nx={first.get('nx')!r} ny={first.get('ny')!r}: {exc}"
                          ) from None
    when = f"{first.get('baseDate')}{first.get('baseTime')}"
    observed = kst_to_utc(when, "%Y%m%d%H%M")
    entity: dict[str, Any] = {
        "id": f"urn:ngsi-ld:WeatherObserved:KR-KMA-{nx}-{ny}",
        "type": "WeatherObserved",
        "dateObserved": {"type": "Property", "value": observed},
        "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [lon, lat]}},
        "name": {"type": "Property", "value": f"KMA grid {nx},{ny}"},
        "dataProvider": {"type": "Property", "value": "기상청 (Korea Meteorological Administration)"},
        "source": {"type": "Property", "value": "https://www.data.go.kr/data/15084084/openapi.do"},
        "@context": CONTEXT,
    }
    for row in items:
        if not isinstance(row, dict):
            raise RecordError("item is not a JSON object")
        if (row.get("nx"), row.get("ny")) != (first.get("nx"), first.get("ny")) or \
                f"{row.get('baseDate')}{row.get('baseTime')}" != when:
            raise RecordError("items of one response name different cells or times")
        cat = str(row.get("category"))
        if cat == "PTY":
            code = str(row.get("obsrValue")).strip()
            if code not in PTY:
                raise RecordError(f"PTY {code!r} is not a precipitation type code 0-7")
            entity["weatherType"] = {"type": "Property", "value": PTY[code], "observedAt": observed}
            continue
        if cat not in CATEGORIES:
            raise RecordError(f"unknown category {cat!r}")
        attr, unit, unit_name, lo, hi, scale = CATEGORIES[cat]
        if cat == "RN1" and str(row.get("obsrValue")).strip() == "강수없음":
            row = {**row, "obsrValue": "0"}
        try:
            value = number(row, "obsrValue", lo, hi, unit_name)
        except RecordError as exc:
            raise RecordError(f"{cat} {exc.reason}") from None
        if value is None or value in (-998.9, 900.0):  # the API's missing marks
            continue
        if scale != 1.0:
            value = round(value * scale, 4)
        entity[attr] = {"type": "Property", "value": value, "unitCode": unit,
                        "observedAt": observed}
    return entity


def mapper(record: RawRecord) -> list[dict[str, Any]]:
    """A whole getUltraSrtNcst response (one grid cell) -> one entity."""
    return [map_items(items_of(parse_envelope(record.payload)))]
