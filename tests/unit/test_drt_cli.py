"""``dosi drt solve`` and ``dosi drt check`` end to end on a published instance."""

from __future__ import annotations

import json
import math
from itertools import pairwise
from pathlib import Path

from dosi.cli import main
from dosi.drt.readers import load

DATA = Path(__file__).resolve().parents[2] / "bench" / "data" / "darp"


def test_solve_writes_a_plan_that_check_accepts(tmp_path, capsys):
    plan = tmp_path / "plan.json"
    rc = main(["drt", "solve", str(DATA / "a2-16.txt"), "--iterations", "200", "--seed", "3",
               "--out", str(plan)])
    out = capsys.readouterr().out
    assert rc == 0
    assert "feasible: yes" in out and "cost: " in out and "time: " in out
    doc = json.loads(plan.read_text())
    inst = load(DATA / "a2-16.txt")
    assert sorted(v for r in doc["routes"] for v in r) == list(range(1, 33))
    assert all(0 not in r and 33 not in r for r in doc["routes"])  # depots left out
    d = inst.dist
    total = sum(d[0][r[0]] + sum(d[a][b] for a, b in pairwise(r)) + d[r[-1]][0]
                for r in doc["routes"])
    assert math.isclose(doc["cost"], total, abs_tol=1e-5)
    printed = float(out.split("cost: ")[1].split()[0])
    assert abs(printed - total) < 0.006

    assert main(["drt", "check", str(DATA / "a2-16.txt"), str(plan)]) == 0
    assert "feasible: yes" in capsys.readouterr().out
    route = doc["routes"][0]
    first_pick = next(v for v in route if v <= 16)
    route.remove(first_pick)
    route.append(first_pick)  # now picked up after its drop-off
    plan.write_text(json.dumps(doc))
    assert main(["drt", "check", str(DATA / "a2-16.txt"), str(plan)]) == 1
    assert "dropped off before being picked up" in capsys.readouterr().out


def test_json_instance_plan_names_vehicles_and_requests(tmp_path, capsys):
    inst_doc = {
        "depots": [{"id": "D", "x": 0, "y": 0}],
        "vehicles": [{"id": "bus", "seats": 2, "shift": [0, 200]}],
        "requests": [{"id": "alice", "pickup": {"x": 3, "y": 4, "window": [10, 30]},
                      "dropoff": {"x": 6, "y": 8}, "max_ride": 20}],
    }
    src, plan = tmp_path / "day.json", tmp_path / "plan.json"
    src.write_text(json.dumps(inst_doc))
    assert main(["drt", "solve", str(src), "--iterations", "5", "--out", str(plan)]) == 0
    doc = json.loads(plan.read_text())
    stops = doc["routes"][0]["stops"]
    assert doc["routes"][0]["vehicle"] == "bus"
    assert [(s["request"], s["event"]) for s in stops] == [("alice", "pickup"),
                                                          ("alice", "dropoff")]
    assert 10 <= stops[0]["time"] <= 30
    assert doc["cost"] == 20.0
    capsys.readouterr()
    assert main(["drt", "check", str(src), str(plan)]) == 0


def test_bad_input_gives_a_readable_message(tmp_path, capsys):
    bad = tmp_path / "bad.txt"
    bad.write_text("2 2 480\n")
    assert main(["drt", "solve", str(bad)]) == 2
    assert "dosi drt:" in capsys.readouterr().err
    assert main(["drt", "check", str(DATA / "a2-16.txt"), str(tmp_path / "none.json")]) == 2
    assert "none.json" in capsys.readouterr().err
