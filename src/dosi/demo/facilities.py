"""The district's fixed facilities as NGSI-LD entities: car parks and noise meters.

They enter through the ingest pipeline (dataset ``jung-gu-facilities``) like any
operator-supplied registry; the devices then update them over MQTT.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from dosi.demo.district import District

PARKING_CTX = "https://smart-data-models.github.io/dataModel.Parking/context.jsonld"
ENV_CTX = "https://smart-data-models.github.io/dataModel.Environment/context.jsonld"
FACILITIES = "jung-gu-facilities"


def car_park_id(district_key: str, park_id: str) -> str:
    return f"urn:ngsi-ld:OffStreetParking:{district_key}:{park_id}"


def noise_meter_id(district_key: str, sensor_id: str) -> str:
    return f"urn:ngsi-ld:NoiseLevelObserved:{district_key}:{sensor_id}"


def _point(location: tuple[float, float]) -> dict[str, Any]:
    return {"type": "GeoProperty", "value": {"type": "Point", "coordinates": list(location)}}


def facility_entities(district: District, district_key: str,
                      now: datetime | None = None) -> list[dict[str, Any]]:
    now = now or datetime.now(UTC)
    stamp = now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    out: list[dict[str, Any]] = []
    for park in district.car_parks:
        total = park.extra["totalSpotNumber"]
        out.append({
            "id": car_park_id(district_key, park.id), "type": "OffStreetParking",
            "name": {"type": "Property", "value": park.name},
            "location": _point(park.location),
            "totalSpotNumber": {"type": "Property", "value": total},
            "category": {"type": "Property", "value": ["public", "feeCharged"]},
            "@context": [PARKING_CTX],
        })
    for sensor in district.noise_sensors:
        out.append({
            "id": noise_meter_id(district_key, sensor.id), "type": "NoiseLevelObserved",
            "name": {"type": "Property", "value": sensor.name},
            "location": _point(sensor.location),
            "dateObservedFrom": {"type": "Property", "value": stamp},
            "dateObservedTo": {"type": "Property", "value": stamp},
            "@context": [ENV_CTX],
        })
    return out


def device_groups(prefix: str, district_key: str) -> list[dict[str, Any]]:
    """MQTT device groups (dosi.ingest.adapters.mqtt) for the demo's devices."""
    return [
        {"name": "jung-gu-parking", "dataset": "jung-gu-parking",
         "topic": prefix + "/parking/{park}",
         "entity_id": f"urn:ngsi-ld:OffStreetParking:{district_key}:{{park}}",
         "entity_type": "OffStreetParking", "context": [PARKING_CTX], "format": "json",
         "attributes": {"occupied": {"name": "occupiedSpotNumber", "min": 0, "max": 5000},
                        "free": {"name": "availableSpotNumber", "min": 0, "max": 5000}}},
        {"name": "jung-gu-noise", "dataset": "jung-gu-noise",
         "topic": prefix + "/noise/{sensor}",
         "entity_id": f"urn:ngsi-ld:NoiseLevelObserved:{district_key}:{{sensor}}",
         "entity_type": "NoiseLevelObserved", "context": [ENV_CTX], "format": "ul",
         "observed_at": "t", "time_attribute": "dateObservedTo",
         "attributes": {"laeq": {"name": "LAeq", "unitCode": "2N", "min": 20, "max": 140}}},
    ]
