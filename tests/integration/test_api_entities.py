"""Entity and attribute operations over HTTP, as a client sees them."""

from __future__ import annotations

import httpx

BASE = "/ngsi-ld/v1"
DEFAULT = "https://uri.etsi.org/ngsi-ld/default-context/"
LD = {"Content-Type": "application/ld+json"}
CTX = {
    "@context": [
        {"Vehicle": "https://example.org/Vehicle", "speed": "https://example.org/speed"},
        "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.8.jsonld",
    ]
}


def vehicle(n: int = 1, speed: float = 50, **extra) -> dict:
    body = {
        "id": f"urn:ngsi-ld:Vehicle:{n}",
        "type": "Vehicle",
        "speed": {"type": "Property", "value": speed, "unitCode": "KMH"},
        "brand": {"type": "Property", "value": "Hyundai"},
        "location": {"type": "GeoProperty",
                     "value": {"type": "Point", "coordinates": [126.978, 37.5665]}},
    }
    body.update(extra)
    return body


async def create(client: httpx.AsyncClient, body: dict, **kw) -> httpx.Response:
    return await client.post(f"{BASE}/entities", json=body, **kw)


async def test_create_then_retrieve_normalized(client):
    r = await create(client, vehicle())
    assert r.status_code == 201, r.text
    assert r.headers["location"] == f"{BASE}/entities/urn:ngsi-ld:Vehicle:1"
    r = await client.get(f"{BASE}/entities/urn:ngsi-ld:Vehicle:1")
    assert r.status_code == 200
    body = r.json()
    assert body["type"] == "Vehicle"
    assert body["speed"] == {"type": "Property", "value": 50, "unitCode": "KMH"}
    assert body["location"]["value"]["coordinates"] == [126.978, 37.5665]
    assert "createdAt" not in body
    assert "rel=\"http://www.w3.org/ns/json-ld#context\"" in r.headers["link"]


async def test_create_twice_is_conflict_and_keeps_first(client):
    assert (await create(client, vehicle(speed=10))).status_code == 201
    r = await create(client, vehicle(speed=99))
    assert r.status_code == 409
    assert r.json()["type"] == "https://uri.etsi.org/ngsi-ld/errors/AlreadyExists"
    got = (await client.get(f"{BASE}/entities/urn:ngsi-ld:Vehicle:1")).json()
    assert got["speed"]["value"] == 10


