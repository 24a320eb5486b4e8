"""The subscription resource over HTTP, on both stores: create, retrieve, query with
paging, update (merge), delete, and the errors a client sees."""

from __future__ import annotations

import httpx
import pytest

BASE = "/ngsi-ld/v1/subscriptions"
SUITE_CTX = {"@context": {"Building": "https://example.org/Building",
                          "name": "https://example.org/name"}}


def sub(**extra: object) -> dict[str, object]:
    body: dict[str, object] = {
        "type": "Subscription",
        "entities": [{"type": "Building"}],
        "notification": {"endpoint": {"uri": "http://127.0.0.1:9/notify",
                                      "accept": "application/json"}},
    }
    body.update(extra)
    return body


async def test_create_then_retrieve_round_trips(client: httpx.AsyncClient) -> None:
    r = await client.post(BASE, json=sub(id="urn:ngsi-ld:Subscription:1",
                                         watchedAttributes=["name"], q="name==\"x\"",
                                         throttling=5, expiresAt="2099-01-01T00:00:00Z"))
    assert r.status_code == 201, r.text
    assert r.headers["location"] == f"{BASE}/urn:ngsi-ld:Subscription:1"
    r = await client.get(f"{BASE}/urn:ngsi-ld:Subscription:1")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    assert "link" in r.headers
    assert r.json() == {
        "id": "urn:ngsi-ld:Subscription:1", "type": "Subscription",
        "entities": [{"type": "Building"}], "watchedAttributes": ["name"], "q": "name==\"x\"",
        "throttling": 5, "expiresAt": "2099-01-01T00:00:00Z",
        "notification": {"endpoint": {"uri": "http://127.0.0.1:9/notify",
                                      "accept": "application/json"}},
        "notificationTrigger": ["attributeCreated", "attributeUpdated"], "status": "active",
    }


async def test_names_are_expanded_with_the_context_and_compacted_on_read(
    client: httpx.AsyncClient,
) -> None:
    body = {**sub(id="urn:ngsi-ld:Subscription:ctx", watchedAttributes=["name"]), **SUITE_CTX}
    r = await client.post(BASE, json=body, headers={"Content-Type": "application/ld+json"})
    assert r.status_code == 201, r.text
    expanded = (await client.get(f"{BASE}/urn:ngsi-ld:Subscription:ctx")).json()
    assert expanded["entities"] == [{"type": "https://example.org/Building"}]
    assert expanded["watchedAttributes"] == ["https://example.org/name"]
    assert "jsonldContext" not in expanded


async def test_generated_id_and_query_with_paging(client: httpx.AsyncClient) -> None:
    for i in range(3):
        assert (await client.post(BASE, json=sub(id=f"urn:ngsi-ld:Subscription:p{i}"))
                ).status_code == 201
    r = await client.post(BASE, json=sub())
    assert r.headers["location"].startswith(f"{BASE}/urn:ngsi-ld:Subscription:")
    r = await client.get(BASE, params={"limit": 1, "offset": 1, "count": "true"},
                         headers={"Accept": "application/ld+json"})
    assert r.status_code == 200
    assert [s["id"] for s in r.json()] == ["urn:ngsi-ld:Subscription:p1"]
    assert r.headers["NGSILD-Results-Count"] == "4"
    links = sorted(r.headers["link"].split(","))
    assert links == [
        f'<{BASE}?limit=1&offset=0>;rel="prev";type="application/ld+json"',
        f'<{BASE}?limit=1&offset=2>;rel="next";type="application/ld+json"',
    ]
    assert all("@context" in s for s in r.json())


async def test_update_merges_members_and_pauses(client: httpx.AsyncClient) -> None:
    await client.post(BASE, json=sub(id="urn:ngsi-ld:Subscription:u"))
    r = await client.patch(f"{BASE}/urn:ngsi-ld:Subscription:u",
                           json={"type": "Subscription", "isActive": False, "throttling": 2},
                           headers={"Content-Type": "application/merge-patch+json"})
    assert r.status_code == 204, r.text
    got = (await client.get(f"{BASE}/urn:ngsi-ld:Subscription:u")).json()
    assert got["status"] == "paused"
    assert got["throttling"] == 2
    assert got["entities"] == [{"type": "Building"}]
    r = await client.patch(f"{BASE}/urn:ngsi-ld:Subscription:u",
                           json={"isActive": True, "expiresAt": "2000-01-01T00:00:00Z"})
    assert r.status_code == 400
    assert r.json()["type"] == "https://uri.etsi.org/ngsi-ld/errors/BadRequestData"


async def test_delete_then_gone(client: httpx.AsyncClient) -> None:
    await client.post(BASE, json=sub(id="urn:ngsi-ld:Subscription:d"))
    assert (await client.delete(f"{BASE}/urn:ngsi-ld:Subscription:d")).status_code == 204
    r = await client.get(f"{BASE}/urn:ngsi-ld:Subscription:d")
    assert r.status_code == 404
    assert r.json()["type"] == "https://uri.etsi.org/ngsi-ld/errors/ResourceNotFound"
    assert (await client.delete(f"{BASE}/urn:ngsi-ld:Subscription:d")).status_code == 404


