"""Daily and weekly patterns of the demo city's sources, deterministic in (id, time).

Every value is a pure function of the source id and the instant, so the open-data
replay server can answer for any hour and tests can predict what a sensor sends.
Noise is smooth: hashed random knots every hour, interpolated in between.
"""

from __future__ import annotations

import hashlib
import math
from datetime import datetime

# Korean Comprehensive Air-quality Index (CAI) breakpoints per pollutant: upper bounds of
# grades 1..3 (good, moderate, unhealthy); above the last is grade 4 (very unhealthy).
CAI_BREAKPOINTS = {
    "pm10": (30, 80, 150, 600),
    "pm25": (15, 35, 75, 500),
    "o3": (0.030, 0.090, 0.150, 0.600),
    "no2": (0.030, 0.060, 0.200, 2.0),
    "co": (2.0, 9.0, 15.0, 50.0),
    "so2": (0.020, 0.050, 0.150, 1.0),
}
CAI_INDEX = (0, 50, 100, 250, 500)


def unit_noise(key: str, bucket: int) -> float:
    """A repeatable pseudo-random number in [-1, 1) for ``key`` at integer ``bucket``."""
    digest = hashlib.blake2b(f"{key}|{bucket}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**63 - 1.0


def smooth_noise(key: str, t: datetime, period_s: float = 3600.0) -> float:
    """Noise in [-1, 1] that varies smoothly over ``period_s`` (cosine interpolation)."""
    x = t.timestamp() / period_s
    k = math.floor(x)
    w = (1 - math.cos(math.pi * (x - k))) / 2
    return unit_noise(key, k) * (1 - w) + unit_noise(key, k + 1) * w


def _hour(t: datetime) -> float:
    return t.hour + t.minute / 60 + t.second / 3600


def _bump(h: float, centre: float, width: float) -> float:
    """A daily Gaussian bump in [0, 1] centred at hour ``centre``."""
    d = min(abs(h - centre), 24 - abs(h - centre))
    return math.exp(-(d / width) ** 2)


def is_weekend(t: datetime) -> bool:
    return t.weekday() >= 5


def traffic_speed(link_id: str, free_flow_kmh: float, t: datetime) -> float:
    """Mean link speed (km/h): weekday rush hours at 8 and 18-19 h, milder weekends."""
    h = _hour(t)
    if is_weekend(t):
        congestion = 0.35 * _bump(h, 15, 3.5)
    else:
        congestion = 0.55 * _bump(h, 8.3, 1.3) + 0.6 * _bump(h, 18.5, 1.6) + 0.2 * _bump(h, 13, 2.5)
    night = 0.12 * _bump(h, 3, 2.5)
    factor = 1 - congestion + night + 0.08 * smooth_noise(link_id, t, 900)
    return round(max(4.0, free_flow_kmh * factor), 1)


def air_quality(station: str, roadside: bool, t: datetime) -> dict[str, float]:
    """Hourly concentrations: PM (µg/m³) and gases (ppm), with diurnal cycles."""
    h = _hour(t)
    episode = 1 + 0.6 * max(0.0, smooth_noise("episode", t, 6 * 3600))  # city-wide haze days
    traffic = 0.5 * _bump(h, 8.5, 2) + 0.6 * _bump(h, 19, 2.5)
    road = 1.3 if roadside else 1.0
    pm10 = 32 * episode * road * (0.8 + 0.35 * traffic) * (1 + 0.15 * smooth_noise(station + "pm", t))
    pm25 = pm10 * (0.52 + 0.06 * smooth_noise(station + "ratio", t))
    no2 = 0.022 * road * (0.7 + 0.8 * traffic) * (1 + 0.2 * smooth_noise(station + "no2", t))
    o3 = max(0.002, 0.035 * _bump(h, 15, 3.5) + 0.008 - 0.3 * (no2 - 0.02))
    co = 0.4 * road * (0.8 + 0.5 * traffic)
    so2 = 0.003 * (1 + 0.3 * smooth_noise(station + "so2", t))
    return {"pm10": round(pm10), "pm25": round(pm25), "no2": round(no2, 3), "o3": round(o3, 3),
            "co": round(co, 1), "so2": round(so2, 3)}


def cai_grade(pollutant: str, value: float) -> int:
    """AirKorea grade 1 (good) .. 4 (very unhealthy) of one pollutant."""
    for grade, upper in enumerate(CAI_BREAKPOINTS[pollutant][:3], start=1):
        if value <= upper:
            return grade
    return 4


def cai_index(pollutant: str, value: float) -> int:
    """The CAI sub-index (0-500) of one pollutant, linear between breakpoints."""
    bounds = (0.0, *CAI_BREAKPOINTS[pollutant])
    for i in range(4):
        lo, hi = bounds[i], bounds[i + 1]
        if value <= hi:
            return round(CAI_INDEX[i] + (CAI_INDEX[i + 1] - CAI_INDEX[i]) * (value - lo) / (hi - lo))
    return 500


def weather(grid: str, t: datetime) -> dict[str, float]:
    """KMA nowcast categories: T1H (°C), REH (%), WSD (m/s), VEC (deg), RN1 (mm), PTY (code)."""
    h = _hour(t)
    season = -math.cos(2 * math.pi * (t.timetuple().tm_yday - 15) / 365)  # -1 mid-Jan, +1 mid-Jul
    mean = 12.5 + 14 * season
    temp = mean + 4.5 * math.cos(2 * math.pi * (h - 15) / 24) + 1.5 * smooth_noise(grid + "t", t, 3 * 3600)
    humidity = min(100.0, max(15.0, 60 - 18 * math.cos(2 * math.pi * (h - 15) / 24)
                              + 12 * smooth_noise(grid + "h", t, 4 * 3600)))
    wind = max(0.0, 2.2 + 1.2 * _bump(h, 14, 4) + 1.5 * smooth_noise(grid + "w", t, 2 * 3600))
    direction = (270 + 80 * smooth_noise(grid + "d", t, 6 * 3600)) % 360
    rain_signal = smooth_noise(grid + "r", t, 5 * 3600)
    rain = round(max(0.0, (rain_signal - 0.6) * 10), 1)
    pty = 0 if rain == 0 else (3 if temp < 0 else 1)
    return {"T1H": round(temp, 1), "REH": round(humidity), "WSD": round(wind, 1),
            "VEC": round(direction), "RN1": rain, "PTY": pty}


def parking_occupied(car_park: str, kind: str, total: int, t: datetime) -> int:
    """Occupied spots: commuter car parks fill on weekday office hours, shopping ones on afternoons."""
    h = _hour(t)
    if kind == "commuter":
        share = 0.15 + (0.0 if is_weekend(t) else 0.75) * (_bump(h, 13, 4.5) ** 0.5)
    elif kind == "station":
        share = 0.45 + 0.35 * _bump(h, 12, 6)
    else:
        share = 0.1 + (0.8 if is_weekend(t) else 0.6) * _bump(h, 15, 4)
    share += 0.05 * smooth_noise(car_park, t, 1800)
    return max(0, min(total, round(total * share)))


def noise_level(sensor: str, base_db: float, t: datetime) -> float:
    """LAeq (dB(A)): daytime activity plus evening peaks, quiet nights."""
    h = _hour(t)
    activity = 0.6 * _bump(h, 13, 4.5) + 0.5 * _bump(h, 19.5, 2.5)
    return round(base_db - 12 + 14 * activity + 1.5 * smooth_noise(sensor, t, 600), 1)