async def test_bad_inputs_get_problem_details(client):
    r = await client.post(f"{BASE}/entities", content=b"{not json",
                          headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    assert r.json()["type"].endswith("InvalidRequest")
    r = await create(client, {"id": "not a uri", "type": "Vehicle"})
    assert r.status_code == 400 and r.json()["type"].endswith("BadRequestData")
    r = await create(client, {"id": "urn:x:1"})
    assert r.status_code == 400
    r = await client.post(f"{BASE}/entities", content=b"{}", headers={"Content-Type": "text/plain"})
    assert r.status_code == 415
    r = await client.get(f"{BASE}/entities/urn:x:1", headers={"Accept": "text/csv"})
    assert r.status_code == 406
    big = vehicle(description={"type": "Property", "value": "x" * 300_000})
    r = await create(client, big)
    assert r.status_code == 413
    r = await client.get(f"{BASE}/entities/urn:ngsi-ld:Vehicle:1")
    assert r.status_code == 404  # nothing was written by the failed creates


async def test_json_ld_body_context_and_compaction(client):
    body = {**vehicle(), **CTX}
    r = await create(client, body, headers=LD)
    assert r.status_code == 201, r.text
    # without the context, names come back as full IRIs
    plain = (await client.get(f"{BASE}/entities/urn:ngsi-ld:Vehicle:1")).json()
    assert plain["type"] == "https://example.org/Vehicle"
    assert "https://example.org/speed" in plain
    # with Accept ld+json and a Link context, compacted with @context in the body
    link = '<https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.8.jsonld>; ' \
           'rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json"'
    r = await client.get(f"{BASE}/entities/urn:ngsi-ld:Vehicle:1",
                         headers={"Accept": "application/ld+json", "Link": link})
    assert r.headers["content-type"].startswith("application/ld+json")
    assert "@context" in r.json()


async def test_json_body_with_context_is_rejected(client):
    r = await create(client, {**vehicle(), **CTX})
    assert r.status_code == 400
    r = await create(client, vehicle(), headers=LD)
    assert r.status_code == 400


async def test_representations(client):
    await create(client, vehicle())
    url = f"{BASE}/entities/urn:ngsi-ld:Vehicle:1"
    kv = (await client.get(url, params={"options": "keyValues"})).json()
    assert kv["speed"] == 50 and kv["brand"] == "Hyundai"
    concise = (await client.get(url, params={"format": "concise"})).json()
    assert concise["brand"] == "Hyundai"
    assert concise["speed"] == {"value": 50, "unitCode": "KMH"}
    sys = (await client.get(url, params={"options": "sysAttrs"})).json()
    assert sys["createdAt"].endswith("Z") and "modifiedAt" in sys["speed"]
    picked = (await client.get(url, params={"pick": "id,speed"})).json()
    assert set(picked) == {"id", "speed"}
    omitted = (await client.get(url, params={"omit": "brand,location"})).json()
    assert "brand" not in omitted and "speed" in omitted
    geo = await client.get(url, headers={"Accept": "application/geo+json"})
    feat = geo.json()
    assert feat["type"] == "Feature"
    assert feat["geometry"] == {"type": "Point", "coordinates": [126.978, 37.5665]}


async def test_language_property_lang(client):
    body = vehicle(name={"type": "LanguageProperty",
                         "languageMap": {"ko": "서울 버스", "en": "Seoul bus"}})
    await create(client, body)
    url = f"{BASE}/entities/urn:ngsi-ld:Vehicle:1"
    r = (await client.get(url, params={"lang": "ko"})).json()
    assert r["name"] == {"type": "Property", "value": "서울 버스", "lang": "ko"}
    r = (await client.get(url)).json()
    assert r["name"]["languageMap"]["en"] == "Seoul bus"


async def test_append_update_partial_replace_delete_attrs(client):
    await create(client, vehicle())
    url = f"{BASE}/entities/urn:ngsi-ld:Vehicle:1"
    r = await client.post(f"{url}/attrs", json={"fuel": {"type": "Property", "value": 0.5}})
    assert r.status_code == 204
    r = await client.post(f"{url}/attrs", params={"options": "noOverwrite"},
                          json={"fuel": {"type": "Property", "value": 0.9}})
    assert r.status_code == 207
    # update results name attributes by their expanded IRIs, as the ETSI suite expects
    assert r.json()["notUpdated"][0]["attributeName"] == DEFAULT + "fuel"
    assert (await client.get(url)).json()["fuel"]["value"] == 0.5
    r = await client.patch(f"{url}/attrs", json={"speed": {"type": "Property", "value": 70,
                                                           "unitCode": "MPH"},
                                                 "extra": {"type": "Property", "value": 1}})
    assert r.status_code == 204
    got = (await client.get(url)).json()
    assert got["speed"]["value"] == 70 and got["extra"]["value"] == 1
    r = await client.patch(f"{url}/attrs/speed", json={"value": 80})
    assert r.status_code == 204
    got = (await client.get(url)).json()
    assert got["speed"]["value"] == 80 and got["speed"]["unitCode"] == "MPH"
    r = await client.put(f"{url}/attrs/speed", json={"type": "Property", "value": 5})
    assert r.status_code == 204
    assert "unitCode" not in (await client.get(url)).json()["speed"]
    assert (await client.delete(f"{url}/attrs/speed")).status_code == 204
    assert (await client.delete(f"{url}/attrs/speed")).status_code == 404
    assert "speed" not in (await client.get(url)).json()
    assert (await client.patch(f"{url}/attrs/nothing", json={"value": 1})).status_code == 404


async def test_multi_attributes_by_dataset_id(client):
    body = vehicle(speed=1)
    body["speed"] = [
        {"type": "Property", "value": 10},
        {"type": "Property", "value": 12, "datasetId": "urn:ngsi-ld:Dataset:gps"},
    ]
    await create(client, body)
    url = f"{BASE}/entities/urn:ngsi-ld:Vehicle:1"
    got = (await client.get(url)).json()
    assert isinstance(got["speed"], list) and len(got["speed"]) == 2
    r = await client.delete(f"{url}/attrs/speed", params={"datasetId": "urn:ngsi-ld:Dataset:gps"})
    assert r.status_code == 204
    assert (await client.get(url)).json()["speed"]["value"] == 10
    await client.post(f"{url}/attrs", json={"speed": {"type": "Property", "value": 3,
                                                      "datasetId": "urn:ngsi-ld:Dataset:a"}})
    r = await client.delete(f"{url}/attrs/speed", params={"deleteAll": "true"})
    assert r.status_code == 204
    assert "speed" not in (await client.get(url)).json()


async def test_replace_and_merge_entity(client):
    await create(client, vehicle())
    url = f"{BASE}/entities/urn:ngsi-ld:Vehicle:1"
    r = await client.patch(url, json={"speed": {"type": "Property", "value": 99},
                                      "brand": "urn:ngsi-ld:null",
                                      "owner": {"type": "Relationship", "object": "urn:p:1"}})
    assert r.status_code == 204, r.text
    got = (await client.get(url)).json()
    assert got["speed"]["value"] == 99 and got["speed"]["unitCode"] == "KMH"
    assert "brand" not in got
    assert got["owner"] == {"type": "Relationship", "object": "urn:p:1"}
    r = await client.put(url, json={"type": "Vehicle", "color": {"type": "Property", "value": "red"}})
    assert r.status_code == 204
    got = (await client.get(url)).json()
    assert set(got) == {"id", "type", "color"}
    assert (await client.patch(f"{BASE}/entities/urn:x:none", json={"a": 1})).status_code == 404


async def test_delete_entity(client):
    await create(client, vehicle())
    url = f"{BASE}/entities/urn:ngsi-ld:Vehicle:1"
    assert (await client.delete(url)).status_code == 204
    assert (await client.get(url)).status_code == 404
    assert (await client.delete(url)).status_code == 404


async def test_tenants_are_isolated(client):
    await create(client, vehicle(), headers={"NGSILD-Tenant": "seoul"})
    url = f"{BASE}/entities/urn:ngsi-ld:Vehicle:1"
    assert (await client.get(url, headers={"NGSILD-Tenant": "seoul"})).status_code == 200
    assert (await client.get(url)).status_code == 404
    r = await client.get(url, headers={"NGSILD-Tenant": "busan"})
    assert r.status_code == 404
    r = await client.get(f"{BASE}/entities", params={"type": "Vehicle"})
    assert r.json() == []
