"""Fuzz the running API from its OpenAPI document (schemathesis + hypothesis) with a
valid token and with forged ones, and report figures (docs/security.md).

    .venv/bin/python scripts/fuzz_api.py [--examples N] [--port PORT] [--store URL]

Starts ``dosi serve`` with authentication on, on a fresh SQLite file by default,
creates an admin and a consumer client, then for each credential variant draws N
random requests per operation. It counts answers by status and fails (exit 1) on
any 5xx, or on a forged or missing credential getting anything but 401 from a
protected route (a leak), or a consumer seeing an attribute its rules hide.
"""

from __future__ import annotations

import argparse
import base64
import collections
import hashlib
import hmac
import json
import os
import subprocess
import sys
import tempfile
import time
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable

PUBLIC = ("/health", "/docs", "/openapi.json", "/dosi/v1/auth/token", "/dosi/v1/auth/jwks.json")
SELF_CHECKED = ("/dosi/v1/ingest/",)  # the HTTP push adapter checks per-dataset keys
HIDDEN = "urn:fuzz:secret"


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def cli(store: str, *args: str) -> str:
    out = subprocess.run([sys.executable, "-m", "dosi.cli", "auth", "--store", store, *args],
                         check=True, capture_output=True, text=True)
    return out.stdout.strip()


def forged_tokens(base: str, valid: str) -> dict[str, str]:
    header = jwt.get_unverified_header(valid)
    claims = jwt.decode(valid, options={"verify_signature": False})
    jwks = httpx.get(base + "/dosi/v1/auth/jwks.json").json()
    public = json.dumps(jwks["keys"][0]).encode()
    attacker = ec.generate_private_key(ec.SECP256R1())
    now = int(time.time())
    head, _, sig = valid.split(".")
    admin_claims = {**claims, "roles": ["system-admin"]}
    hs_input = b64(json.dumps({"alg": "HS256", "kid": header["kid"]}).encode()) + "." + \
        b64(json.dumps(admin_claims).encode())
    return {
        "expired": jwt.encode({**claims, "iat": now - 7200, "exp": now - 3600}, attacker,
                              algorithm="ES256", headers={"kid": header["kid"]}),
        "alg none": b64(json.dumps({"alg": "none", "kid": header["kid"]}).encode()) + "."
        + b64(json.dumps(admin_claims).encode()) + ".",
        "HS256 with the public key": hs_input + "." + b64(
            hmac.new(public, hs_input.encode(), hashlib.sha256).digest()),
        "tampered payload": f"{head}.{b64(json.dumps(admin_claims).encode())}.{sig}",
        "attacker's key, same kid": jwt.encode(admin_claims, attacker, algorithm="ES256",
                                               headers={"kid": header["kid"]}),
        "wrong issuer": jwt.encode({**admin_claims, "iss": "https://evil.example"}, attacker,
                                   algorithm="ES256", headers={"kid": "evil"}),
        "unknown kid": jwt.encode(admin_claims, attacker, algorithm="ES256",
                                  headers={"kid": "nope"}),
    }


QUERY_PARAMS = ("type", "id", "idPattern", "q", "scopeQ", "attrs", "pick", "omit", "georel",
                "geometry", "coordinates", "geoproperty", "options", "format", "limit",
                "offset", "count", "timerel", "timeAt", "endTimeAt", "lastN", "aggrMethods",
                "aggrPeriodDuration", "lang", "orderBy", "join", "joinLevel", "datasetId",
                "local", "details", "csf", "expandValues")
ROUTES = ("/ngsi-ld/v1/entities", "/ngsi-ld/v1/temporal/entities", "/ngsi-ld/v1/types",
          "/ngsi-ld/v1/attributes", "/ngsi-ld/v1/entities/urn:ngsi-ld:Thing:1",
          "/ngsi-ld/v1/temporal/entities/urn:ngsi-ld:Thing:1", "/ngsi-ld/v1/subscriptions")
SNIPPETS = ("temperature>1", "temperature==1..3", "(a==1|b!=2);c", "Thing", "*", "near;maxDistance==10",
            "Point", "[1,2]", "[[[0,0],[1,0],[1,1],[0,0]]]", "between", "2020-01-01T00:00:00Z",
            HIDDEN, f"{HIDDEN}==\"secret-1\"", "keyValues", "sysAttrs", "urn:ngsi-ld:Thing:1",
            "-1", "0", "99999999999", "%00", "\u0000", "'", "\"", "((((", "a.b[c]", "..", "")


