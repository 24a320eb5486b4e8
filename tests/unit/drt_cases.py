"""Small hand-built DARP instances for the drt tests (JSON format, points on a line)."""

from __future__ import annotations

from dosi.drt.readers import parse_json

INF = None


def line_instance(requests, *, seats=3, wheelchairs=0, max_duration=1e9, shift=(0, INF),
                  vehicles=1, depot_x=0.0):
    """``requests``: (pickup_x, pickup_window, dropoff_x, dropoff_window, max_ride[, extra])."""
    reqs = []
    for i, spec in enumerate(requests, start=1):
        px, pw, dx, dw, ride = spec[:5]
        extra = spec[5] if len(spec) > 5 else {}
        reqs.append({"id": f"r{i}", "pickup": {"x": px, "y": 0, "window": list(pw)},
                     "dropoff": {"x": dx, "y": 0, "window": list(dw)}, "max_ride": ride, **extra})
    return parse_json({
        "name": "line",
        "depots": [{"id": "D", "x": depot_x, "y": 0}],
        "vehicles": [{"id": f"v{k}", "start_depot": "D", "seats": seats, "wheelchairs": wheelchairs,
                      "shift": list(shift), "max_duration": max_duration}
                     for k in range(vehicles)],
        "requests": reqs,
    })
