"""Queries, batch operations, purge, discovery and contexts over HTTP."""

from __future__ import annotations

import httpx

BASE = "/ngsi-ld/v1"

SEOUL_CITY_HALL = [126.9779, 37.5663]
GANGNAM = [127.0276, 37.4979]


def sensor(n: int, pm10: float, coords: list[float], kind: str = "AirQualityObserved",
           **extra) -> dict:
    body = {
        "id": f"urn:ngsi-ld:{kind}:{n}",
        "type": kind,
        "pm10": {"type": "Property", "value": pm10, "unitCode": "GQ"},
        "stationName": {"type": "Property", "value": f"station-{n}"},
        "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": coords}},
    }
    body.update(extra)
    return body


async def seed(client: httpx.AsyncClient) -> None:
    items = [
        sensor(1, 20, SEOUL_CITY_HALL, scope="/Seoul/Jung"),
        sensor(2, 80, GANGNAM, scope="/Seoul/Gangnam"),
        sensor(3, 45, [126.98, 37.57]),
        sensor(4, 5, [129.07, 35.18], kind="NoiseLevelObserved"),
    ]
    r = await client.post(f"{BASE}/entityOperations/create", json=items)
    assert r.status_code == 201, r.text
    assert sorted(r.json()) == sorted(i["id"] for i in items)


async def ids(resp: httpx.Response) -> list[str]:
    assert resp.status_code == 200, resp.text
    return sorted(e["id"] for e in resp.json())


async def test_query_by_type_q_and_count(client):
    await seed(client)
    r = await client.get(f"{BASE}/entities", params={"type": "AirQualityObserved"})
    assert len(await ids(r)) == 3
    r = await client.get(f"{BASE}/entities",
                         params={"type": "AirQualityObserved", "q": "pm10>30", "count": "true"})
    assert await ids(r) == ["urn:ngsi-ld:AirQualityObserved:2", "urn:ngsi-ld:AirQualityObserved:3"]
    assert r.headers["ngsild-results-count"] == "2"
    r = await client.get(f"{BASE}/entities", params={"type": "AirQualityObserved",
                                                     "q": "pm10==10..50;stationName!=\"station-3\""})
    assert await ids(r) == ["urn:ngsi-ld:AirQualityObserved:1"]
    r = await client.get(f"{BASE}/entities",
                         params={"type": "AirQualityObserved,NoiseLevelObserved", "limit": 2})
    assert len(r.json()) == 2
    r = await client.get(f"{BASE}/entities", params={"type": "AirQualityObserved",
                                                     "limit": 0, "count": "true"})
    assert r.json() == [] and r.headers["ngsild-results-count"] == "3"


async def test_query_pagination_is_stable(client):
    await seed(client)
    seen = []
    for offset in range(0, 4):
        r = await client.get(f"{BASE}/entities", params={
            "type": "AirQualityObserved,NoiseLevelObserved", "limit": 1, "offset": offset})
        seen += [e["id"] for e in r.json()]
    assert len(seen) == 4 and len(set(seen)) == 4


async def test_query_errors(client):
    await seed(client)
    r = await client.get(f"{BASE}/entities")
    assert r.status_code == 400
    r = await client.get(f"{BASE}/entities", params={"type": "X", "q": "pm10>>3"})
    assert r.status_code == 400
    r = await client.get(f"{BASE}/entities", params={"type": "X", "limit": 5000})
    assert r.status_code == 403 and r.json()["type"].endswith("TooManyResults")
    r = await client.get(f"{BASE}/entities", params={"type": "X", "georel": "near;maxDistance==10"})
    assert r.status_code == 400


async def test_geo_queries(client):
    await seed(client)
    r = await client.get(f"{BASE}/entities", params={
        "type": "AirQualityObserved", "georel": "near;maxDistance==2000",
        "geometry": "Point", "coordinates": str(SEOUL_CITY_HALL)})
    assert await ids(r) == ["urn:ngsi-ld:AirQualityObserved:1", "urn:ngsi-ld:AirQualityObserved:3"]
    r = await client.get(f"{BASE}/entities", params={
        "type": "AirQualityObserved", "georel": "near;minDistance==2000",
        "geometry": "Point", "coordinates": str(SEOUL_CITY_HALL)})
    assert await ids(r) == ["urn:ngsi-ld:AirQualityObserved:2"]
    box = [[[127.0, 37.4], [127.1, 37.4], [127.1, 37.6], [127.0, 37.6], [127.0, 37.4]]]
    r = await client.get(f"{BASE}/entities", params={
        "type": "AirQualityObserved", "georel": "within", "geometry": "Polygon",
        "coordinates": str(box)})
    assert await ids(r) == ["urn:ngsi-ld:AirQualityObserved:2"]
    r = await client.post(f"{BASE}/entityOperations/query", json={
        "type": "Query", "entities": [{"type": "AirQualityObserved"}],
        "geoQ": {"georel": "within", "geometry": "Polygon", "coordinates": box}})
    assert await ids(r) == ["urn:ngsi-ld:AirQualityObserved:2"]


async def test_scope_query_and_geojson_collection(client):
    await seed(client)
    r = await client.get(f"{BASE}/entities", params={"type": "AirQualityObserved",
                                                     "scopeQ": "/Seoul/#"})
    assert await ids(r) == ["urn:ngsi-ld:AirQualityObserved:1", "urn:ngsi-ld:AirQualityObserved:2"]
    r = await client.get(f"{BASE}/entities", params={"type": "AirQualityObserved"},
                         headers={"Accept": "application/geo+json"})
    fc = r.json()
    assert fc["type"] == "FeatureCollection" and len(fc["features"]) == 3
    assert all(f["geometry"]["type"] == "Point" for f in fc["features"])


