"""The ALNS solver returns plans the independent checker accepts."""

from __future__ import annotations

from pathlib import Path

import pytest

from dosi.drt.alns import ALNS, solve
from dosi.drt.check import check
from dosi.drt.generate import cordeau_like
from dosi.drt.readers import load, parse_json
from tests.unit.drt_cases import line_instance

DATA = Path(__file__).resolve().parents[2] / "bench" / "data" / "darp"


def _served_once(inst, routes):
    nodes = sorted(v for r in routes for v in r)
    return nodes == list(range(1, 2 * inst.n + 1))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_generated_instances_give_feasible_plans(seed):
    inst = cordeau_like(n=14, vehicles=3, seed=seed)
    res = solve(inst, time_limit=60, seed=seed, iterations=150)
    rep = check(inst, res.routes)
    assert rep.feasible, rep.violations
    assert _served_once(inst, res.routes) and res.unserved == []
    assert res.cost == pytest.approx(rep.cost)


def test_same_seed_same_plan_and_search_improves_on_construction():
    inst = load(DATA / "a2-16.txt")
    first = solve(inst, time_limit=60, seed=5, iterations=300)
    again = solve(inst, time_limit=60, seed=5, iterations=300)
    assert first.routes == again.routes
    built = ALNS(inst, seed=5).initial()
    assert first.cost < built.distance()
    rep = check(inst, first.routes)
    assert rep.feasible, rep.violations


def test_wheelchair_rider_goes_on_the_vehicle_with_a_wheelchair_place():
    doc = {
        "depots": [{"id": "A", "x": 0, "y": 0}, {"id": "B", "x": 50, "y": 0}],
        "vehicles": [
            {"id": "van", "start_depot": "A", "seats": 4, "wheelchairs": 0, "shift": [0, 300]},
            {"id": "lift", "start_depot": "B", "seats": 2, "wheelchairs": 1, "shift": [60, 400],
             "max_duration": 200},
        ],
        "requests": [
            {"id": "w", "seats": 0, "wheelchairs": 1, "max_ride": 40,
             "pickup": {"x": 5, "y": 0, "window": [100, 120], "service": 2},
             "dropoff": {"x": 15, "y": 0, "service": 2}},
            {"id": "s1", "pickup": {"x": 4, "y": 1}, "dropoff": {"x": 10, "y": 1}, "max_ride": 30},
            {"id": "s2", "pickup": {"x": 45, "y": 0}, "dropoff": {"x": 40, "y": 3},
             "max_ride": 30},
        ],
    }
    inst = parse_json(doc)
    res = solve(inst, time_limit=60, seed=0, iterations=100)
    rep = check(inst, res.routes)
    assert rep.feasible, rep.violations
    lift = inst.vehicles.index(next(v for v in inst.vehicles if v.id == "lift"))
    assert 1 in res.routes[lift] and inst.n + 1 in res.routes[lift]
    assert rep.schedules[lift][0] >= 60 - 1e-6  # the lift's shift starts at 60


def test_request_nobody_can_serve_is_reported_unserved():
    inst = line_instance([
        (10, (0, 100), 20, (0, 200), 30),
        (10, (0, 100), 300, (0, 50), 30),  # 290 away from its pickup, ride limit 30
    ])
    res = solve(inst, time_limit=60, seed=0, iterations=20)
    assert res.unserved == [2]
    rep = check(inst, res.routes)
    assert not rep.feasible and any("r2 is not served" in v for v in rep.violations)
