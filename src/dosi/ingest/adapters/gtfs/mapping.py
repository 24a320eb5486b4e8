"""GTFS static rows -> Smart Data Models UrbanMobility ``Gtfs*`` entities.

A record is one row of one feed file (``meta["file"]``), its payload the row as a
JSON object of the file's header -> text. Ids are ``urn:ngsi-ld:<Type>:<feed>:<gtfs id>``
so several feeds can live side by side; references between files become Relationships.
Files without a bundled model (calendar, shapes, frequencies...) are read for
references only and not stored as entities.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from dosi.ingest.errors import RecordError, json_object
from dosi.ingest.records import RawRecord

CONTEXT = ["https://smart-data-models.github.io/dataModel.UrbanMobility/context.jsonld"]
DATASET = "gtfs"
EXTRA = "(fields past the header)"
_TIME = re.compile(r"^\d{1,2}:[0-5]\d:[0-5]\d$")
_SAFE = re.compile(r"[^A-Za-z0-9._~:@!$&'()*+,;=-]")


def _ref(kind: str, feed: str, gtfs_id: str) -> str:
    return f"urn:ngsi-ld:{kind}:{feed}:{_SAFE.sub(lambda m: f'%{ord(m.group()):02X}', gtfs_id)}"


def _prop(value: Any) -> dict[str, Any]:
    return {"type": "Property", "value": value}


def _rel(obj: str) -> dict[str, Any]:
    return {"type": "Relationship", "object": obj}


def _need(row: dict[str, str], field: str) -> str:
    value = (row.get(field) or "").strip()
    if not value:
        raise RecordError(f"{field} is missing")
    return value


def _int(row: dict[str, str], field: str, lo: int, hi: int) -> int | None:
    raw = (row.get(field) or "").strip()
    if not raw:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise RecordError(f"{field} {raw!r} is not an integer") from None
    if not lo <= value <= hi:
        raise RecordError(f"{field} {raw!r} is out of range {lo}..{hi}")
    return value


def _code(row: dict[str, str], field: str, lo: int, hi: int) -> str | None:
    """An enumerated GTFS code, as text (the Smart Data Models enums are strings)."""
    value = _int(row, field, lo, hi)
    return None if value is None else str(value)


def _float(row: dict[str, str], field: str, lo: float, hi: float) -> float:
    raw = _need(row, field)
    try:
        value = float(raw)
    except ValueError:
        raise RecordError(f"{field} {raw!r} is not a number") from None
    if not lo <= value <= hi:
        raise RecordError(f"{field} {raw!r} is out of range {lo:g}..{hi:g}")
    return value


def _put(entity: dict[str, Any], attr: str, value: Any) -> None:
    if value not in (None, ""):
        entity[attr] = _prop(value)


def _agency(feed: str, row: dict[str, str]) -> dict[str, Any]:
    agency_id = (row.get("agency_id") or "").strip() or "default"
    e = {"id": _ref("GtfsAgency", feed, agency_id), "type": "GtfsAgency",
         "agencyName": _prop(_need(row, "agency_name")), "source": _prop(_need(row, "agency_url")),
         "timezone": _prop(_need(row, "agency_timezone"))}
    _put(e, "page", row.get("agency_url"))
    _put(e, "language", row.get("agency_lang"))
    _put(e, "phone", row.get("agency_phone"))
    return e


def _stop(feed: str, row: dict[str, str]) -> dict[str, Any]:
    lat = _float(row, "stop_lat", -90, 90)
    lon = _float(row, "stop_lon", -180, 180)
    e = {"id": _ref("GtfsStop", feed, _need(row, "stop_id")), "type": "GtfsStop",
         "name": _prop(_need(row, "stop_name")),
         "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [lon, lat]}}}
    _put(e, "code", row.get("stop_code"))
    _put(e, "description", row.get("stop_desc"))
    _put(e, "zoneCode", row.get("zone_id"))
    _put(e, "page", row.get("stop_url"))
    _put(e, "locationType", _int(row, "location_type", 0, 4))
    _put(e, "wheelChairAccessible", _code(row, "wheelchair_boarding", 0, 2))
    if (row.get("parent_station") or "").strip():
        e["hasParentStation"] = _rel(_ref("GtfsStation", feed, row["parent_station"].strip()))
    return e


def _route(feed: str, row: dict[str, str]) -> dict[str, Any]:
    if not (row.get("route_short_name") or row.get("route_long_name") or "").strip():
        raise RecordError("route_short_name and route_long_name are both missing")
    e = {"id": _ref("GtfsRoute", feed, _need(row, "route_id")), "type": "GtfsRoute",
         "routeType": _prop(_code(row, "route_type", 0, 1702))}
    if e["routeType"]["value"] is None:
        raise RecordError("route_type is missing")
    _put(e, "shortName", row.get("route_short_name"))
    _put(e, "name", row.get("route_long_name"))
    _put(e, "description", row.get("route_desc"))
    _put(e, "page", row.get("route_url"))
    _put(e, "routeColor", row.get("route_color"))
    _put(e, "routeTextColor", row.get("route_text_color"))
    _put(e, "routeSortOrder", _int(row, "route_sort_order", 0, 10**9))
    e["operatedBy"] = _rel(_ref("GtfsAgency", feed, (row.get("agency_id") or "").strip() or "default"))
    return e


def _trip(feed: str, row: dict[str, str]) -> dict[str, Any]:
    e = {"id": _ref("GtfsTrip", feed, _need(row, "trip_id")), "type": "GtfsTrip",
         "hasRoute": _rel(_ref("GtfsRoute", feed, _need(row, "route_id"))),
         "hasService": _rel(_ref("GtfsService", feed, _need(row, "service_id")))}
    _put(e, "headSign", row.get("trip_headsign"))
    _put(e, "shortName", row.get("trip_short_name"))
    _put(e, "direction", _int(row, "direction_id", 0, 1))
    _put(e, "block", row.get("block_id"))
    _put(e, "wheelChairAccessible", _int(row, "wheelchair_accessible", 0, 2))
    _put(e, "bikesAllowed", _int(row, "bikes_allowed", 0, 2))
    if (row.get("shape_id") or "").strip():
        e["hasShape"] = _rel(_ref("GtfsShape", feed, row["shape_id"].strip()))
    return e


def _time(row: dict[str, str], field: str) -> str:
    value = _need(row, field)
    if not _TIME.match(value):
        raise RecordError(f"{field} {value!r} is not a GTFS time HH:MM:SS")
    return value if len(value) == 8 else "0" + value


def _stop_time(feed: str, row: dict[str, str]) -> dict[str, Any]:
    trip, seq = _need(row, "trip_id"), _int(row, "stop_sequence", 0, 10**6)
    if seq is None:
        raise RecordError("stop_sequence is missing")
    e = {"id": _ref("GtfsStopTime", feed, f"{trip}_{seq}"), "type": "GtfsStopTime",
         "hasTrip": _rel(_ref("GtfsTrip", feed, trip)),
         "hasStop": _rel(_ref("GtfsStop", feed, _need(row, "stop_id"))),
         "arrivalTime": _prop(_time(row, "arrival_time")),
         "departureTime": _prop(_time(row, "departure_time")),
         "stopSequence": _prop(seq)}
    _put(e, "stopHeadsign", row.get("stop_headsign"))
    _put(e, "pickupType", _code(row, "pickup_type", 0, 3))
    _put(e, "dropOffType", _code(row, "drop_off_type", 0, 3))
    _put(e, "timepoint", _code(row, "timepoint", 0, 1))
    if (row.get("shape_dist_traveled") or "").strip():
        e["distanceTravelled"] = _prop(_float(row, "shape_dist_traveled", 0, 1e7))
    return e


FILES: dict[str, Callable[[str, dict[str, str]], dict[str, Any]]] = {
    "agency.txt": _agency,
    "stops.txt": _stop,
    "routes.txt": _route,
    "trips.txt": _trip,
    "stop_times.txt": _stop_time,
}
"""The feed files that become entities, in the order they are imported."""


def mapper(record: RawRecord) -> list[dict[str, Any]]:
    """One row of one feed file -> one entity."""
    file, feed = record.meta.get("file"), record.meta.get("feed")
    if record.meta.get("kind") == "feed":
        raise RecordError(record.meta.get("error") or "feed cannot be read")
    if file not in FILES or not feed:
        raise RecordError(f"unknown GTFS file {file!r}")
    row = json_object(record.payload, "row")
    if EXTRA in row:
        raise RecordError(f"row has {len(row[EXTRA])} more field(s) than the header of {file}")
    entity = FILES[file](feed, row)
    entity["@context"] = CONTEXT
    return [entity]
