"""Abuse resistance: per-client rate limits (429 with Retry-After), and complexity
limits on q, geoQ and temporal ranges with clear 400s. These hold with
authentication on or off."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import httpx
import orjson
import pytest

from dosi.api.app import create_app
from dosi.security.ratelimit import RateLimiter
from dosi.settings import Settings
from tests.security.conftest import Hub

E = "/ngsi-ld/v1/entities"


@pytest.fixture
async def plain(tmp_path: Any) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(Settings(auth=False, store_url=f"sqlite:///{tmp_path}/hub.db",
                              temporal_max_days=31,
                              q_max_depth=4, q_max_terms=20, geo_max_vertices=50,
                              max_body_bytes=10_000))
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://hub") as c:
        yield c


async def test_deep_or_long_q_is_400(plain: httpx.AsyncClient) -> None:
    deep = "a==0"
    for i in range(6):  # alternate ; and | so that nothing flattens
        deep = f"({deep}){';' if i % 2 else '|'}a{i}=={i}"
    r = await plain.get(f"{E}?type=T&q={quote(deep)}")
    assert r.status_code == 400 and "nested" in r.json()["detail"]
    long = ";".join(f"a{i}=={i}" for i in range(21))
    r = await plain.get(f"{E}?type=T&q={quote(long)}")
    assert r.status_code == 400 and "21 comparisons" in r.json()["detail"]
    r = await plain.post("/ngsi-ld/v1/entityOperations/query",
                         json={"type": "Query", "entities": [{"type": "T"}], "q": long})
    assert r.status_code == 400
    r = await plain.get(f"{E}?type=T&q={quote('(a==1;b==2)|c==3')}")
    assert r.status_code == 200


async def test_huge_geoq_polygon_is_400(plain: httpx.AsyncClient) -> None:
    ring = [[i * 0.001, (i % 2) * 0.001] for i in range(60)] + [[0, 0]]
    ring[0] = [0, 0]
    r = await plain.get(f"{E}?type=T&georel=within&geometry=Polygon"
                        f"&coordinates={quote(orjson.dumps([ring]).decode())}")
    assert r.status_code == 400 and "vertices" in r.json()["detail"], r.text


async def test_unbounded_temporal_range_is_400(plain: httpx.AsyncClient) -> None:
    t = "/ngsi-ld/v1/temporal/entities"
    r = await plain.get(f"{t}?type=T&timerel=after&timeAt=2020-01-01T00:00:00Z")
    assert r.status_code == 400 and "unbounded" in r.json()["detail"]
    r = await plain.get(f"{t}?type=T&timerel=between&timeAt=2020-01-01T00:00:00Z"
                        "&endTimeAt=2021-01-01T00:00:00Z")
    assert r.status_code == 400 and "longer" in r.json()["detail"]
    r = await plain.get(f"{t}?type=T&timerel=between&timeAt=2020-01-01T00:00:00Z"
                        "&endTimeAt=2020-01-15T00:00:00Z")
    assert r.status_code == 200, r.text
    r = await plain.get(f"{t}?type=T&timerel=after&timeAt=2020-01-01T00:00:00Z&lastN=5")
    assert r.status_code == 200, r.text


async def test_large_body_is_413(plain: httpx.AsyncClient) -> None:
    big = {"id": "urn:x:1", "type": "T", "p": {"type": "Property", "value": "x" * 20_000}}
    r = await plain.post(E, json=big)
    assert r.status_code == 413 and r.json()["type"].endswith("PayloadTooLarge")


async def test_rate_limit_per_client(tmp_path: Any) -> None:
    app = create_app(Settings(store_url=f"sqlite:///{tmp_path}/rl.db", auth=True,
                              rate_limit=0.5, rate_burst=3))
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://hub") as c:
        sec = app.state.hub.security
        heads = []
        for name in ("a", "b"):
            cred, _ = await sec.create_client(["consumer"], None, name, name)
            heads.append({"Authorization": "Bearer "
                          + (await sec.builtin.issue(cred))["access_token"]})
        codes = [(await c.get("/dosi/v1/auth/whoami", headers=heads[0])).status_code
                 for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        r = await c.get("/dosi/v1/auth/whoami", headers=heads[0])
        assert r.status_code == 429 and r.json()["type"].endswith("TooManyRequests")
        assert int(r.headers["retry-after"]) >= 1
        # another client has its own bucket
        assert (await c.get("/dosi/v1/auth/whoami", headers=heads[1])).status_code == 200


def test_token_bucket_refills_at_its_rate() -> None:
    rl = RateLimiter(rate=2.0, burst=2)
    assert [rl.take("x", now=0.0) for _ in range(3)] == [0, 0, 1]
    assert rl.take("x", now=0.5) == 0  # one token back after 0.5 s at 2/s
    assert rl.take("x", now=0.5) == 1
    assert rl.take("y", now=0.5) == 0


async def test_query_limits_hold_for_admins_too(secured: Hub) -> None:
    deep = "a==0"
    for i in range(14):
        deep = f"({deep}){';' if i % 2 else '|'}a{i}=={i}"
    r = await secured.client.post("/ngsi-ld/v1/entityOperations/query",
                                  headers=secured.as_("system-admin"),
                                  json={"type": "Query", "entities": [{"type": "T"}], "q": deep})
    assert r.status_code == 400 and "nested" in r.json()["detail"]
