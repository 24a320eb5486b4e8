"""Coordinates of Korean sources to WGS84 (lon, lat as GeoJSON wants them).

Korean open data uses the Korea 2000 (GRS80) transverse Mercator systems: EPSG:5186
(central belt: city GIS, the node-link network), EPSG:5179 (the unified system of
road-name addresses), EPSG:5181 (central belt, false northing 500,000: Kakao/Daum);
EPSG:4326 passes through. pyproj does the maths; one transformer per system, cached.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

SUPPORTED = (4326, 5179, 5181, 5186)


class CrsError(ValueError):
    """An unsupported CRS, or coordinates that are no place on Earth."""


def parse_epsg(crs: int | str) -> int:
    """``5186``, ``"5186"``, ``"EPSG:5186"``, ``"urn:ogc:def:crs:EPSG::5186"`` -> 5186."""
    code = str(crs).strip().upper().rsplit(":", 1)[-1]
    if not code.isdigit() or int(code) not in SUPPORTED:
        raise CrsError(f"unsupported CRS {crs!r} (supported: "
                       + ", ".join(f"EPSG:{c}" for c in SUPPORTED) + ")")
    return int(code)


@lru_cache(maxsize=8)
def _transformer(epsg: int) -> Any:
    from pyproj import Transformer

    return Transformer.from_crs(f"EPSG:{epsg}", "EPSG:4326", always_xy=True)


def to_wgs84(x: float, y: float, crs: int | str = 4326) -> tuple[float, float]:
    """(x, y) in ``crs`` (easting, northing / lon, lat) -> (lon, lat), 7 decimals."""
    epsg = parse_epsg(crs)
    try:
        fx, fy = float(x), float(y)
    except (TypeError, ValueError):
        raise CrsError(f"coordinates ({x!r}, {y!r}) are not numbers") from None
    lon, lat = (fx, fy) if epsg == 4326 else _transformer(epsg).transform(fx, fy)
    if not (math.isfinite(lon) and math.isfinite(lat) and -180 <= lon <= 180
            and -90 <= lat <= 90):
        raise CrsError(f"({x}, {y}) in EPSG:{epsg} is not a place on Earth")
    return round(lon, 7), round(lat, 7)


def _coords(c: Any, epsg: int) -> Any:
    if isinstance(c, (list, tuple)) and c and not isinstance(c[0], (list, tuple)):
        return list(to_wgs84(c[0], c[1], epsg))
    if not isinstance(c, (list, tuple)):
        raise CrsError(f"bad GeoJSON coordinates {c!r}")
    return [_coords(x, epsg) for x in c]


def transform_geometry(geometry: dict[str, Any], crs: int | str) -> dict[str, Any]:
    """A GeoJSON geometry with coordinates in ``crs`` -> the same geometry in WGS84."""
    epsg = parse_epsg(crs)
    if not isinstance(geometry, dict) or "type" not in geometry:
        raise CrsError("not a GeoJSON geometry")
    if geometry["type"] == "GeometryCollection":
        return {"type": "GeometryCollection",
                "geometries": [transform_geometry(g, epsg) for g in geometry["geometries"]]}
    if epsg == 4326:
        return geometry
    return {"type": geometry["type"], "coordinates": _coords(geometry.get("coordinates"), epsg)}
