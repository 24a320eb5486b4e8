"""Readers for the classic DARP text format and dosi's JSON instance format."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from dosi.drt.readers import InstanceError, load, parse_cordeau, parse_json

DATA = Path(__file__).resolve().parents[2] / "bench" / "data" / "darp"

TEXT = """2 2 480 3 30
0 0.0 0.0 0 0 0 1440
1 3.0 4.0 3 1 10 25
2 -1.0 2.0 3 2 0 1440
3 6.0 8.0 3 -1 0 1440
4 1.0 1.0 3 -2 50 65
5 1.0 0.0 0 0 0 1000
"""


def test_cordeau_text_with_end_depot():
    inst = parse_cordeau(TEXT, name="tiny")
    assert (inst.n, inst.n_nodes, len(inst.vehicles)) == (2, 6, 2)
    assert inst.vehicles[0].seats == 3 and inst.vehicles[0].max_duration == 480
    assert (inst.vehicles[0].start, inst.vehicles[0].end) == (0, 5)
    assert inst.max_ride[1:] == [30, 30]
    assert inst.seats == [0, 1, 2, -1, -2, 0]
    assert (inst.earliest[1], inst.latest[1], inst.service[1]) == (10, 25, 3)
    assert inst.dist[0][1] == 5.0 and inst.time[1][3] == 5.0  # travel time = distance
    assert inst.vehicles[0].shift_end == 1000  # the end depot's window


def test_cordeau_text_without_end_depot_and_2n_header():
    lines = TEXT.splitlines()
    text = "\n".join(["2 4 480 3 30", *lines[1:-1]])  # header gives 2n, no end-depot line
    inst = parse_cordeau(text)
    assert inst.n == 2 and inst.n_nodes == 6
    assert (inst.x[5], inst.y[5], inst.latest[5]) == (0.0, 0.0, 1440)  # a copy of node 0


@pytest.mark.parametrize("text, message", [
    ("", "empty"),
    ("2 2 480\n", "K n T Q L"),
    ("2 2 480 3 30\n0 0 0 0 0 0\n", "id x y service"),
    ("2 3 480 3 30\n" + "\n".join(TEXT.splitlines()[1:]), "do not match"),
    ("2 2 480 3 30\n0 0 0 0 0 0 9\n2 0 0 0 0 0 9\n", "out of order"),
    (TEXT.replace("3 6.0 8.0 3 -1", "3 6.0 8.0 3 -2"), "pair"),
])
def test_cordeau_text_errors_say_what_is_wrong(text, message):
    with pytest.raises(InstanceError, match=message):
        parse_cordeau(text)


def test_published_instances_load():
    for path in sorted(DATA.glob("a*.txt")):
        inst = load(path)
        k, n = (int(v) for v in path.stem[1:].split("-"))
        assert (len(inst.vehicles), inst.n) == (k, n), path.name
        assert inst.n_nodes == 2 * n + 2
        assert inst.vehicles[0].seats == 3 and inst.max_ride[1] == 30


def test_json_format_depots_shifts_and_wheelchairs(tmp_path):
    doc = {
        "name": "city", "speed": 0.5,
        "depots": [{"id": "north", "x": 0, "y": 10}, {"id": "south", "x": 0, "y": -10,
                                                     "window": [0, 600]}],
        "vehicles": [
            {"id": "bus1", "start_depot": "north", "seats": 8, "wheelchairs": 1,
             "shift": [0, 480], "max_duration": 300},
            {"id": "bus2", "start_depot": "south", "end_depot": "north", "seats": 4},
        ],
        "requests": [
            {"id": "a", "pickup": {"x": 1, "y": 1, "window": [10, 20], "service": 2},
             "dropoff": {"x": 4, "y": 5}, "max_ride": 30},
            {"id": "b", "wheelchairs": 1, "seats": 0,
             "pickup": {"x": 2, "y": 2}, "dropoff": {"x": 3, "y": 3, "window": [0, None]}},
        ],
    }
    path = tmp_path / "city.json"
    path.write_text(json.dumps(doc))
    inst = load(path)
    assert inst.source_format == "json" and inst.n == 2 and inst.n_nodes == 6
    assert inst.request_ids[1:] == ["a", "b"]
    assert inst.node_names == {0: "north", 5: "south"}
    bus1, bus2 = inst.vehicles
    assert (bus1.start, bus1.end, bus1.wheelchairs, bus1.shift_end) == (0, 0, 1, 480)
    assert (bus2.start, bus2.end, bus2.wheelchairs, bus2.shift_end) == (5, 0, 0, math.inf)
    assert inst.wheelchairs[2] == 1 and inst.wheelchairs[4] == -1 and inst.seats[2] == 0
    assert inst.max_ride[2] == math.inf and inst.latest[4] == math.inf
    assert inst.time[1][3] == pytest.approx(inst.dist[1][3] / 0.5)  # travel time at speed 0.5


@pytest.mark.parametrize("doc, message", [
    ([], "JSON object"),
    ({"depots": [], "vehicles": [{}], "requests": [{}]}, "depots"),
    ({"depots": [{"id": "d", "x": 0, "y": 0}], "vehicles": [{"seats": 2}],
      "requests": [{"pickup": {"x": 0, "y": 0}}]}, "dropoff"),
    ({"depots": [{"id": "d", "x": 0, "y": 0}], "vehicles": [{"seats": 2, "start_depot": "x"}],
      "requests": [{"pickup": {"x": 0, "y": 0}, "dropoff": {"x": 1, "y": 0}}]}, "unknown depot"),
    ({"depots": [{"id": "d", "x": 0, "y": 0}], "vehicles": [{"seats": 2}],
      "requests": [{"pickup": {"x": 0, "y": 0, "window": [5, 1]}, "dropoff": {"x": 1, "y": 0}}]},
     "window starts after"),
    ({"depots": [{"id": "d", "x": "a", "y": 0}], "vehicles": [{"seats": 2}],
      "requests": [{"pickup": {"x": 0, "y": 0}, "dropoff": {"x": 1, "y": 0}}]}, "'x' must be"),
])
def test_json_errors_say_what_is_wrong(doc, message):
    with pytest.raises(InstanceError, match=message):
        parse_json(doc)


def test_unreadable_files(tmp_path):
    with pytest.raises(InstanceError, match="No such file"):
        load(tmp_path / "missing.txt")
    bad = tmp_path / "bad.json"
    bad.write_text("{ nope")
    with pytest.raises(InstanceError, match="not valid JSON"):
        load(bad)