async def test_batch_upsert_update_merge_delete(client):
    await seed(client)
    upsert = [sensor(1, 33, SEOUL_CITY_HALL), sensor(9, 1, GANGNAM)]
    r = await client.post(f"{BASE}/entityOperations/upsert", json=upsert)
    assert r.status_code == 201 and r.json() == ["urn:ngsi-ld:AirQualityObserved:9"]
    got = (await client.get(f"{BASE}/entities/urn:ngsi-ld:AirQualityObserved:1")).json()
    assert got["pm10"]["value"] == 33 and "scope" not in got  # replace mode
    r = await client.post(f"{BASE}/entityOperations/upsert", params={"options": "update"},
                          json=[{"id": "urn:ngsi-ld:AirQualityObserved:1",
                                 "type": "AirQualityObserved",
                                 "no2": {"type": "Property", "value": 7}}])
    assert r.status_code == 204
    got = (await client.get(f"{BASE}/entities/urn:ngsi-ld:AirQualityObserved:1")).json()
    assert got["no2"]["value"] == 7 and got["pm10"]["value"] == 33
    r = await client.post(f"{BASE}/entityOperations/update", json=[
        {"id": "urn:ngsi-ld:AirQualityObserved:1", "pm10": {"type": "Property", "value": 1}},
        {"id": "urn:ngsi-ld:AirQualityObserved:404", "pm10": {"type": "Property", "value": 1}},
    ])
    assert r.status_code == 207
    body = r.json()
    assert body["success"] == ["urn:ngsi-ld:AirQualityObserved:1"]
    assert body["errors"][0]["entityId"] == "urn:ngsi-ld:AirQualityObserved:404"
    assert body["errors"][0]["error"]["status"] == 404
    r = await client.post(f"{BASE}/entityOperations/merge", json=[
        {"id": "urn:ngsi-ld:AirQualityObserved:2", "pm10": {"value": 81}}])
    assert r.status_code == 204
    got = (await client.get(f"{BASE}/entities/urn:ngsi-ld:AirQualityObserved:2")).json()
    assert got["pm10"] == {"type": "Property", "value": 81, "unitCode": "GQ"}
    r = await client.post(f"{BASE}/entityOperations/delete",
                          json=["urn:ngsi-ld:AirQualityObserved:2", "urn:ngsi-ld:X:nope"])
    assert r.status_code == 207
    assert r.json()["success"] == ["urn:ngsi-ld:AirQualityObserved:2"]


async def test_batch_create_partial_failure_keeps_good_ones(client):
    r = await client.post(f"{BASE}/entityOperations/create", json=[
        sensor(1, 1, GANGNAM), {"id": "bad id", "type": "X"}, sensor(1, 2, GANGNAM)])
    assert r.status_code == 207
    body = r.json()
    assert body["success"] == ["urn:ngsi-ld:AirQualityObserved:1"]
    assert len(body["errors"]) == 2
    got = (await client.get(f"{BASE}/entities/urn:ngsi-ld:AirQualityObserved:1")).json()
    assert got["pm10"]["value"] == 1


async def test_purge_by_type(client):
    await seed(client)
    r = await client.delete(f"{BASE}/entities", params={"type": "AirQualityObserved"})
    assert r.status_code == 204
    r = await client.get(f"{BASE}/entities", params={"type": "AirQualityObserved,NoiseLevelObserved"})
    assert await ids(r) == ["urn:ngsi-ld:NoiseLevelObserved:4"]


async def test_discovery(client):
    await seed(client)
    r = await client.get(f"{BASE}/types")
    assert r.json()["typeList"] == ["AirQualityObserved", "NoiseLevelObserved"]
    r = await client.get(f"{BASE}/types", params={"details": "true"})
    first = r.json()[0]
    assert first["typeName"] == "AirQualityObserved"
    assert "pm10" in first["attributeNames"] and "location" in first["attributeNames"]
    r = await client.get(f"{BASE}/types/AirQualityObserved")
    info = r.json()
    assert info["entityCount"] == 3
    assert {"id": "https://uri.etsi.org/ngsi-ld/default-context/pm10", "type": "Attribute",
            "attributeName": "pm10", "attributeTypes": ["Property"]} in info["attributeDetails"]
    r = await client.get(f"{BASE}/attributes")
    assert "pm10" in r.json()["attributeList"]
    r = await client.get(f"{BASE}/attributes/pm10")
    assert r.json()["attributeCount"] == 4
    assert r.json()["typeNames"] == ["AirQualityObserved", "NoiseLevelObserved"]
    assert (await client.get(f"{BASE}/types/Nothing")).status_code == 404


async def test_hosted_contexts(client):
    r = await client.post(f"{BASE}/jsonldContexts",
                          json={"@context": {"Bus": "https://example.org/Bus"}})
    assert r.status_code == 201
    loc = r.headers["location"]
    r = await client.get(loc)
    assert r.json() == {"@context": {"Bus": "https://example.org/Bus"}}
    r = await client.get(f"{BASE}/jsonldContexts", params={"details": "true"})
    assert r.json()[0]["kind"] == "Hosted"
    assert (await client.delete(loc)).status_code == 204
    assert (await client.get(loc)).status_code == 404