def random_params(base: str, headers: dict[str, str], n: int, problems: list[str],
                  name: str) -> collections.Counter[int]:
    """Random query parameters of NGSI-LD's vocabulary on the read routes (the OpenAPI
    document leaves these free-form, so schemathesis alone rarely sends them)."""
    from hypothesis import strategies as st

    counts: collections.Counter[int] = collections.Counter()
    value = st.one_of(st.sampled_from(SNIPPETS), st.text(max_size=40),
                      st.lists(st.sampled_from(SNIPPETS), max_size=4).map(",".join))
    params = st.dictionaries(st.sampled_from(QUERY_PARAMS), value, max_size=6)

    @given(route=st.sampled_from(ROUTES), query=params)
    @settings(max_examples=n, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    def run(route: str, query: dict[str, str]) -> None:
        try:
            resp = httpx.get(base + route, params=query, headers=headers, timeout=30)
        except httpx.HTTPError as exc:
            problems.append(f"{name} GET {route} {query}: {exc}")
            return
        counts[resp.status_code] += 1
        if resp.status_code >= 500:
            problems.append(f"{name} GET {route} {query}: {resp.status_code} {resp.text[:200]}")
        if name == "valid consumer" and HIDDEN in resp.text and HIDDEN not in str(query):
            problems.append(f"LEAK hidden attribute: GET {route} {query}")
        if name == "no credentials" and resp.status_code != 401:
            problems.append(f"LEAK {name} GET {route}: {resp.status_code}")

    run()
    return counts


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--examples", type=int, default=20)
    ap.add_argument("--port", type=int, default=1035)
    ap.add_argument("--store", default=None)
    args = ap.parse_args()
    import schemathesis
    from schemathesis import GenerationMode

    tmp = tempfile.mkdtemp(prefix="dosi-fuzz-")
    store = args.store or f"sqlite:///{tmp}/fuzz.db"
    base = f"http://127.0.0.1:{args.port}"
    env = {**os.environ, "DOSI_AUTH": "true", "DOSI_STORE_URL": store}
    admin = json.loads(cli(store, "client", "create", "--roles", "system-admin"))["client_id"]
    consumer = json.loads(cli(store, "client", "create", "--roles", "consumer"))["client_id"]
    cli(store, "rule", "add", "--role", "consumer", "--ops", "read,subscribe")
    cli(store, "rule", "add", "--role", "consumer", "--ops", "read,subscribe",
        "--attribute", HIDDEN, "--deny")
    tokens = {"valid admin": cli(store, "token", admin),
              "valid consumer": cli(store, "token", consumer)}
    proc = subprocess.Popen([sys.executable, "-m", "dosi.cli", "serve", "--port",
                             str(args.port)], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                httpx.get(base + "/health", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        auth = {"Authorization": "Bearer " + tokens["valid admin"]}
        for i in range(5):
            httpx.post(base + "/ngsi-ld/v1/entities", headers=auth, json={
                "id": f"urn:ngsi-ld:Thing:{i}", "type": "Thing",
                "temperature": {"type": "Property", "value": i},
                HIDDEN: {"type": "Property", "value": f"secret-{i}"}}).raise_for_status()
        tokens.update(forged_tokens(base, tokens["valid admin"]))
        variants: dict[str, dict[str, str]] = {n: {"Authorization": f"Bearer {t}"}
                                               for n, t in tokens.items()}
        variants["no credentials"] = {}
        variants["bad API key"] = {"X-API-Key": "dosi_abc_def"}
        schema = schemathesis.openapi.from_url(base + "/openapi.json")
        figures: dict[str, collections.Counter[int]] = {}
        problems: list[str] = []
        unsatisfiable: set[str] = set()
        started = time.monotonic()
        for name, headers in variants.items():
            counts: collections.Counter[int] = collections.Counter()
            forged = not name.startswith("valid")
            for result in schema.get_all_operations():
                op = result.ok()
                if op.path.endswith("/stream"):
                    continue  # an endless response; covered by tests/security

                def check(case: Any, headers: dict[str, str], op: Any, counts: Any,
                          forged: bool, name: str) -> None:
                    try:
                        resp = case.call(base_url=base, headers=headers, timeout=30)
                    except Exception as exc:  # noqa: BLE001 - a request that cannot be sent
                        counts[0] += 1
                        if "Connection" in type(exc).__name__:
                            problems.append(f"{name} {op.label}: {exc}")
                        return
                    counts[resp.status_code] += 1
                    if resp.status_code >= 500:
                        problems.append(f"{name} {op.label}: {resp.status_code} {resp.text[:200]}")
                    public = op.path.startswith(PUBLIC)
                    if op.path.startswith(SELF_CHECKED):  # its own keys: never a 2xx
                        if forged and resp.status_code < 300:
                            problems.append(f"LEAK {name} {op.label}: {resp.status_code}")
                    elif forged and not public and resp.status_code != 401:
                        problems.append(f"LEAK {name} {op.label}: {resp.status_code}")
                    if name == "valid consumer" and HIDDEN in resp.text:
                        problems.append(f"LEAK hidden attribute in {op.label}")

                def make(h: dict[str, str], o: Any, c: Any, f: bool, n: str, mode: Any) -> Any:
                    @given(case=o.as_strategy(mode))
                    @settings(max_examples=args.examples, deadline=None, database=None,
                              phases=[Phase.generate], suppress_health_check=list(HealthCheck))
                    def run(case: Any) -> None:
                        check(case, h, o, c, f, n)
                    return run

                for mode in (GenerationMode.POSITIVE,):
                    try:
                        make(headers, op, counts, forged, name, mode)()
                    except Unsatisfiable:  # the generator found no request for it
                        unsatisfiable.add(f"{op.label} ({mode.value})")
            figures[name] = counts
        for name in ("valid admin", "valid consumer", "no credentials"):
            figures[f"{name}, random NGSI-LD parameters"] = random_params(
                base, variants[name], args.examples * 20, problems, name)
        seconds = time.monotonic() - started
    finally:
        proc.terminate()
        proc.wait(10)
    total = sum(sum(c.values()) for c in figures.values())
    print(f"schemathesis {schemathesis.__version__ if hasattr(schemathesis, '__version__') else ''}"
          f" {len(list(schema.get_all_operations()))} operations, {args.examples} examples per "
          f"operation and credential, {args.examples * 20} random parameter sets per caller, {total} requests in {seconds:.0f} s")
    print("| credential | requests | answers by status |")
    print("|---|---:|---|")
    for name, counts in figures.items():
        spread = ", ".join(f"{k}: {v}" for k, v in sorted(counts.items()))
        print(f"| {name} | {sum(counts.values())} | {spread} |")
    if unsatisfiable:
        print(f"operations the generator could not satisfy: {', '.join(sorted(unsatisfiable))}")
    print(f"5xx or leaks: {len(problems)}")
    for p in problems[:50]:
        print("  " + p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
