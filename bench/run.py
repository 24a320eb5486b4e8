"""Hub benchmarks: each figure beside its ceiling measured in the same run.

usage: python bench/run.py [--stores sqlite,postgres] [--entities 100000] [--seconds 10]
                           [--out docs/performance.md]

The hub runs as one uvicorn process (one core); wrk drives it from the other core on
loopback. Ceilings: the same server stack (FastAPI on uvicorn, one process) answering a
constant JSON document of the same size, and the store's raw bulk insert of the same
rows (bench/raw_insert.py). Not a test: nothing here asserts timing.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PY = sys.executable


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_up(url: str, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


def start(cmd: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
    return subprocess.Popen(cmd, env={**os.environ, "DOSI_AUTH": "false", **(env or {})},
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


def wrk(url: str, seconds: int, script: str | None = None, conns: int = 32) -> float:
    """Requests per second that wrk measured (non-2xx answers make the run fail)."""
    cmd = ["wrk", "-t1", f"-c{conns}", f"-d{seconds}s", "--latency"]
    if script:
        cmd += ["-s", script]
    out = subprocess.run(cmd + [url], capture_output=True, text=True, check=True).stdout
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if bad and int(bad.group(1)) > 0:
        raise RuntimeError(f"{bad.group(0)} from {url}\n{out}")
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    assert m, out
    return float(m.group(1))


def entity(n: int) -> dict:
    return {
        "id": f"urn:ngsi-ld:TrafficFlowObserved:bench-{n}",
        "type": "TrafficFlowObserved",
        "intensity": {"type": "Property", "value": n % 500, "observedAt": "2026-11-01T00:00:00Z"},
        "averageVehicleSpeed": {"type": "Property", "value": (n * 7) % 120, "unitCode": "KMH"},
        "laneId": {"type": "Property", "value": n % 4},
        "refRoadSegment": {"type": "Relationship", "object": f"urn:ngsi-ld:RoadSegment:{n % 900}"},
        "location": {"type": "GeoProperty",
                     "value": {"type": "Point",
                               "coordinates": [126.9 + (n % 1000) / 5000, 37.5 + (n // 1000) / 5000]}},
    }


CREATE_LUA = """
counter = 0
math.randomseed(os.time() + %d)
request = function()
  counter = counter + 1
  local id = string.format("urn:ngsi-ld:TrafficFlowObserved:new-%%d-%%d", math.random(1, 1e9), counter)
  local body = '{"id":"' .. id .. '","type":"TrafficFlowObserved","intensity":{"type":"Property","value":12},' ..
    '"averageVehicleSpeed":{"type":"Property","value":40,"unitCode":"KMH"},' ..
    '"location":{"type":"GeoProperty","value":{"type":"Point","coordinates":[127.0,37.5]}}}'
  return wrk.format("POST", "/ngsi-ld/v1/entities", {["Content-Type"]="application/json"}, body)
