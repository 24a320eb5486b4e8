"""Privacy by design on both stores: a declared identifier is pseudonymised before
anything is stored (the raw value is in no table, file or WAL), pseudonyms link the
same person under one key and stop linking after a rotation; callers without
clearance get coarsened locations and times and cannot filter on exact ones."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import orjson
import pytest

from dosi.api.app import create_app
from dosi.security.policy import Rule
from dosi.settings import Settings
from tests.security.conftest import EX, store_url

TRIP, PASSENGER, FARE = EX + "Trip", EX + "passenger", EX + "fare"
LOCATION = "https://uri.etsi.org/ngsi-ld/location"
RAW = "Kim Minji 010-1234-5678"
E = "/ngsi-ld/v1/entities"


@pytest.fixture
async def hub(tmp_path: Path, backend: str) -> AsyncIterator[tuple[httpx.AsyncClient, Any, dict, str]]:
    url = await store_url(tmp_path, backend)
    app = create_app(Settings(store_url=url, auth=True, privacy=[{
        "type": TRIP, "pseudonymise": [PASSENGER], "location_grid": 0.01,
        "time_precision": "hour"}]))
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://hub") as c:
        sec = app.state.hub.security
        await sec.add_rule(Rule("consumer", frozenset({"read"}), type=TRIP))
        heads = {}
        for name in ("system-admin", "data-admin", "consumer"):
            cred, _ = await sec.create_client([name], None, name, name)
            heads[name] = {"Authorization": "Bearer " + (await sec.builtin.issue(cred))["access_token"]}
        yield c, app, heads, url


def trip(n: int, passenger: str = RAW) -> dict[str, Any]:
    return {"id": f"urn:ngsi-ld:Trip:{n}", "type": TRIP,
            PASSENGER: {"type": "Property", "value": passenger},
            FARE: {"type": "Property", "value": 1500, "observedAt": "2026-01-01T12:34:56Z"},
            "location": {"type": "GeoProperty", "observedAt": "2026-01-01T12:34:56Z",
                         "value": {"type": "Point", "coordinates": [126.97812, 37.56651]}}}


async def everything_stored(url: str, tmp_path: Path) -> bytes:
    if url.startswith("sqlite"):
        return b"".join(p.read_bytes() for p in tmp_path.glob("hub.db*"))
    import psycopg
    out = []
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        cur = await conn.execute("select tablename from pg_tables where schemaname = 'public'")
        for (name,) in await cur.fetchall():
            rows = await (await conn.execute(f'SELECT t::text FROM "{name}" t')).fetchall()
            out += [r[0] for r in rows]
    return "\n".join(out).encode()


async def test_the_raw_identifier_is_never_stored(hub: Any, tmp_path: Path) -> None:
    c, app, h, url = hub
    for n in (1, 2):
        r = await c.post(E, json=trip(n), headers=h["system-admin"])
        assert r.status_code == 201, r.text
    r = await c.post("/ngsi-ld/v1/temporal/entities", headers=h["system-admin"], json={
        "id": "urn:ngsi-ld:Trip:3", "type": TRIP,
        PASSENGER: [{"type": "Property", "value": RAW, "observedAt": "2026-01-02T00:00:00Z"}]})
    assert r.status_code in (201, 204), r.text
    await app.state.hub.audit.flush()
    assert b"Kim Minji" not in await everything_stored(url, tmp_path)
    got = [(await c.get(f"{E}/urn:ngsi-ld:Trip:{n}", headers=h["system-admin"])).json()
           for n in (1, 2)]
    p1, p2 = (g[PASSENGER]["value"] for g in got)
    assert p1.startswith("pseudo:1:") and p1 == p2  # one person, one pseudonym
    # the pseudonym cannot be checked against a guess without the key
    import hashlib
    assert hashlib.sha256(RAW.encode()).hexdigest()[:40] not in p1
    # writing the pseudonym back does not pseudonymise it twice
    r = await c.patch(f"{E}/urn:ngsi-ld:Trip:1/attrs", headers=h["system-admin"],
                      json={PASSENGER: {"type": "Property", "value": p1}})
    assert r.status_code == 204
    assert (await c.get(f"{E}/urn:ngsi-ld:Trip:1", headers=h["system-admin"])).json()[
        PASSENGER]["value"] == p1
    # a new key version: new pseudonyms no longer link to the old ones
    sec = app.state.hub.security
    assert await sec.rotate_privacy_key() == 2
    await sec.load_privacy_keys()
    assert (await c.post(E, json=trip(4), headers=h["system-admin"])).status_code == 201
    p4 = (await c.get(f"{E}/urn:ngsi-ld:Trip:4", headers=h["system-admin"])).json()[
        PASSENGER]["value"]
    assert p4.startswith("pseudo:2:") and p4.split(":")[2] != p1.split(":")[2]


async def test_coarsening_for_callers_without_clearance(hub: Any) -> None:
    c, _, h, _ = hub
    assert (await c.post(E, json=trip(1), headers=h["system-admin"])).status_code == 201
    exact = (await c.get(f"{E}/urn:ngsi-ld:Trip:1", headers=h["data-admin"])).json()
    assert exact["location"]["value"]["coordinates"] == [126.97812, 37.56651]
    assert exact[FARE]["observedAt"] == "2026-01-01T12:34:56Z"
    coarse = (await c.get(f"{E}/urn:ngsi-ld:Trip:1", headers=h["consumer"])).json()
    lon, lat = coarse["location"]["value"]["coordinates"]
    assert (round(lon, 3), round(lat, 3)) == (126.975, 37.565)  # the cell's centre
    assert coarse[FARE]["observedAt"] == "2026-01-01T12:00:00Z"
    assert coarse["location"]["observedAt"] == "2026-01-01T12:00:00Z"
    # no narrowing the exact place down with geo-queries
    near = (f"{E}?type={quote(TRIP)}&georel=near%3BmaxDistance%3D%3D5&geometry=Point"
            f"&coordinates={quote(orjson.dumps([126.97812, 37.56651]).decode())}")
    assert len((await c.get(near, headers=h["data-admin"])).json()) == 1
    r = await c.get(near, headers=h["consumer"])
    assert r.status_code == 200 and r.json() == []
    # history too
    r = await c.get("/ngsi-ld/v1/temporal/entities/urn:ngsi-ld:Trip:1", headers=h["consumer"])
    assert r.status_code == 200, r.text
    body = r.text
    assert "126.97812" not in body and "12:34:56" not in body
