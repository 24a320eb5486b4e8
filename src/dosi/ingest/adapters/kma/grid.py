"""The KMA forecast grid (동네예보 격자): Lambert conformal conic on a sphere.

Implemented from the published parameters of the grid the KMA short-term forecast
APIs use: earth radius 6371.00877 km, 5 km cells, standard parallels 30N and 60N,
origin 126E 38N at grid cell (43, 136). Grid numbers start at 1; a point belongs to
the cell whose centre is nearest. ``to_latlon`` gives a cell's centre.
"""

from __future__ import annotations

import math

RE = 6371.00877  # km
GRID = 5.0  # km
SLAT1, SLAT2 = 30.0, 60.0
OLON, OLAT = 126.0, 38.0
XO, YO = 43, 136
NX_MAX, NY_MAX = 149, 253  # the grid's extent (1..149, 1..253)

_D = math.pi / 180.0
_re = RE / GRID
_s1, _s2, _olon, _olat = SLAT1 * _D, SLAT2 * _D, OLON * _D, OLAT * _D
_sn = math.log(math.cos(_s1) / math.cos(_s2)) / math.log(
    math.tan(math.pi / 4 + _s2 / 2) / math.tan(math.pi / 4 + _s1 / 2)
)
_sf = math.tan(math.pi / 4 + _s1 / 2) ** _sn * math.cos(_s1) / _sn
_ro = _re * _sf / math.tan(math.pi / 4 + _olat / 2) ** _sn


def _xy(lat: float, lon: float) -> tuple[float, float]:
    ra = _re * _sf / math.tan(math.pi / 4 + lat * _D / 2) ** _sn
    theta = lon * _D - _olon
    if theta > math.pi:
        theta -= 2 * math.pi
    if theta < -math.pi:
        theta += 2 * math.pi
    theta *= _sn
    return ra * math.sin(theta) + XO, _ro - ra * math.cos(theta) + YO


def to_grid(lat: float, lon: float) -> tuple[int, int]:
    """WGS84 (lat, lon) -> the grid cell (nx, ny) that holds it."""
    x, y = _xy(lat, lon)
    return math.floor(x + 0.5), math.floor(y + 0.5)


def to_latlon(nx: int, ny: int) -> tuple[float, float]:
    """Grid cell (nx, ny) -> the (lat, lon) of its centre, 6 decimals."""
    if not (1 <= nx <= NX_MAX and 1 <= ny <= NY_MAX):
        raise ValueError(f"grid cell ({nx}, {ny}) is outside the KMA grid 1..{NX_MAX} x 1..{NY_MAX}")
    xn = nx - XO
    yn = _ro - ny + YO
    ra = math.copysign(math.hypot(xn, yn), _sn)
    lat = 2 * math.atan((_re * _sf / ra) ** (1 / _sn)) - math.pi / 2
    if abs(xn) <= 0.0:
        theta = 0.0
    elif abs(yn) <= 0.0:
        theta = math.copysign(math.pi / 2, xn)
    else:
        theta = math.atan2(xn, yn)
    lon = theta / _sn + _olon
    return round(lat / _D, 6), round(lon / _D, 6)
