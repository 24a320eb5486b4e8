"""Independent exact feasibility check of a DARP plan.

This module shares nothing with the solver but the instance. Pairing, precedence and
capacity are checked by walking each route. Time windows, maximum ride times and maximum
route duration are all difference constraints between the service start times ``B`` of the
stops of one route:

* ``e_k <= B_k <= l_k`` (the depots' windows combined with the vehicle's shift),
* ``B_{k+1} - B_k >= s_k + t_{k,k+1}`` (waiting is allowed anywhere),
* ``B_drop - (B_pick + s_pick) <= L_r`` for every rider ``r`` (ride time),
* ``B_end - B_start <= T`` (route duration),

so a route has a schedule exactly when the constraint graph has no negative cycle
(Bellman-Ford). Unlike "leave as early as possible" this finds schedules that need a delayed
departure, and it proves infeasibility when none exists. Times are compared with a tolerance
of ``TOL`` (the instances use floating-point Euclidean distances).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from dosi.drt.instance import Instance

TOL = 1e-6


@dataclass
class Report:
    feasible: bool
    cost: float
    violations: list[str] = field(default_factory=list)
    schedules: list[list[float]] = field(default_factory=list)  # per route, depots included


def _solve(nodes: int, edges: list[tuple[int, int, float]]) -> list[float] | None:
    """Shortest distances for ``x_v <= x_u + w`` from a virtual source; None on a negative cycle."""
    dist = [0.0] * nodes
    for _ in range(nodes + 1):
        changed = False
        for u, v, w in edges:
            if dist[u] + w < dist[v] - TOL:
                dist[v] = dist[u] + w
                changed = True
        if not changed:
            return dist
    return None


def _edges(inst: Instance, seq: list[int], windows: tuple[list[float], list[float]],
           ride: bool, duration: float) -> list[tuple[int, int, float]]:
    """Constraint graph over variables 0 (the time origin) and 1..len(seq) (the stops)."""
    early, late = windows
    edges: list[tuple[int, int, float]] = []
    for k, node in enumerate(seq, start=1):
        edges.append((k, 0, -early[k - 1]))
        if math.isfinite(late[k - 1]):
            edges.append((0, k, late[k - 1]))
        if k > 1:
            prev = seq[k - 2]
            edges.append((k, k - 1, -(inst.service[prev] + inst.time[prev][node])))
    if ride:
        where = {node: k for k, node in enumerate(seq, start=1)}
        for node, k in where.items():
            if inst.is_pickup(node) and inst.dropoff(node) in where:
                limit = inst.max_ride[node]
                if math.isfinite(limit):
                    edges.append((k, where[inst.dropoff(node)], inst.service[node] + limit))
    if math.isfinite(duration):
        edges.append((1, len(seq), duration))
    return edges


def schedule_route(inst: Instance, stops: list[int], vehicle: int = 0) -> tuple[list[float] | None, str]:
    """A feasible schedule (service start per stop, depots included) or None and the reason."""
    veh = inst.vehicles[vehicle]
    seq = [veh.start, *stops, veh.end]
    early = [inst.earliest[v] for v in seq]
    late = [inst.latest[v] for v in seq]
    early[0] = max(early[0], veh.shift_start)
    late[-1] = min(late[-1], veh.shift_end)
    windows = (early, late)
    dist = _solve(len(seq) + 1, _edges(inst, seq, windows, True, veh.max_duration))
    if dist is not None:
        return [d - dist[0] for d in dist[1:]], ""
    # Diagnose: which family of constraints makes the route infeasible.
    if _solve(len(seq) + 1, _edges(inst, seq, windows, False, math.inf)) is None:
        return None, "time windows cannot be met"
    if _solve(len(seq) + 1, _edges(inst, seq, windows, True, math.inf)) is None:
        return None, "maximum ride time cannot be met with the time windows"
    return None, "maximum route duration cannot be met with the other constraints"


def check(inst: Instance, routes: list[list[int]]) -> Report:
    """Check a plan: ``routes[k]`` is the stop sequence of vehicle ``k``, depots left out."""
    report = Report(feasible=True, cost=0.0)
    bad = report.violations
    if len(routes) > len(inst.vehicles):
        bad.append(f"{len(routes)} routes for {len(inst.vehicles)} vehicles")
    seen: dict[int, tuple[int, int]] = {}
    for k, stops in enumerate(routes):
        for pos, node in enumerate(stops):
            if not isinstance(node, int) or not 1 <= node <= 2 * inst.n:
                bad.append(f"route {k}: {node!r} is not a pickup or drop-off node")
            elif node in seen:
                bad.append(f"node {node} is visited more than once")
            else:
                seen[node] = (k, pos)
    for r in range(1, inst.n + 1):
        p, d = seen.get(inst.pickup(r)), seen.get(inst.dropoff(r))
        label = inst.request_ids[r]
        if p is None and d is None:
            bad.append(f"request {label} is not served")
        elif p is None or d is None:
            bad.append(f"request {label}: pickup and drop-off must both be visited")
        elif p[0] != d[0]:
            bad.append(f"request {label}: picked up and dropped off by different vehicles")
        elif p[1] > d[1]:
            bad.append(f"request {label}: dropped off before being picked up")
    for k, stops in enumerate(routes[: len(inst.vehicles)]):
        veh = inst.vehicles[k]
        if not stops or any(not isinstance(v, int) or not 1 <= v <= 2 * inst.n for v in stops):
            report.schedules.append([])
            continue
        report.cost += inst.route_cost(stops, veh)
        seats = wheel = 0
        for node in stops:
            seats += inst.seats[node]
            wheel += inst.wheelchairs[node]
            if seats > veh.seats or wheel > veh.wheelchairs:
                bad.append(f"route {k}: capacity exceeded at node {node} "
                           f"({seats}/{veh.seats} seats, {wheel}/{veh.wheelchairs} wheelchairs)")
                break
        times, why = schedule_route(inst, stops, k)
        if times is None:
            bad.append(f"route {k}: {why}")
            report.schedules.append([])
        else:
            report.schedules.append(times)
    report.feasible = not bad
    return report
