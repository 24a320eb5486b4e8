"""Readers for DARP instances: the classic text format of the OR literature (Cordeau 2006)
and the project's JSON format (see docs/drt.md). ``load`` picks the reader from the content.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from dosi.drt.instance import Instance, Vehicle


class InstanceError(ValueError):
    """The instance file cannot be read; the message says where and why."""


def load(path: str | Path) -> Instance:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InstanceError(f"{path}: {exc.strerror or exc}") from exc
    name = path.stem
    if text.lstrip().startswith("{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InstanceError(f"{path}: not valid JSON ({exc})") from exc
        return parse_json(data, name=name)
    return parse_cordeau(text, name=name)


def parse_cordeau(text: str, name: str = "instance") -> Instance:
    """Header ``K n T Q L``, then ``id x y service load earliest latest`` per node.

    Node 0 is the start depot, 1..n the pickups, n+1..2n the drop-offs and 2n+1 the end
    depot; when the end depot line is missing it is a copy of node 0. Some published copies
    give 2n instead of n in the header; the node count tells which.
    """
    lines = [ln.split() for ln in text.splitlines() if ln.strip()]
    if not lines:
        raise InstanceError(f"{name}: empty file")
    try:
        k, n_field = int(lines[0][0]), int(lines[0][1])
        t_max, cap, ride = float(lines[0][2]), int(lines[0][3]), float(lines[0][4])
    except (IndexError, ValueError) as exc:
        raise InstanceError(f"{name}: line 1: expected 'K n T Q L'") from exc
    rows: list[tuple[float, ...]] = []
    for lineno, parts in enumerate(lines[1:], start=2):
        try:
            if len(parts) < 7:
                raise ValueError
            node = int(parts[0])
            values = tuple(float(v) for v in parts[1:7])
        except ValueError as exc:
            raise InstanceError(
                f"{name}: line {lineno}: expected 'id x y service load earliest latest'"
            ) from exc
        if node != len(rows):
            raise InstanceError(f"{name}: line {lineno}: node {node} out of order")
        rows.append(values)
    count = len(rows)
    if count in (2 * n_field + 1, 2 * n_field + 2):
        n = n_field
    elif n_field % 2 == 0 and count in (n_field + 1, n_field + 2):
        n = n_field // 2
    else:
        raise InstanceError(f"{name}: {count} node lines do not match n = {n_field}")
    if count == 2 * n + 1:
        rows.append(rows[0])
    if k < 1 or cap < 1:
        raise InstanceError(f"{name}: needs at least one vehicle and capacity 1")
    x, y, service, load, early, late = (list(col) for col in zip(*rows))
    seats = [int(v) for v in load]
    for i in range(1, n + 1):
        if seats[i] <= 0 or seats[n + i] != -seats[i]:
            raise InstanceError(f"{name}: node {i} and {n + i} are not a pickup/drop-off pair")
    end = 2 * n + 1
    vehicles = [
        Vehicle(id=str(v), start=0, end=end, seats=cap, shift_start=early[0],
                shift_end=late[end], max_duration=t_max)
        for v in range(k)
    ]
    return Instance(
        name=name, n=n, x=x, y=y, service=service, seats=seats, wheelchairs=[0] * len(rows),
        earliest=early, latest=late, max_ride=[0.0] + [ride] * n, vehicles=vehicles,
    )


def _num(obj: dict[str, Any], key: str, where: str, default: float | None = None) -> float:
    value = obj.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InstanceError(f"{where}: '{key}' must be a number")
    return float(value)


def _window(obj: dict[str, Any], where: str) -> tuple[float, float]:
    win = obj.get("window", [0, math.inf])
    if not (isinstance(win, list) and len(win) == 2):
        raise InstanceError(f"{where}: 'window' must be [earliest, latest]")
    lo = _num({"v": win[0]}, "v", where + ".window")
    hi = math.inf if win[1] is None else _num({"v": win[1]}, "v", where + ".window")
    if lo > hi:
        raise InstanceError(f"{where}: window starts after it ends")
    return lo, hi


def parse_json(data: Any, name: str = "instance") -> Instance:
    """The project's JSON format (docs/drt.md)."""
    if not isinstance(data, dict):
        raise InstanceError(f"{name}: the document must be a JSON object")
    name = str(data.get("name", name))
    depots = data.get("depots")
    requests = data.get("requests")
    vehicles = data.get("vehicles")
    for key, value in (("depots", depots), ("requests", requests), ("vehicles", vehicles)):
        if not isinstance(value, list) or not value:
            raise InstanceError(f"{name}: '{key}' must be a non-empty list")
    n = len(requests)
    x, y = [0.0] * (2 * n + 1), [0.0] * (2 * n + 1)
    service, early, late = [0.0] * (2 * n + 1), [0.0] * (2 * n + 1), [math.inf] * (2 * n + 1)
    seats, wheel, ride = [0] * (2 * n + 1), [0] * (2 * n + 1), [0.0] * (n + 1)
    ids = [""]
    default_ride = data.get("max_ride", math.inf)
    for i, req in enumerate(requests, start=1):
        where = f"{name}: requests[{i - 1}]"
        if not isinstance(req, dict):
            raise InstanceError(f"{where}: must be an object")
        ids.append(str(req.get("id", i)))
        seats[i] = int(_num(req, "seats", where, 1))
        wheel[i] = int(_num(req, "wheelchairs", where, 0))
        if seats[i] < 0 or wheel[i] < 0 or seats[i] + wheel[i] == 0:
            raise InstanceError(f"{where}: needs at least one seat or wheelchair place")
        seats[n + i], wheel[n + i] = -seats[i], -wheel[i]
        ride[i] = _num(req, "max_ride", where, default_ride)
        for node, key in ((i, "pickup"), (n + i, "dropoff")):
            stop = req.get(key)
            if not isinstance(stop, dict):
                raise InstanceError(f"{where}: '{key}' must be an object")
            x[node], y[node] = _num(stop, "x", f"{where}.{key}"), _num(stop, "y", f"{where}.{key}")
            service[node] = _num(stop, "service", f"{where}.{key}", 0)
            early[node], late[node] = _window(stop, f"{where}.{key}")
    if len(set(ids[1:])) != n:
        raise InstanceError(f"{name}: request ids must be unique")
    depot_node: dict[str, int] = {}
    names: dict[int, str] = {}
    for j, dep in enumerate(depots):
        where = f"{name}: depots[{j}]"
        if not isinstance(dep, dict) or "id" not in dep:
            raise InstanceError(f"{where}: must be an object with an 'id'")
        node = 0 if j == 0 else len(x)
        values = (_num(dep, "x", where), _num(dep, "y", where), *_window(dep, where))
        if j == 0:
            x[0], y[0], early[0], late[0] = values
        else:
            for lst, v in zip((x, y, early, late), values):
                lst.append(v)
            service.append(0.0)
            seats.append(0)
            wheel.append(0)
        depot_node[str(dep["id"])] = node
        names[node] = str(dep["id"])
    fleet = []
    for j, veh in enumerate(vehicles):
        where = f"{name}: vehicles[{j}]"
        if not isinstance(veh, dict):
            raise InstanceError(f"{where}: must be an object")
        start = depot_node.get(str(veh.get("start_depot", depots[0]["id"])))
        end = depot_node.get(str(veh.get("end_depot", veh.get("start_depot", depots[0]["id"]))))
        if start is None or end is None:
            raise InstanceError(f"{where}: unknown depot")
        shift = veh.get("shift", [0, None])
        s0, s1 = _window({"window": shift}, where + ".shift")
        fleet.append(Vehicle(
            id=str(veh.get("id", j)), start=start, end=end,
            seats=int(_num(veh, "seats", where)), wheelchairs=int(_num(veh, "wheelchairs", where, 0)),
            shift_start=s0, shift_end=s1,
            max_duration=_num(veh, "max_duration", where, math.inf),
        ))
    inst = Instance(
        name=name, n=n, x=x, y=y, service=service, seats=seats, wheelchairs=wheel,
        earliest=early, latest=late, max_ride=ride, vehicles=fleet,
        speed=_num(data, "speed", name, 1.0), request_ids=ids, node_names=names,
        source_format="json",
    )
    return inst
