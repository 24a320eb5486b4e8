"""The independent exact feasibility check, on hand-built routes."""

from __future__ import annotations

import random
from pathlib import Path

from dosi.drt.check import check, schedule_route
from dosi.drt.readers import load
from dosi.drt.routes import Prep
from tests.unit.drt_cases import line_instance

DATA = Path(__file__).resolve().parents[2] / "bench" / "data" / "darp"


def test_ride_limit_met_only_by_delaying_the_pickup():
    # Pickup at x=10 (open all day), drop-off at x=20 not before 50, ride limit 15.
    # Leaving as early as possible reaches the pickup at 10 and waits for the drop-off until
    # 50: a ride of 40. Picking up between 35 and 45 rides exactly within the limit.
    inst = line_instance([(10, (0, 100), 20, (50, 60), 15)])
    rep = check(inst, [[1, 2]])
    assert rep.feasible, rep.violations
    times = rep.schedules[0]  # depot, pickup, drop-off, depot
    assert times[1] >= 35 - 1e-6
    assert times[2] - times[1] <= 15 + 1e-6
    assert 50 - 1e-6 <= times[2] <= 60 + 1e-6


def test_delay_must_propagate_through_a_shared_ride():
    # r1 must be delayed (drop-off window opens late); r2 sits between and its own ride limit
    # must still hold after the delay: p1 p2 d2 d1.
    inst = line_instance([
        (10, (0, 200), 40, (100, 110), 40),
        (20, (0, 200), 30, (0, 200), 12),
    ])
    rep = check(inst, [[1, 2, 4, 3]])
    assert rep.feasible, rep.violations
    t = rep.schedules[0]
    assert t[4] - t[1] <= 40 + 1e-6 and t[3] - t[2] <= 12 + 1e-6


def test_ride_time_infeasible_even_though_windows_fit():
    # p1 then p2 whose window opens late, then d1: r1 rides at least 80 > 30.
    inst = line_instance([
        (10, (0, 20), 30, (0, 500), 30),
        (20, (100, 110), 40, (0, 500), 30),
    ])
    rep = check(inst, [[1, 2, 3, 4]])
    assert not rep.feasible
    assert any("ride time" in v for v in rep.violations)
    assert check(inst, [[1, 3, 2, 4]]).feasible  # serving r1 first is fine


def test_time_window_infeasible():
    inst = line_instance([(50, (0, 100), 60, (0, 55), 100)])  # drop-off reachable at 60 only
    rep = check(inst, [[1, 2]])
    assert not rep.feasible
    assert any("time windows" in v for v in rep.violations)


def test_route_duration_infeasible_but_windows_and_rides_fine():
    inst = line_instance([
        (10, (0, 20), 20, (0, 500), 30),
        (10, (200, 210), 20, (0, 500), 30),
    ], max_duration=150)
    rep = check(inst, [[1, 3, 2, 4]])
    assert not rep.feasible
    assert any("duration" in v for v in rep.violations)
    two = line_instance([
        (10, (0, 20), 20, (0, 500), 30),
        (10, (200, 210), 20, (0, 500), 30),
    ], max_duration=150, vehicles=2)
    assert check(two, [[1, 3], [2, 4]]).feasible


def test_capacity_seats_and_wheelchairs():
    reqs = [(10, (0, 500), 30, (0, 500), 100), (15, (0, 500), 35, (0, 500), 100)]
    assert check(line_instance(reqs, seats=2), [[1, 2, 3, 4]]).feasible
    rep = check(line_instance(reqs, seats=1), [[1, 2, 3, 4]])
    assert not rep.feasible and any("capacity" in v for v in rep.violations)
    assert check(line_instance(reqs, seats=1), [[1, 3, 2, 4]]).feasible
    chair = [(10, (0, 500), 30, (0, 500), 100, {"seats": 0, "wheelchairs": 1})]
    rep = check(line_instance(chair, wheelchairs=0), [[1, 2]])
    assert not rep.feasible and any("wheelchair" in v for v in rep.violations)
    assert check(line_instance(chair, wheelchairs=1), [[1, 2]]).feasible


def test_pairing_precedence_and_coverage():
    inst = line_instance([(10, (0, 500), 30, (0, 500), 100)] * 2, vehicles=2)
    assert not check(inst, [[3, 1, 2, 4]]).feasible  # r1 dropped before pickup
    rep = check(inst, [[1, 2], [3, 4]])
    assert any("different vehicles" in v for v in rep.violations)
    rep = check(inst, [[1, 3]])
    assert any("r2 is not served" in v for v in rep.violations)
    rep = check(inst, [[1, 3, 1, 3, 2, 4]])
    assert any("more than once" in v for v in rep.violations)
    rep = check(inst, [[1, 3, 9]])
    assert any("not a pickup or drop-off" in v for v in rep.violations)
    rep = check(inst, [[1, 3], [2, 4], []])
    assert any("3 routes for 2 vehicles" in v for v in rep.violations)
    assert check(inst, [[1, 3], [2, 4]]).feasible


def test_cost_is_the_route_distance_with_depots():
    inst = line_instance([(10, (0, 500), 30, (0, 500), 100)], depot_x=5)
    assert abs(check(inst, [[1, 2]]).cost - (5 + 20 + 25)) < 1e-9


def test_solver_scheduler_and_checker_agree_on_random_routes():
    # Two independent exact methods (longest path with backward edges in the solver,
    # Bellman-Ford on the full constraint graph in the checker) must agree on every route.
    inst = load(DATA / "a2-16.txt")
    prep = Prep(inst)
    rng = random.Random(7)
    agree = feasible = 0
    for _ in range(400):
        reqs = rng.sample(range(1, inst.n + 1), rng.randint(1, 5))
        route: list[int] = []
        for r in reqs:
            i = rng.randint(0, len(route))
            j = rng.randint(i + 1, len(route) + 1)
            route.insert(i, r)
            route.insert(j, inst.n + r)
        ours = prep.schedule(0, route) is not None
        theirs = schedule_route(inst, route, 0)[0] is not None
        agree += ours == theirs
        feasible += theirs
    assert agree == 400
    assert 20 < feasible < 380  # the sample holds both kinds
