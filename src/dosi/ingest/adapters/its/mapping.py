"""National ITS ``trafficInfo`` link speeds -> Smart Data Models ``TrafficFlowObserved``.

One entity per standard node-link link (``urn:ngsi-ld:TrafficFlowObserved:KR-ITS-<linkId>``)
updated every 5 minutes; ``refRoadSegment`` names the link as a RoadSegment. Link
geometry comes from the bundled node-link extract (EPSG:5186, via ``dosi.ingest.crs``).
ITS rows: ``linkId``, ``roadName``, ``speed`` (km/h), ``travelTime`` (s), ``createdDate``
(``YYYYMMDDHHMMSS`` KST, the end of the 5-minute interval).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from dosi.ingest.adapters.opendata import item_of, kst_to_utc, number
from dosi.ingest.crs import to_wgs84
from dosi.ingest.errors import RecordError
from dosi.ingest.records import RawRecord

CONTEXT = ["https://smart-data-models.github.io/dataModel.Transportation/context.jsonld"]
DATASET = "its-traffic"
INTERVAL = timedelta(minutes=5)


@lru_cache(maxsize=8)
def links(path: str | None = None) -> dict[str, dict[str, Any]]:
    """Links by linkId, each with its WGS84 LineString: the bundled extract, or a file of
    the same shape (``crs``, ``nodes`` {id: {name, x, y}}, ``links`` [{linkId, roadName,
    startNodeId, endNodeId}])."""
    src = Path(path) if path else resources.files(__package__).joinpath("links.json")
    doc = json.loads(src.read_text("utf-8"))
    nodes, crs = doc["nodes"], doc["crs"]
    out = {}
    for link in doc["links"]:
        ends = [nodes[link["startNodeId"]], nodes[link["endNodeId"]]]
        coords = [list(to_wgs84(n["x"], n["y"], crs)) for n in ends]
        out[link["linkId"]] = {**link, "line": {"type": "LineString", "coordinates": coords},
                               "from": ends[0]["name"], "to": ends[1]["name"]}
    return out


def map_item(item: dict[str, Any], table: dict[str, dict[str, Any]] | None = None
             ) -> dict[str, Any]:
    link_id = str(item.get("linkId") or "").strip()
    if not link_id:
        raise RecordError("item has no linkId")
    link = (table if table is not None else links()).get(link_id)
    if link is None:
        raise RecordError(f"unknown linkId {link_id!r} (not in the bundled node-link extract)")
    created = str(item.get("createdDate") or "")
    observed_to = kst_to_utc(created, "%Y%m%d%H%M%S")
    start = datetime.strptime(observed_to, "%Y-%m-%dT%H:%M:%S.000Z") - INTERVAL
    observed_from = start.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    speed = number(item, "speed", 0.0, 250.0, "km/h")
    travel = number(item, "travelTime", 0.0, 86400.0, "s")
    if speed is None and travel is None:
        raise RecordError(f"link {link_id}: neither speed nor travelTime")
    entity: dict[str, Any] = {
        "id": f"urn:ngsi-ld:TrafficFlowObserved:KR-ITS-{link_id}",
        "type": "TrafficFlowObserved",
        "dateObserved": {"type": "Property", "value": observed_to},
        "dateObservedFrom": {"type": "Property", "value": observed_from},
        "dateObservedTo": {"type": "Property", "value": observed_to},
        "location": {"type": "GeoProperty", "value": link["line"]},
        "name": {"type": "Property", "value": f"{item.get('roadName') or link['roadName']} "
                                              f"{link['from']}→{link['to']}"},
        "refRoadSegment": {"type": "Relationship",
                           "object": f"urn:ngsi-ld:RoadSegment:KR-MOCT-{link_id}"},
        "dataProvider": {"type": "Property", "value": "국가교통정보센터 (National ITS Center)"},
        "source": {"type": "Property", "value": "https://www.its.go.kr/opendata"},
        "@context": CONTEXT,
    }
    if speed is not None:
        entity["averageVehicleSpeed"] = {"type": "Property", "value": speed, "unitCode": "KMH",
                                         "observedAt": observed_to}
    if travel is not None:
        entity["travelTime"] = {"type": "Property", "value": travel, "unitCode": "SEC",
                                "observedAt": observed_to}
    return entity


def mapper_for(links_file: str | None = None) -> Any:
    table = links(links_file)

    def mapper(record: RawRecord) -> list[dict[str, Any]]:
        return [map_item(item_of(record), table)]

    return mapper


mapper = mapper_for()
