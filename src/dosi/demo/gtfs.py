"""A small GTFS static feed of the demo district's bus stops (real stop names and places;
the two routes and their timetable are demo routes, not Seoul's)."""

from __future__ import annotations

import csv
import io
import zipfile
from itertools import pairwise
from pathlib import Path

from dosi.demo.district import District, haversine_m

ROUTES = (
    ("JG-A", "중구 순환 A (demo)", ["seoulstation-transfer", "sungnyemun", "cityhall-deoksugung",
                                   "gwanghwamun", "jongno1ga", "euljiro-ipgu", "myeongdong-ipgu",
                                   "namdaemun-market", "seoulstation-transfer"]),
    ("JG-B", "중구 동서 B (demo)", ["cityhall-deoksugung", "euljiro-ipgu", "euljiro3ga", "ddp"]),
)
BUS_KMH = 16.0
DWELL_S = 30


def _csv(rows: list[list[object]]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue()


def _hms(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def write_feed(district: District, path: Path, headway_min: int = 15) -> Path:
    """Write the feed zip to ``path``: agency, stops, routes, trips (05:30-23:30), stop times."""
    stops = {s.id: s for s in district.bus_stops}
    files: dict[str, list[list[object]]] = {
        "agency.txt": [["agency_id", "agency_name", "agency_url", "agency_timezone", "agency_lang"],
                       ["dosi-demo", "dosi demo buses", "http://127.0.0.1/", district.timezone, "ko"]],
        "stops.txt": [["stop_id", "stop_name", "stop_lat", "stop_lon"]]
        + [[s.id, s.name, s.location[1], s.location[0]] for s in district.bus_stops],
        "routes.txt": [["route_id", "agency_id", "route_short_name", "route_long_name", "route_type"]],
        "trips.txt": [["route_id", "service_id", "trip_id", "trip_headsign"]],
        "stop_times.txt": [["trip_id", "arrival_time", "departure_time", "stop_id", "stop_sequence"]],
        "calendar.txt": [["service_id", "monday", "tuesday", "wednesday", "thursday", "friday",
                          "saturday", "sunday", "start_date", "end_date"],
                         ["daily", 1, 1, 1, 1, 1, 1, 1, "20260101", "20271231"]],
    }
    for route_id, name, seq in ROUTES:
        files["routes.txt"].append([route_id, "dosi-demo", route_id, name, 3])
        legs = [round(haversine_m(stops[a].location, stops[b].location) * 1.3 / (BUS_KMH / 3.6))
                for a, b in pairwise(seq)]
        for k, start in enumerate(range(5 * 3600 + 1800, 23 * 3600 + 1800, headway_min * 60)):
            trip = f"{route_id}-{k:03d}"
            files["trips.txt"].append([route_id, "daily", trip, stops[seq[-1]].name])
            t = start
            for i, stop in enumerate(seq):
                files["stop_times.txt"].append([trip, _hms(t), _hms(t + DWELL_S), stop, i + 1])
                if i < len(legs):
                    t += DWELL_S + legs[i]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, rows in files.items():
            zf.writestr(name, _csv(rows))
    return path
