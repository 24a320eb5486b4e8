"""What security costs on reads: the same hub and data with authentication off and
on (a system admin's token, and a consumer whose rules hide one attribute, the path
that filters queries and strips attributes), in the same run, as ratios.

usage: python bench/security.py [--entities 10000] [--seconds 5] [--rounds 3] [--store URL]

One uvicorn process per configuration; wrk drives it from the other core. Not a
test: nothing here asserts timing. Results go in docs/security.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import PY, free_port, load_entities, start, stop, wait_up

TYPE = "https://uri.etsi.org/ngsi-ld/default-context/TrafficFlowObserved"
HIDDEN = "https://uri.etsi.org/ngsi-ld/default-context/laneId"
RETRIEVE = "/ngsi-ld/v1/entities/urn:ngsi-ld:TrafficFlowObserved:bench-4242"
QUERY = "/ngsi-ld/v1/entities?type=TrafficFlowObserved&q=averageVehicleSpeed%3E60&limit=100"


def wrk(url: str, seconds: int, token: str | None) -> float:
    import re

    cmd = ["wrk", "-t1", "-c32", f"-d{seconds}s"]
    if token:
        cmd += ["-H", f"Authorization: Bearer {token}"]
    out = subprocess.run(cmd + [url], capture_output=True, text=True, check=True).stdout
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if bad and int(bad.group(1)) > 0:
        raise RuntimeError(f"{bad.group(0)} from {url}")
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    assert m, out
    return float(m.group(1))


def auth(store: str, *args: str) -> str:
    return subprocess.run([PY, "-m", "dosi.cli", "auth", "--store", store, *args],
                          capture_output=True, text=True, check=True).stdout.strip()


def measure(store: str, env: dict[str, str], token: str | None, seconds: int) -> dict[str, float]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    hub = start([PY, "-m", "dosi.cli", "serve", "--port", str(port), "--store", store], env)
    try:
        wait_up(base + "/health")
        return {"retrieve": wrk(base + RETRIEVE, seconds, token),
                "query": wrk(base + QUERY, seconds, token)}
    finally:
        stop(hub)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--entities", type=int, default=10_000)
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--store", default=None)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="dosi-bench-sec-"))
    store = args.store or f"sqlite:///{tmp}/bench.db"
    off = {"DOSI_AUTH": "false", "DOSI_NOTIFY": "false"}
    on = {"DOSI_AUTH": "true", "DOSI_NOTIFY": "false"}
    port = free_port()
    hub = start([PY, "-m", "dosi.cli", "serve", "--port", str(port), "--store", store],
                {**off, "DOSI_MAX_BATCH_SIZE": "10000"})
    try:
        wait_up(f"http://127.0.0.1:{port}/health")
        load_entities(f"http://127.0.0.1:{port}", args.entities)
    finally:
        stop(hub)
    admin = json.loads(auth(store, "client", "create", "--roles", "system-admin"))["client_id"]
    consumer = json.loads(auth(store, "client", "create", "--roles", "consumer"))["client_id"]
    auth(store, "rule", "add", "--role", "consumer", "--ops", "read", "--type", TYPE)
    auth(store, "rule", "add", "--role", "consumer", "--ops", "read", "--type", TYPE,
         "--attribute", HIDDEN, "--deny")
    configs = {
        "auth off": (off, None),
        "auth on, system admin": (on, auth(store, "token", admin)),
        "auth on, consumer with an attribute rule": (on, auth(store, "token", consumer)),
    }
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in configs}
    for _ in range(args.rounds):  # interleaved, so that drift hits every configuration
        for name, (env, token) in configs.items():
            runs[name].append(measure(store, env, token, args.seconds))
    results = {name: {k: statistics.median(r[k] for r in rs) for k in rs[0]}
               for name, rs in runs.items()}
    base = results["auth off"]
    print(f"{args.entities} entities on {store.split(':')[0]}, wrk -t1 -c32 -d{args.seconds}s, "
          f"median of {args.rounds} interleaved rounds")
    print("| configuration | retrieve req/s | ratio | query (100/page) req/s | ratio |")
    print("|---|---:|---:|---:|---:|")
    for name, r in results.items():
        print(f"| {name} | {r['retrieve']:.0f} | {r['retrieve'] / base['retrieve']:.2f} "
              f"| {r['query']:.0f} | {r['query'] / base['query']:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