end
"""

BATCH_LUA = """
counter = 0
math.randomseed(os.time() + %d)
local base = math.random(1, 1e6) * 10000
request = function()
  counter = counter + 1
  local parts = {}
  for i = 0, %d - 1 do
    local n = (counter * %d + i) %% %d
    parts[#parts+1] = '{"id":"urn:ngsi-ld:TrafficFlowObserved:bench-' .. n .. '","type":"TrafficFlowObserved",' ..
      '"intensity":{"type":"Property","value":' .. (counter %% 500) .. '},' ..
      '"averageVehicleSpeed":{"type":"Property","value":' .. (i %% 120) .. ',"unitCode":"KMH"},' ..
      '"location":{"type":"GeoProperty","value":{"type":"Point","coordinates":[127.0,37.5]}}}'
  end
  return wrk.format("POST", "/ngsi-ld/v1/entityOperations/upsert", {["Content-Type"]="application/json"},
    "[" .. table.concat(parts, ",") .. "]")
end
"""


def load_entities(base: str, n: int) -> None:
    with httpx.Client(base_url=base, timeout=300) as c:
        for start_n in range(0, n, 1000):
            batch = [entity(i) for i in range(start_n, min(n, start_n + 1000))]
            r = c.post("/ngsi-ld/v1/entityOperations/upsert", json=batch)
            assert r.status_code in (201, 204), r.text


def hub_cmd(store: str, port: int) -> list[str]:
    return [PY, "-m", "dosi.cli", "serve", "--port", str(port), "--store", store]


def bench_store(name: str, store: str, args: argparse.Namespace, tmp: Path) -> dict:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    hub = start(hub_cmd(store, port), {"DOSI_MAX_BATCH_SIZE": "10000"})
    res: dict = {}
    try:
        wait_up(base + "/health")
        t0 = time.time()
        load_entities(base, args.entities)
        res["load_s"] = time.time() - t0
        eid = "urn:ngsi-ld:TrafficFlowObserved:bench-4242"
        res["retrieve"] = wrk(f"{base}/ngsi-ld/v1/entities/{eid}", args.seconds)
        q = "type=TrafficFlowObserved&q=averageVehicleSpeed%3E60;laneId==2&limit=100"
        res["query"] = wrk(f"{base}/ngsi-ld/v1/entities?{q}", args.seconds)
        lua = tmp / "create.lua"
        lua.write_text(CREATE_LUA % port)
        res["create"] = wrk(base, args.seconds, str(lua))
        lua = tmp / "batch.lua"
        lua.write_text(BATCH_LUA % (port, 1000, 1000, args.entities))
        rps = wrk(base, args.seconds, str(lua), conns=2)
        res["batch_entities_per_s"] = rps * 1000
    finally:
        stop(hub)
    raw = subprocess.run([PY, str(HERE / "raw_insert.py"), store, "20000"], capture_output=True,
                         text=True, check=True)
    res["raw_insert_rows_per_s"] = float(raw.stdout.strip().splitlines()[-1])
    return res


def ceiling(args: argparse.Namespace) -> float:
    port = free_port()
    proc = start([PY, str(HERE / "ceiling_app.py"), str(port)])
    try:
        wait_up(f"http://127.0.0.1:{port}/doc")
        return wrk(f"http://127.0.0.1:{port}/doc", args.seconds)
    finally:
        stop(proc)


def report(results: dict, ceil: float, args: argparse.Namespace) -> str:
    cpu = platform.processor() or platform.machine()
    try:
        model = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                     if line.startswith("model name"))
    except (OSError, StopIteration):
        model = cpu
    lines = [
        "## Hub core (issue 2)",
        "",
        f"Measured {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC on {os.cpu_count()} cores "
        f"({model}), Python {platform.python_version()}. Hub: one uvicorn process (one core); "
        f"load: wrk, one thread, on loopback; {args.entities:,} entities stored; "
        f"{args.seconds} s per figure. Ceiling for HTTP figures: the same stack (FastAPI on "
        f"uvicorn, one process) answering a constant JSON document: **{ceil:,.0f} req/s**.",
        "",
        "| store | retrieve by id (req/s) | vs ceiling | query type+q, limit 100 (req/s) "
        "| single create (req/s) | batch upsert (entities/s) | raw bulk insert (rows/s) "
        "| batch vs raw |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        lines.append(
            f"| {name} | {r['retrieve']:,.0f} | {r['retrieve'] / ceil:.0%} | {r['query']:,.0f} "
            f"| {r['create']:,.0f} | {r['batch_entities_per_s']:,.0f} "
            f"| {r['raw_insert_rows_per_s']:,.0f} "
            f"| {r['batch_entities_per_s'] / r['raw_insert_rows_per_s']:.0%} |"
        )
    lines += [
        "",
        "Targets (issue 2): retrieve >= 50% of the ceiling; batch upsert >= 40% of the raw bulk "
        "insert; Orion-LD's published per-core figures: ~1,800 updates/s and ~4,200 reads/s.",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--stores", default="sqlite,postgres")
    ap.add_argument("--entities", type=int, default=100_000)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--pg", default=os.environ.get(
        "DOSI_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/dosi_bench"))
    ap.add_argument("--out", default=str(ROOT / "docs" / "performance.md"))
    args = ap.parse_args()
    if not shutil.which("wrk"):
        print("bench needs wrk (apt-get install wrk)", file=sys.stderr)
        return 2
    tmp = Path(tempfile.mkdtemp(prefix="dosi-bench-"))
    ceil = ceiling(args)
    results = {}
    for name in args.stores.split(","):
        if name == "sqlite":
            store = f"sqlite:///{tmp}/bench.db"
        else:
            subprocess.run([PY, str(HERE / "raw_insert.py"), args.pg, "reset"], check=True)
            store = args.pg
        results[name] = bench_store(name, store, args, tmp)
        print(name, json.dumps(results[name]), flush=True)
    text = report(results, ceil, args)
    print(text)
    out = Path(args.out)
    old = out.read_text() if out.exists() else "# Performance\n\n"
    marker = "## Hub core (issue 2)"
    if marker in old:
        head, _, rest = old.partition(marker)
        nxt = rest.find("\n## ")
        old = head + (rest[nxt + 1:] if nxt >= 0 else "")
    out.write_text(old.rstrip() + "\n\n" + text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
