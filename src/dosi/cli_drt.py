"""``dosi drt``: the demand-responsive transport day planner.

    dosi drt solve bench/data/darp/a2-16.txt --time-limit 10 --seed 1 --out plan.json
    dosi drt check bench/data/darp/a2-16.txt plan.json

``solve`` reads an instance (the classic DARP text format or dosi's JSON format, see
docs/drt.md), plans it, verifies the plan with the independent exact checker and prints
cost, feasibility and time used. ``check`` verifies a plan file. The exit code is 0 for a
feasible plan, 1 for an infeasible one, 2 for unreadable input.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def add_parser(sub: Any) -> None:
    p = sub.add_parser("drt", help="demand-responsive transport: plan and check dial-a-ride days")
    drt = p.add_subparsers(dest="drt_command", required=True)
    s = drt.add_parser("solve", help="plan an instance and verify the plan")
    s.add_argument("instance", help="DARP text file (Cordeau format) or dosi JSON instance")
    s.add_argument("--time-limit", type=float, default=10.0, help="seconds (default 10)")
    s.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    s.add_argument("--iterations", type=int, default=None,
                   help="stop after this many search iterations (reproducible across machines)")
    s.add_argument("--out", default=None, help="write the plan to this JSON file")
    c = drt.add_parser("check", help="verify a plan file against an instance")
    c.add_argument("instance")
    c.add_argument("plan")


def plan_document(inst: Any, routes: list[list[int]], cost: float, schedules: list) -> dict:
    """Text-format instances: ``{"routes": [[node ids]], "cost"}``; JSON instances name
    vehicles, requests and times."""
    if inst.source_format != "json":
        return {"routes": [r for r in routes if r], "cost": round(cost, 6)}
    out = []
    for k, stops in enumerate(routes):
        if not stops:
            continue
        times = schedules[k][1:-1] if k < len(schedules) and schedules[k] else [None] * len(stops)
        out.append({
            "vehicle": inst.vehicles[k].id,
            "stops": [{"request": inst.request_ids[inst.request_of(v)],
                       "event": "pickup" if inst.is_pickup(v) else "dropoff",
                       "time": None if t is None else round(t, 4)}
                      for v, t in zip(stops, times)],
        })
    return {"routes": out, "cost": round(cost, 6)}


def read_plan(inst: Any, doc: Any) -> list[list[int]]:
    if not isinstance(doc, dict) or not isinstance(doc.get("routes"), list):
        raise TypeError("a plan is a JSON object with a 'routes' list")
    if inst.source_format != "json":
        routes = doc["routes"]
        if not all(isinstance(r, list) and all(isinstance(v, int) for v in r) for r in routes):
            raise ValueError("'routes' must be lists of node ids")
        return routes
    by_vehicle = {v.id: k for k, v in enumerate(inst.vehicles)}
    by_request = {rid: i for i, rid in enumerate(inst.request_ids) if i}
    routes: list[list[int]] = [[] for _ in inst.vehicles]
    for route in doc["routes"]:
        k = by_vehicle.get(str(route.get("vehicle")))
        if k is None:
            raise ValueError(f"unknown vehicle {route.get('vehicle')!r}")
        for stop in route.get("stops", []):
            r = by_request.get(str(stop.get("request")))
            if r is None or stop.get("event") not in ("pickup", "dropoff"):
                raise ValueError(f"bad stop {stop!r}")
            routes[k].append(r if stop["event"] == "pickup" else inst.n + r)
    return routes


def _report(rep: Any) -> None:
    print(f"feasible: {'yes' if rep.feasible else 'no'}")
    for line in rep.violations[:20]:
        print(f"  {line}")


def run(args: argparse.Namespace) -> int:
    from dosi.drt.check import check
    from dosi.drt.readers import InstanceError, load

    try:
        inst = load(args.instance)
    except InstanceError as exc:
        print(f"dosi drt: {exc}", file=sys.stderr)
        return 2
    if args.drt_command == "check":
        try:
            with open(args.plan, encoding="utf-8") as fh:
                routes = read_plan(inst, json.load(fh))
        except (OSError, ValueError, TypeError) as exc:
            print(f"dosi drt: {args.plan}: {exc}", file=sys.stderr)
            return 2
        rep = check(inst, routes)
        print(f"cost: {rep.cost:.2f}")
        _report(rep)
        return 0 if rep.feasible else 1
    from dosi.drt.alns import solve

    if args.time_limit <= 0:
        print("dosi drt: --time-limit must be positive", file=sys.stderr)
        return 2
    res = solve(inst, time_limit=args.time_limit, seed=args.seed, iterations=args.iterations)
    rep = check(inst, res.routes)
    used = sum(1 for r in res.routes if r)
    print(f"instance: {inst.name} ({inst.n} requests, {len(inst.vehicles)} vehicles)")
    print(f"cost: {rep.cost:.2f}")
    _report(rep)
    print(f"time: {res.seconds:.1f} s ({res.iterations} iterations, {used} routes, "
          f"{len(res.unserved)} unserved)")
    if args.out:
        doc = plan_document(inst, res.routes, rep.cost, rep.schedules)
        with open(args.out, "w", encoding="utf-8") as fh:
            json.dump(doc, fh, indent=1)
            fh.write("\n")
    return 0 if rep.feasible else 1