BAD = "https://uri.etsi.org/ngsi-ld/errors/BadRequestData"
INVALID = "https://uri.etsi.org/ngsi-ld/errors/InvalidRequest"


@pytest.mark.parametrize("body, problem", [
    ({}, BAD),
    (sub(id="not a uri"), BAD),
    (sub(type="Entity"), BAD),
    ({"type": "Subscription", "notification": sub()["notification"]}, BAD),
    (sub(throttling=-1), BAD),
    (sub(throttling=1, timeInterval=5), BAD),
    (sub(notification={"endpoint": None}), BAD),
    (sub(notification={"endpoint": {"uri": "ftp://x/y"}}), BAD),
    (sub(notification={"endpoint": {"uri": "http://x/"}, "pick": ["id"], "omit": ["id"]}), BAD),
    (sub(notification={"endpoint": {"uri": "http://x/"}, "pick": ["id"],
                       "attributes": ["name"]}), BAD),
    (sub(notificationTrigger=["somethingHappened"]), BAD),
    (sub(expiresAt="2001-01-01T00:00:00Z"), BAD),
    (sub(jsonldContext="unknownContext"), BAD),
    (sub(q="name==="), None),
])
async def test_invalid_subscriptions_are_400(
    client: httpx.AsyncClient, body: dict[str, object], problem: str | None
) -> None:
    r = await client.post(BASE, json=body)
    assert r.status_code == 400, r.text
    if problem:
        assert r.json()["type"] == problem
    assert r.json()["title"]


async def test_protocol_errors(client: httpx.AsyncClient) -> None:
    await client.post(BASE, json=sub(id="urn:ngsi-ld:Subscription:e"))
    r = await client.post(BASE, json=sub(id="urn:ngsi-ld:Subscription:e"))
    assert r.status_code == 409
    assert r.json()["type"] == "https://uri.etsi.org/ngsi-ld/errors/AlreadyExists"
    r = await client.post(BASE, content=b'{"id": ,}', headers={"Content-Type": "application/json"})
    assert (r.status_code, r.json()["type"]) == (400, INVALID)
    r = await client.get(BASE, params={"invalidParams": "x"})
    assert (r.status_code, r.json()["type"]) == (400, INVALID)
    r = await client.post(f"{BASE}?invalidParams=x", json=sub())
    assert (r.status_code, r.json()["type"]) == (400, INVALID)
    r = await client.get(f"{BASE}/urn:ngsi-ld:Subscription:e",
                         headers={"Accept": "application/xml"})
    assert r.status_code == 406
    r = await client.get(f"{BASE}/urn:ngsi-ld:Subscription:e",
                         headers={"Accept": "application/geo+json"})
    assert r.status_code == 406
    r = await client.post(BASE, content=b"<x/>", headers={"Content-Type": "application/xml"})
    assert r.status_code == 415
    r = await client.patch(f"{BASE}/urn:ngsi-ld:Subscription:none", content=b"<x/>",
                           headers={"Content-Type": "application/xml"})
    assert r.status_code == 415
    r = await client.get(f"{BASE}/InvalidUri")
    assert (r.status_code, r.json()["type"]) == (400, BAD)
    assert (await client.delete(f"{BASE}/")).status_code == 405
    r = await client.patch(f"{BASE}/urn:ngsi-ld:Subscription:none", json={"isActive": False})
    assert r.status_code == 404


async def test_unreachable_context_is_503(client: httpx.AsyncClient) -> None:
    body = {**sub(), "@context": ["http://127.0.0.1:9/no-such-context.jsonld"]}
    r = await client.post(BASE, json=body, headers={"Content-Type": "application/ld+json"})
    assert r.status_code == 503
    assert r.json()["type"] == "https://uri.etsi.org/ngsi-ld/errors/LdContextNotAvailable"


async def test_inline_context_array_becomes_an_implicit_context(
    client: httpx.AsyncClient,
) -> None:
    body = {**sub(id="urn:ngsi-ld:Subscription:i"),
            "@context": [{"Building": "https://example.org/Building"},
                         "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.8.jsonld"]}
    r = await client.post(BASE, json=body, headers={"Content-Type": "application/ld+json"})
    assert r.status_code == 201, r.text
    url = (await client.get(f"{BASE}/urn:ngsi-ld:Subscription:i")).json()["jsonldContext"]
    local_id = url.rsplit("/", 1)[1]
    r = await client.get(f"/ngsi-ld/v1/jsonldContexts/{local_id}", params={"details": "true"})
    assert r.json()["kind"] == "ImplicitlyCreated"
    r = await client.get(f"/ngsi-ld/v1/jsonldContexts/{local_id}")
    assert r.json() == {"@context": body["@context"]}
