"""Baseline: a DARP instance solved with Google OR-Tools routing (pip ``ortools``).

Pickup and delivery pairs on the same vehicle, pickup before drop-off, seat capacity, time
windows (the time dimension with waiting allowed), maximum route duration (span bound per
vehicle) and the maximum ride time as a constraint on the difference of the time cumuls of
each pair. Distances and times are scaled to hundredths; times are rounded up (and windows
inwards) so that any schedule OR-Tools finds is valid for the exact checker too. Every
request is in a disjunction with a large penalty, so OR-Tools returns a plan even when it
cannot serve everyone; the unserved requests then make the plan infeasible by our checker.
"""

from __future__ import annotations

import math
import time

from ortools.constraint_solver import pywrapcp, routing_enums_pb2

from dosi.drt.instance import Instance

SCALE = 100


def solve_ortools(inst: Instance, time_limit: float) -> tuple[list[list[int]], float]:
    """Routes (node ids, depots left out, one list per vehicle) and wall-clock seconds used."""
    t0 = time.perf_counter()
    n, k = inst.n, len(inst.vehicles)
    starts = [v.start for v in inst.vehicles]
    ends = [v.end for v in inst.vehicles]
    manager = pywrapcp.RoutingIndexManager(inst.n_nodes, k, starts, ends)
    routing = pywrapcp.RoutingModel(manager)
    dist = [[round(d * SCALE) for d in row] for row in inst.dist]
    tt = [[math.ceil(inst.service[a] * SCALE + inst.time[a][b] * SCALE - 1e-6)
           for b in range(inst.n_nodes)] for a in range(inst.n_nodes)]

    def arc_cost(i: int, j: int) -> int:
        return dist[manager.IndexToNode(i)][manager.IndexToNode(j)]

    def transit(i: int, j: int) -> int:
        return tt[manager.IndexToNode(i)][manager.IndexToNode(j)]

    routing.SetArcCostEvaluatorOfAllVehicles(routing.RegisterTransitCallback(arc_cost))
    horizon = math.ceil(max(min(v.shift_end, max(inst.latest)) for v in inst.vehicles) * SCALE)
    time_cb = routing.RegisterTransitCallback(transit)
    routing.AddDimension(time_cb, horizon, horizon, False, "time")
    tdim = routing.GetDimensionOrDie("time")

    def demand(i: int) -> int:
        return inst.seats[manager.IndexToNode(i)]

    routing.AddDimensionWithVehicleCapacity(
        routing.RegisterUnaryTransitCallback(demand), 0, [v.seats for v in inst.vehicles],
        True, "seats")
    if any(inst.wheelchairs):
        def chairs(i: int) -> int:
            return inst.wheelchairs[manager.IndexToNode(i)]

        routing.AddDimensionWithVehicleCapacity(
            routing.RegisterUnaryTransitCallback(chairs), 0,
            [v.wheelchairs for v in inst.vehicles], True, "wheelchairs")

    def window(lo: float, hi: float) -> tuple[int, int]:
        return math.ceil(lo * SCALE - 1e-6), min(horizon, math.floor(hi * SCALE + 1e-6))

    solver = routing.solver()
    for node in range(1, 2 * n + 1):
        tdim.CumulVar(manager.NodeToIndex(node)).SetRange(
            *window(inst.earliest[node], inst.latest[node]))
    for v, veh in enumerate(inst.vehicles):
        lo, _ = window(max(inst.earliest[veh.start], veh.shift_start), horizon)
        _, hi = window(0, min(inst.latest[veh.end], veh.shift_end))
        tdim.CumulVar(routing.Start(v)).SetRange(lo, hi)
        tdim.CumulVar(routing.End(v)).SetRange(lo, hi)
        if math.isfinite(veh.max_duration):
            tdim.SetSpanUpperBoundForVehicle(math.floor(veh.max_duration * SCALE + 1e-6), v)
    penalty = 100 * max(max(row) for row in dist) + 10**6
    for r in range(1, n + 1):
        p, d = manager.NodeToIndex(r), manager.NodeToIndex(n + r)
        routing.AddPickupAndDelivery(p, d)
        solver.Add(routing.VehicleVar(p) == routing.VehicleVar(d))
        solver.Add(tdim.CumulVar(p) <= tdim.CumulVar(d))
        if math.isfinite(inst.max_ride[r]):
            limit = math.floor((inst.max_ride[r] + inst.service[r]) * SCALE + 1e-6)
            solver.Add(tdim.CumulVar(d) - tdim.CumulVar(p) <= limit)
        routing.AddDisjunction([p], penalty)
        routing.AddDisjunction([d], penalty)
    for v in range(k):
        routing.AddVariableMinimizedByFinalizer(tdim.CumulVar(routing.Start(v)))
    params = pywrapcp.DefaultRoutingSearchParameters()
    params.first_solution_strategy = (
        routing_enums_pb2.FirstSolutionStrategy.PARALLEL_CHEAPEST_INSERTION)
    params.local_search_metaheuristic = (
        routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH)
    remaining = max(1.0, time_limit - (time.perf_counter() - t0))
    params.time_limit.FromMilliseconds(int(remaining * 1000))
    solution = routing.SolveWithParameters(params)
    routes: list[list[int]] = [[] for _ in range(k)]
    if solution is not None:
        for v in range(k):
            idx = solution.Value(routing.NextVar(routing.Start(v)))
            while not routing.IsEnd(idx):
                routes[v].append(manager.IndexToNode(idx))
                idx = solution.Value(routing.NextVar(idx))
    return routes, time.perf_counter() - t0
