"""The demo district: real places of Seoul Jung-gu read from bundled package data."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

DEFAULT_DISTRICT = "seoul-jung-gu"
EARTH_RADIUS_M = 6_371_008.8


def haversine_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance in metres between two (lon, lat) points."""
    lon1, lat1, lon2, lat2 = map(math.radians, (*a, *b))
    h = (math.sin((lat2 - lat1) / 2) ** 2
         + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2)
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(h))


@dataclass(frozen=True)
class RoadLink:
    link_id: str
    road_name: str
    start: str
    end: str
    coordinates: tuple[tuple[float, float], ...]
    lanes: int
    free_flow_kmh: float

    @property
    def length_m(self) -> float:
        return sum(haversine_m(a, b) for a, b in zip(self.coordinates, self.coordinates[1:]))


@dataclass(frozen=True)
class Place:
    id: str
    name: str
    location: tuple[float, float]
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True)
class District:
    name: str
    timezone: str
    center: tuple[float, float]
    bbox: tuple[float, float, float, float]
    provenance: str
    stations: tuple[Place, ...]
    kma_grid: tuple[dict[str, Any], ...]
    links: tuple[RoadLink, ...]
    car_parks: tuple[Place, ...]
    noise_sensors: tuple[Place, ...]
    bus_stops: tuple[Place, ...]


def _places(items: list[dict[str, Any]], key: str = "id") -> tuple[Place, ...]:
    out = []
    for item in items:
        extra = {k: v for k, v in item.items() if k not in (key, "name", "location")}
        out.append(Place(item[key], item.get("name", item[key]), tuple(item["location"]), extra))
    return tuple(out)


def _adapter_data(package: str, name: str) -> Any:
    return json.loads(resources.files(package).joinpath(name).read_text(encoding="utf-8"))


def _road_links() -> tuple[RoadLink, ...]:
    """The node-link extract bundled with the ITS adapter, in WGS84."""
    from dosi.ingest.crs import to_wgs84

    doc = _adapter_data("dosi.ingest.adapters.its", "links.json")
    nodes = {k: to_wgs84(n["x"], n["y"], doc["crs"]) for k, n in doc["nodes"].items()}
    return tuple(
        RoadLink(link["linkId"], link["roadName"], link["startNodeId"], link["endNodeId"],
                 (nodes[link["startNodeId"]], nodes[link["endNodeId"]]),
                 int(link.get("lanes", 4)), float(link.get("freeFlowKmh", 40)))
        for link in doc["links"]
    )


def _stations() -> tuple[Place, ...]:
    """The AirKorea stations bundled with the AirKorea adapter."""
    doc = _adapter_data("dosi.ingest.adapters.airkorea", "stations.json")
    return tuple(Place(s["stationName"], s["stationName"], (s["lon"], s["lat"]),
                       {"mangName": s["mangName"], "addr": s["addr"], "ref": s.get("ref")})
                 for s in doc["stations"])


@cache
def load_district(name: str = DEFAULT_DISTRICT) -> District:
    """The bundled district ``name`` (a file in dosi/data/demo-city)."""
    path = resources.files("dosi.data").joinpath("demo-city", f"{name}.json")
    if not path.is_file():
        raise ValueError(f"no demo district named {name!r}")
    doc = json.loads(path.read_text(encoding="utf-8"))
    links, stations = _road_links(), _stations()
    d = doc["district"]
    return District(
        name=d["name"], timezone=d["timezone"], center=tuple(d["center"]), bbox=tuple(d["bbox"]),
        provenance=doc["provenance"], stations=stations, kma_grid=tuple(doc["kmaGrid"]),
        links=links, car_parks=_places(doc["carParks"]),
        noise_sensors=_places(doc["noiseSensors"]), bus_stops=_places(doc["busStops"]),
    )
