"""Random DARP instances in the style of Cordeau (2006), for tests and experiments.

Stops are uniform in a square of side 20 around a central depot; half the requests are
outbound (a 15-minute window on the pickup), half inbound (a window on the drop-off); each
window is drawn so that the direct trip fits it. Capacity 3, ride limit 30, service time 3,
horizon ``60 * hours``. A seed makes the instance reproducible.
"""

from __future__ import annotations

import random

from dosi.drt.instance import Instance, Vehicle


def cordeau_like(n: int, vehicles: int, seed: int = 0, hours: float = 8.0,
                 capacity: int = 3, ride: float = 30.0) -> Instance:
    rng = random.Random(seed)
    horizon = 60.0 * hours
    pts = [(rng.uniform(-10, 10), rng.uniform(-10, 10)) for _ in range(2 * n)]
    x = [0.0] + [p[0] for p in pts] + [0.0]
    y = [0.0] + [p[1] for p in pts] + [0.0]
    early = [0.0] * (2 * n + 2)
    late = [horizon] * (2 * n + 2)
    for r in range(1, n + 1):
        direct = ((x[r] - x[n + r]) ** 2 + (y[r] - y[n + r]) ** 2) ** 0.5
        out_leg = (x[r] ** 2 + y[r] ** 2) ** 0.5
        back_leg = (x[n + r] ** 2 + y[n + r] ** 2) ** 0.5
        lo = out_leg
        hi = horizon - back_leg - 2 * 3.0 - direct - 15.0
        start = rng.uniform(lo, hi)
        if r <= n // 2:  # outbound: window on the pickup
            early[r], late[r] = start, start + 15.0
        else:  # inbound: window on the drop-off
            t = start + 3.0 + direct
            early[n + r], late[n + r] = t, t + 15.0
    service = [0.0] + [3.0] * (2 * n) + [0.0]
    seats = [0] + [1] * n + [-1] * n + [0]

    fleet = [Vehicle(id=str(k), start=0, end=2 * n + 1, seats=capacity, shift_start=0.0,
                     shift_end=horizon, max_duration=horizon) for k in range(vehicles)]
    return Instance(name=f"gen-{vehicles}-{n}-s{seed}", n=n, x=x, y=y, service=service,
                    seats=seats, wheelchairs=[0] * len(x), earliest=early, latest=late,
                    max_ride=[0.0] + [ride] * n, vehicles=fleet)
