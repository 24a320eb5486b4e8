"""Entity builders and write functions for the contract tests (internal entity form)."""

from __future__ import annotations

import copy
import math
from typing import Any

from dosi.errors import AlreadyExistsError, ResourceNotFoundError
from dosi.storage.base import Entity, Store, WriteFn, WriteOp

EX = "https://example.org/"
NGSILD = "https://uri.etsi.org/ngsi-ld/"
LOCATION = NGSILD + "location"
OBSERVATION_SPACE = NGSILD + "observationSpace"
SENSOR, AREA, ROAD = EX + "Sensor", EX + "Area", EX + "Road"
TEMP, NAME, ON, REF = EX + "temperature", EX + "name", EX + "on", EX + "refDevice"

# Seoul City Hall and places around it (lon, lat)
CITY_HALL = (126.9780, 37.5665)


def ts(i: int) -> str:
    """Distinct, increasing createdAt values."""
    return f"2026-01-01T00:{i // 60:02d}:{i % 60:02d}.000Z"


def prop(value: Any, **extra: Any) -> list[dict[str, Any]]:
    return [{"type": "Property", "value": value, **extra}]


def point(lon: float, lat: float) -> dict[str, Any]:
    return {"type": "Point", "coordinates": [lon, lat]}


def geo(geometry: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"type": "GeoProperty", "value": geometry}]


def entity(
    eid: str,
    types: str | list[str] = SENSOR,
    i: int = 0,
    *,
    scope: list[str] | None = None,
    **attrs: list[dict[str, Any]],
) -> Entity:
    """``attrs`` keys are short names under EX, or ``location``."""
    e: Entity = {
        "id": eid if ":" in eid else f"urn:ngsi-ld:Thing:{eid}",
        "type": [types] if isinstance(types, str) else types,
        "createdAt": ts(i),
        "modifiedAt": ts(i),
        "attrs": {(LOCATION if k == "location" else EX + k): v for k, v in attrs.items()},
    }
    if scope:
        e["scope"] = scope
    return e


def urn(name: str) -> str:
    return f"urn:ngsi-ld:Thing:{name}"


def create(e: Entity) -> WriteFn:
    def fn(cur: Entity | None) -> Entity:
        if cur is not None:
            raise AlreadyExistsError(f"{e['id']} exists")
        return e

    return fn


def update(**attrs: list[dict[str, Any]]) -> WriteFn:
    def fn(cur: Entity | None) -> Entity:
        if cur is None:
            raise ResourceNotFoundError("missing")
        new = copy.deepcopy(cur)
        for k, v in attrs.items():
            new["attrs"][EX + k] = v
        new["modifiedAt"] = "2026-06-01T00:00:00.000Z"
        return new

    return fn


def delete(cur: Entity | None) -> None:
    if cur is None:
        raise ResourceNotFoundError("missing")


async def put(store: Store, *entities: Entity, tenant: str = "") -> None:
    results = await store.write(tenant, [WriteOp(e["id"], create(e)) for e in entities])
    assert all(r.ok for r in results), [r.error for r in results if not r.ok]


def haversine_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    r = 6_371_008.8
    p1, p2 = math.radians(a[1]), math.radians(b[1])
    dp, dl = p2 - p1, math.radians(b[0] - a[0])
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * r * math.asin(math.sqrt(h))


def polygon(minx: float, miny: float, maxx: float, maxy: float) -> dict[str, Any]:
    return {
        "type": "Polygon",
        "coordinates": [[[minx, miny], [maxx, miny], [maxx, maxy], [minx, maxy], [minx, miny]]],
    }


def rel(obj: str) -> list[dict[str, Any]]:
    return [{"type": "Relationship", "object": obj}]


CAMERA = EX + "Camera"
PLACES = {  # name -> (lon, lat)
    "hall": CITY_HALL,
    "plaza": (126.9769, 37.5658),
    "deoksu": (126.9752, 37.5658),
    "gwanghwamun": (126.9769, 37.5759),
    "namsan": (126.9882, 37.5512),
    "gangnam": (127.0276, 37.4979),
    "busan": (129.0756, 35.1796),
}


def city() -> list[Entity]:
    """Ten entities around Seoul City Hall, in createdAt order."""
    p = {k: point(*v) for k, v in PLACES.items()}
    out = [
        entity(
            "hall",
            SENSOR,
            1,
            scope=["/Seoul/Jung-gu/Taepyeong-ro"],
            temperature=prop(21.5, unitCode="CEL"),
            name=prop("City Hall"),
            on=prop(True),
            refDevice=rel("urn:ngsi-ld:Device:1"),
            location=geo(p["hall"]),
        ),
        entity(
            "plaza",
            SENSOR,
            2,
            scope=["/Seoul/Jung-gu"],
            temperature=prop(25),
            name=prop("Seoul Plaza"),
            refDevice=rel("urn:ngsi-ld:Device:2"),
            location=geo(p["plaza"]),
        ),
        entity(
            "deoksu",
            [SENSOR, CAMERA],
            3,
            scope=["/Seoul/Jung-gu/Jeong-dong"],
            temperature=prop(18),
            name=prop("Deoksugung"),
            location=geo(p["deoksu"]),
        ),
        entity(
            "gwanghwamun",
            SENSOR,
            4,
            scope=["/Seoul/Jongno-gu"],
            temperature=prop(30),
            name=prop("Gwanghwamun"),
            location=geo(p["gwanghwamun"]),
        ),
        entity(
            "namsan",
            SENSOR,
            5,
            scope=["/Seoul/Yongsan-gu", "/Seoul/Jung-gu"],
            temperature=prop(15.5),
            name=prop("N Seoul Tower"),
            location=geo(p["namsan"]),
        ),
        entity(
            "gangnam",
            SENSOR,
            6,
            scope=["/Seoul/Gangnam-gu"],
            temperature=prop("hot"),
            name=prop("Gangnam"),
            location=geo(p["gangnam"]),
        ),
        entity(
            "busan",
            SENSOR,
            7,
            scope=["/Busan"],
            temperature=prop(27),
            name=prop("Busan"),
            location=geo(p["busan"]),
        ),
        entity(
            "plazaArea",
            AREA,
            8,
            name=prop("Plaza lawn"),
            location=geo(polygon(126.9765, 37.5652, 126.9775, 37.5662)),
        ),
        entity(
            "sejongRoad",
            ROAD,
            9,
            name=prop("Sejong-daero"),
            location=geo(
                {"type": "LineString", "coordinates": [[126.9769, 37.5700], [126.9769, 37.5760]]}
            ),
        ),
        entity("nowhere", SENSOR, 10, temperature=prop(20), name=prop("Nowhere"), on=prop(False)),
    ]
    # the road also observes a square around Gwanghwamun
    road = out[8]
    road["attrs"][OBSERVATION_SPACE] = geo(polygon(126.975, 37.574, 126.979, 37.578))
    return out
