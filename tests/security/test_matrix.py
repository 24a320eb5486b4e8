"""The authorisation matrix: every endpoint family x every role, allowed or not, and
what an allowed caller gets to see; plus tenant isolation. On both stores.

Roles (conftest): system-admin, data-admin, connectivity-admin, consumer (reads and
subscribes to Vehicles, never their ``driver``; confined to the default tenant),
consumer-b (same rules, confined to tenant cityb) and anonymous callers (the public
role: Parking in the default tenant only)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tests.security.conftest import (
    CITYB,
    CTX,
    DRIVER,
    PARKING,
    SPEED,
    VEHICLE,
    Hub,
    parking,
    vehicle,
)

E = "/ngsi-ld/v1/entities"
ALLOWED = -1  # any answer but 401, 403 or 5xx
ROLES = ["system-admin", "data-admin", "connectivity-admin", "consumer", "anonymous"]
ADMINS = ["system-admin", "data-admin", "connectivity-admin"]
LD = {"Content-Type": "application/ld+json"}


def ids(r: httpx.Response) -> set[str]:
    return {e["id"] for e in r.json()}


def keys(r: httpx.Response) -> set[str]:
    out: set[str] = set()
    for e in r.json() if isinstance(r.json(), list) else [r.json()]:
        out |= set(e)
    return out


Call = Callable[[Hub, str, int], Awaitable[httpx.Response]]
Check = Callable[[httpx.Response], Any]
ALL_V = {"urn:ngsi-ld:Vehicle:1", "urn:ngsi-ld:Vehicle:2"}


def get(path: str, tenant: str | None = None) -> Call:
    async def call(h: Hub, who: str, n: int) -> httpx.Response:
        return await h.client.get(path, headers=h.as_(who, tenant))
    return call


def send(method: str, path: str, body: Callable[[int], Any] | None = None,
         ld: bool = True) -> Call:
    async def call(h: Hub, who: str, n: int) -> httpx.Response:
        headers = {**h.as_(who), **(LD if ld else {})}
        return await h.client.request(method, path.format(n=n), headers=headers,
                                      json=None if body is None else body(n))
    return call


def full_vehicles(r: httpx.Response) -> None:
    assert ids(r) == ALL_V and DRIVER in keys(r)


def vehicles_without_driver(r: httpx.Response) -> None:
    assert ids(r) == ALL_V and DRIVER not in keys(r) and SPEED in keys(r)


def nothing(r: httpx.Response) -> None:
    assert r.json() == []


def created_vehicle(n: int) -> dict[str, Any]:
    return vehicle(100 + n)


CASES: dict[str, tuple[Call, dict[str, int | tuple[int, Check]]]] = {
    "query vehicles": (get(f"{E}?type={quote(VEHICLE)}"), {
        "system-admin": (200, full_vehicles), "data-admin": (200, full_vehicles),
        "connectivity-admin": (200, full_vehicles), "consumer": (200, vehicles_without_driver),
        "anonymous": (200, nothing)}),
    "query parking": (get(f"{E}?type={quote(PARKING)}"), {
        "system-admin": 200, "data-admin": 200, "connectivity-admin": 200,
        "consumer": (200, nothing),
        "anonymous": (200, lambda r: ids(r) == {"urn:ngsi-ld:Parking:1"} or pytest.fail())}),
    "retrieve vehicle": (get(f"{E}/urn:ngsi-ld:Vehicle:1"), {
        "system-admin": (200, lambda r: DRIVER in r.json() or pytest.fail()),
        "data-admin": 200, "connectivity-admin": 200,
        "consumer": (200, lambda r: DRIVER not in r.json() or pytest.fail()),
        "anonymous": 404}),
    "q on a hidden attribute": (get(f"{E}?type={quote(VEHICLE)}&q={quote(DRIVER)}==%22person%201%22"), {
        "system-admin": (200, lambda r: ids(r) == {"urn:ngsi-ld:Vehicle:1"} or pytest.fail(r.text)),
        "data-admin": 200, "connectivity-admin": 200,
        "consumer": (200, nothing), "anonymous": (200, nothing)}),
    "create entity": (send("POST", E, created_vehicle), {
        "system-admin": 201, "data-admin": 201, "connectivity-admin": 201, "consumer": 403,
        "anonymous": 401}),
    "update attributes": (send("PATCH", f"{E}/urn:ngsi-ld:Vehicle:1/attrs",
                               lambda n: {"speed": {"type": "Property", "value": n}, **CTX}), {
        "system-admin": 204, "data-admin": 204, "connectivity-admin": 204, "consumer": 403,
        "anonymous": 401}),
    "delete entity": (send("DELETE", E + "/urn:ngsi-ld:Parking:{n}", ld=False), {
        "system-admin": 204, "data-admin": 204, "connectivity-admin": 403, "consumer": 403,
        "anonymous": 401}),
    "batch upsert": (send("POST", "/ngsi-ld/v1/entityOperations/upsert",
                          lambda n: [created_vehicle(n + 10)]), {
        "system-admin": 201, "data-admin": 201, "connectivity-admin": 201, "consumer": 403,
        "anonymous": 401}),
    "batch query": (send("POST", "/ngsi-ld/v1/entityOperations/query",
                         lambda n: {"type": "Query", "entities": [{"type": VEHICLE}]},
                         ld=False), {
        "system-admin": (200, full_vehicles), "data-admin": 200, "connectivity-admin": 200,
        "consumer": (200, vehicles_without_driver), "anonymous": (200, nothing)}),
    "types": (get("/ngsi-ld/v1/types?details=true"), {
        "system-admin": (200, lambda r: {t["id"] for t in r.json()} >= {VEHICLE, PARKING}
                         or pytest.fail()),
        "data-admin": 200, "connectivity-admin": 200,
        "consumer": (200, lambda r: ([t["id"] for t in r.json()] == [VEHICLE]
                                     and DRIVER not in str(r.json())) or pytest.fail(r.text)),
        "anonymous": (200, lambda r: [t["id"] for t in r.json()] == [PARKING]
                      or pytest.fail(r.text))}),
    "attributes": (get("/ngsi-ld/v1/attributes?details=true"), {
        "system-admin": (200, lambda r: DRIVER in str(r.json()) or pytest.fail()),
        "data-admin": 200, "connectivity-admin": 200,
        "consumer": (200, lambda r: (DRIVER not in str(r.json()) and SPEED in str(r.json()))
                     or pytest.fail(r.text)),
        "anonymous": (200, lambda r: SPEED not in str(r.json()) or pytest.fail(r.text))}),
    "temporal retrieve": (get("/ngsi-ld/v1/temporal/entities/urn:ngsi-ld:Vehicle:1"), {
        "system-admin": (200, lambda r: DRIVER in r.json() or pytest.fail(r.text)),
        "data-admin": 200, "connectivity-admin": 200,
        "consumer": (200, lambda r: DRIVER not in r.json() and SPEED in r.json()
                     or pytest.fail(r.text)),
        "anonymous": 404}),
    "subscribe to vehicles": (send("POST", "/ngsi-ld/v1/subscriptions", lambda n: {
        "type": "Subscription", "entities": [{"type": "Vehicle"}],
        "notification": {"endpoint": {"uri": "http://127.0.0.1:9/x"}}, **CTX}), {
        "system-admin": 201, "data-admin": 201, "connectivity-admin": 201, "consumer": 201,
        "anonymous": 401}),
    "subscribe to parking": (send("POST", "/ngsi-ld/v1/subscriptions", lambda n: {
        "type": "Subscription", "entities": [{"type": "Parking"}],
        "notification": {"endpoint": {"uri": "http://127.0.0.1:9/x"}}, **CTX}), {
        "system-admin": 201, "data-admin": 201, "connectivity-admin": 201, "consumer": 403,
        "anonymous": 401}),
    "subscribe watching the driver": (send("POST", "/ngsi-ld/v1/subscriptions", lambda n: {
        "type": "Subscription", "entities": [{"type": "Vehicle"}], "watchedAttributes": ["driver"],
        "notification": {"endpoint": {"uri": "http://127.0.0.1:9/x"}}, **CTX}), {
        "system-admin": 201, "data-admin": 201, "connectivity-admin": 201, "consumer": 403,
        "anonymous": 401}),
    "add a @context": (send("POST", "/ngsi-ld/v1/jsonldContexts",
                            lambda n: {"@context": {"x": f"https://example.org/x{n}"}}, ld=False), {
        "system-admin": 201, "data-admin": 201, "connectivity-admin": 201, "consumer": 403,
        "anonymous": 401}),
    "list @contexts": (get("/ngsi-ld/v1/jsonldContexts"), {
        "system-admin": 200, "data-admin": 200, "connectivity-admin": 200, "consumer": 200,
        "anonymous": 200}),
    "audit log": (get("/dosi/v1/audit"), {
        "system-admin": 200, "data-admin": 403, "connectivity-admin": 403, "consumer": 403,
        "anonymous": 401}),
    "who am I": (get("/dosi/v1/auth/whoami"), {
        "system-admin": 200, "data-admin": 200, "connectivity-admin": 200, "consumer": 200,
        "anonymous": 401}),
    "dead letters of a dataset": (get("/dosi/v1/datasets/none/deadletters"), {
        "system-admin": 404, "data-admin": 404, "connectivity-admin": 404, "consumer": 403,
        "anonymous": 401}),
    "API keys of a dataset": (send("POST", "/dosi/v1/datasets/none/keys",
                                   lambda n: {"source": "x"}, ld=False), {
        "system-admin": 404, "data-admin": 404, "connectivity-admin": 404, "consumer": 403,
        "anonymous": 401}),
    "dataset catalog": (get("/dosi/v1/datasets"), {r: 200 for r in ROLES}),
    "DCAT catalog": (get("/dosi/v1/catalog"), {r: 200 for r in ROLES}),
    "quality of every dataset": (get("/dosi/v1/quality"), {
        "system-admin": 200, "data-admin": 200, "connectivity-admin": 200, "consumer": 403,
        "anonymous": 401}),
    "create a dataset": (send("POST", "/dosi/v1/datasets", lambda n: {"id": f"ds{n}"},
                              ld=False), {
        "system-admin": ALLOWED, "data-admin": ALLOWED, "connectivity-admin": 403,
        "consumer": 403, "anonymous": 401}),
    "custom models": (get("/dosi/v1/models"), {r: 200 for r in ROLES}),
    "ingest push (its own dataset keys)": (send("POST", "/dosi/v1/ingest/none",
                                               lambda n: [{}], ld=False), {
        "system-admin": 401, "data-admin": 401, "connectivity-admin": 401, "consumer": 401,
        "anonymous": 401}),
    "health": (get("/health"), {r: 200 for r in ROLES}),
}


@pytest.mark.parametrize("case", list(CASES))
async def test_matrix(secured: Hub, case: str) -> None:
    call, expected = CASES[case]
    assert set(expected) == set(ROLES)
    for n, who in enumerate(ROLES, start=1):
        if case == "delete entity":  # each role deletes a parking of its own
            r = await secured.client.post(E, json=parking(n + 10), headers={
                **secured.as_("system-admin"), **LD})
            assert r.status_code == 201
        r = await call(secured, who, n + 10 if case == "delete entity" else n)
        want = expected[who]
        status, check = want if isinstance(want, tuple) else (want, None)
        if status == ALLOWED:
            assert r.status_code not in (401, 403) and r.status_code < 500, \
                f"{case} as {who}: {r.status_code} {r.text}"
            continue
        assert r.status_code == status, f"{case} as {who}: {r.status_code} {r.text}"
        if status >= 400:
            body = r.json()
            assert body["status"] == status and body["type"], body
        if check is not None:
            check(r)


async def test_counts_and_pages_only_count_what_the_caller_sees(secured: Hub) -> None:
    """The type restriction is part of the query: the count and a page of size 1
    are about visible entities only (Parking is invisible to the consumer)."""
    r = await secured.client.get(f"{E}?type=*&count=true&limit=1",
                                 headers=secured.as_("consumer"))
    assert r.status_code == 200
    assert r.headers["NGSILD-Results-Count"] == "2"
    assert ids(r) <= ALL_V and len(r.json()) == 1
    r = await secured.client.get(f"{E}?type=*&count=true&limit=1&offset=1",
                                 headers=secured.as_("consumer"))
    assert len(r.json()) == 1 and ids(r) <= ALL_V
    r = await secured.client.get(f"{E}?type=*&count=true", headers=secured.as_("system-admin"))
    assert r.headers["NGSILD-Results-Count"] == "3"


async def test_tenant_isolation(secured: Hub) -> None:
    c = secured.client
    # consumer is confined to the default tenant, consumer-b to cityb
    r = await c.get(f"{E}?type={quote(VEHICLE)}", headers=secured.as_("consumer", CITYB))
    assert r.status_code == 403
    r = await c.get(f"{E}/urn:ngsi-ld:Vehicle:9", headers=secured.as_("consumer", CITYB))
    assert r.status_code == 403
    r = await c.get(f"{E}?type={quote(VEHICLE)}", headers=secured.as_("consumer-b", CITYB))
    assert r.status_code == 200 and ids(r) == {"urn:ngsi-ld:Vehicle:9"}
    assert DRIVER not in keys(r)
    r = await c.get(f"{E}?type={quote(VEHICLE)}", headers=secured.as_("consumer-b"))
    assert r.status_code == 403
    # the public's parking rule names the default tenant only
    r = await c.get(f"{E}?type={quote(PARKING)}", headers=secured.as_("anonymous", CITYB))
    assert r.status_code == 401
    # an admin sees both, each in its own tenant
    r = await c.get(f"{E}?type={quote(VEHICLE)}", headers=secured.as_("data-admin", CITYB))
    assert ids(r) == {"urn:ngsi-ld:Vehicle:9"}


async def test_subscriptions_belong_to_their_subscriber(secured: Hub) -> None:
    c = secured.client
    body = {"type": "Subscription", "entities": [{"type": VEHICLE}],
            "notification": {"endpoint": {"uri": "http://127.0.0.1:9/x"}}}
    for who, sid in (("consumer", "urn:ngsi-ld:Subscription:c"),
                     ("connectivity-admin", "urn:ngsi-ld:Subscription:k")):
        r = await c.post("/ngsi-ld/v1/subscriptions", json={**body, "id": sid},
                         headers=secured.as_(who))
        assert r.status_code == 201, r.text
    r = await c.get("/ngsi-ld/v1/subscriptions", headers=secured.as_("consumer"))
    assert [s["id"] for s in r.json()] == ["urn:ngsi-ld:Subscription:c"]
    r = await c.get("/ngsi-ld/v1/subscriptions/urn:ngsi-ld:Subscription:k",
                    headers=secured.as_("consumer"))
    assert r.status_code == 404
    r = await c.delete("/ngsi-ld/v1/subscriptions/urn:ngsi-ld:Subscription:k",
                       headers=secured.as_("consumer"))
    assert r.status_code == 404
    r = await c.get("/ngsi-ld/v1/subscriptions", headers=secured.as_("data-admin"))
    assert {s["id"] for s in r.json()} == {"urn:ngsi-ld:Subscription:c",
                                           "urn:ngsi-ld:Subscription:k"}
    assert all("_subscriber" not in s for s in r.json())
