"""DRT day planner vs Google OR-Tools on the Cordeau (2006) DARP instances (issue 7).

usage: python bench/drt_compare.py [--time-limit 60] [--seed 0] [--instances a2-16,a3-18]
                                   [--out docs/performance.md] [--results bench-drt.json]

Each instance is solved by dosi's ALNS (``dosi.drt.alns``) and by OR-Tools routing
(``bench/drt_ortools.py``, needs ``pip install ortools`` or the ``bench`` extra), one after
the other in this process, each with the same wall-clock limit on one core. Both plans go
through dosi's independent exact checker; the gap is to the best known solution in
``bench/data/darp/bks.json``. The table replaces the DRT section of ``--out``. Not a test:
nothing here asserts timing or cost.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from drt_ortools import solve_ortools  # noqa: E402

from dosi.drt.alns import solve  # noqa: E402
from dosi.drt.check import check  # noqa: E402
from dosi.drt.readers import load  # noqa: E402

DATA = HERE / "data" / "darp"
TITLE = "## Demand-responsive transport: DARP solver (issue 7)"


def run_one(name: str, limit: float, seed: int, bks: float) -> dict:
    inst = load(DATA / f"{name}.txt")
    res = solve(inst, time_limit=limit, seed=seed)
    ours = check(inst, res.routes)
    routes, secs = solve_ortools(inst, limit)
    theirs = check(inst, routes)
    unserved = sum(1 for v in theirs.violations if "not served" in v)
    return {
        "instance": name, "bks": bks,
        "dosi": {"cost": ours.cost, "feasible": ours.feasible, "seconds": res.seconds,
                 "iterations": res.iterations, "violations": ours.violations},
        "ortools": {"cost": theirs.cost, "feasible": theirs.feasible, "seconds": secs,
                    "unserved": unserved, "violations": theirs.violations},
    }


def gap(cost: float, bks: float) -> float:
    return 100.0 * (cost / bks - 1.0)


def render(rows: list[dict], limit: float, seed: int, load_avg: tuple) -> str:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        TITLE, "",
        (f"Measured {when} on {os.cpu_count()} cores shared with other work (load average "
         f"{load_avg[0]:.1f} at start, {load_avg[1]:.1f} at end), Python "
         f"{platform.python_version()}; `python bench/drt_compare.py --time-limit {limit:g} "
         f"--seed {seed}`. Cordeau (2006) instances `bench/data/darp/`, best known costs (BKS) "
         "from `bench/data/darp/bks.json`. Each solver gets the same wall-clock limit, one "
         "after the other, single-threaded; *feasible* is decided by dosi's exact checker "
         "(`dosi.drt.check`) for both. OR-Tools: routing library with pickup-and-delivery, "
         "time windows, capacity, span (route duration) and ride-time cumul constraints, "
         "parallel cheapest insertion + guided local search."), "",
        ("| instance | BKS | dosi cost | dosi gap | dosi feasible | dosi time (s) "
         "| OR-Tools cost | OR-Tools gap | OR-Tools feasible | OR-Tools time (s) |"),
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    gaps, ogaps, better, feasible, ofeasible = [], [], 0, 0, 0
    for r in rows:
        d, o, b = r["dosi"], r["ortools"], r["bks"]
        feasible += d["feasible"]
        ofeasible += o["feasible"]
        g = gap(d["cost"], b)
        gaps.append(g)
        if o["feasible"]:
            og = gap(o["cost"], b)
            ogaps.append(og)
            ocell = f"{og:.2f}%"
            better += d["feasible"] and d["cost"] < o["cost"] - 1e-6
        else:
            ocell = "n/a"
            better += d["feasible"]
        ofeas = "yes" if o["feasible"] else f"no ({o['unserved']} unserved)"
        lines.append(
            f"| {r['instance']} | {b:.2f} | {d['cost']:.2f} | {g:.2f}% | "
            f"{'yes' if d['feasible'] else 'no'} | {d['seconds']:.1f} | {o['cost']:.2f} | "
            f"{ocell} | {ofeas} | {o['seconds']:.1f} |")
    count = len(rows)
    mean = sum(gaps) / count if count else float("nan")
    omean = sum(ogaps) / len(ogaps) if ogaps else float("nan")
    lines += [
        "",
        (f"dosi: {feasible}/{count} plans feasible, mean gap to BKS **{mean:.2f}%** "
         f"(max {max(gaps):.2f}%) with {limit:g} s per instance. OR-Tools: {ofeasible}/{count} "
         f"feasible (the others leave requests unserved), mean gap over its feasible plans "
         f"{omean:.2f}%. dosi is strictly better (lower cost, or feasible where OR-Tools "
         f"is not) on {better}/{count} instances."),
        "",
    ]
    return "\n".join(lines)


def write_section(path: Path, text: str) -> None:
    old = path.read_text(encoding="utf-8") if path.exists() else "# Performance\n"
    start = old.find(TITLE)
    if start >= 0:
        nxt = old.find("\n## ", start + len(TITLE))
        old = old[:start].rstrip("\n") + ("\n" + old[nxt:] if nxt >= 0 else "")
    path.write_text(old.rstrip("\n") + "\n\n" + text, encoding="utf-8")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--time-limit", type=float, default=60.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--instances", default=None, help="comma-separated names (default: all)")
    ap.add_argument("--out", default=None, help="markdown file whose DRT section to replace")
    ap.add_argument("--results", default=None, help="also write raw results (JSON)")
    args = ap.parse_args()
    bks = json.loads((DATA / "bks.json").read_text())["bks"]
    names = args.instances.split(",") if args.instances else list(bks)
    load_start = os.getloadavg()[0]
    rows = []
    for name in names:
        row = run_one(name, args.time_limit, args.seed, bks[name])
        rows.append(row)
        d, o = row["dosi"], row["ortools"]
        print(f"{name}: dosi {d['cost']:.2f} ({gap(d['cost'], row['bks']):+.2f}%, "
              f"feasible {d['feasible']}) | OR-Tools {o['cost']:.2f} "
              f"(feasible {o['feasible']}, unserved {o['unserved']})", flush=True)
        if args.results:
            Path(args.results).write_text(json.dumps(rows, indent=1))
    text = render(rows, args.time_limit, args.seed, (load_start, os.getloadavg()[0]))
    print(text)
    if args.out:
        write_section(Path(args.out), text)


if __name__ == "__main__":
    main()
