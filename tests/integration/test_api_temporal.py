"""The temporal API over HTTP (/ngsi-ld/v1/temporal), on SQLite and PostgreSQL: every
operation and every error case."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

BASE = "/ngsi-ld/v1"
T = f"{BASE}/temporal/entities"
CTX = {
    "speed": "https://example.org/speed",
    "fuel": "https://example.org/fuel",
    "Car": "https://example.org/Car",
    "name": "https://example.org/name",
}
LINK = {
    "Link": '<https://example.org/ctx.jsonld>; rel="http://www.w3.org/ns/json-ld#context"; '
    'type="application/ld+json"'
}
LD = {"content-type": "application/ld+json"}
CAR = "urn:ngsi-ld:Car:1"


def at(minute: int) -> str:
    return f"2020-08-01T{12 + minute // 60:02d}:{minute % 60:02d}:00Z"


def speeds(*pairs: tuple[int, int], **extra: Any) -> list[dict[str, Any]]:
    return [{"type": "Property", "value": v, "observedAt": at(m), **extra} for v, m in pairs]


def car(eid: str = CAR, **attrs: Any) -> dict[str, Any]:
    body = {"id": eid, "type": "Car", "@context": CTX}
    body.update(
        attrs or {"speed": speeds((120, 3), (80, 5), (100, 7)), "fuel": speeds((67, 3), (53, 65))}
    )
    return body


async def post(client: httpx.AsyncClient, body: dict[str, Any]) -> httpx.Response:
    return await client.post(T, json=body, headers=LD)


async def get(client: httpx.AsyncClient, url: str, **params: Any) -> httpx.Response:
    return await client.get(url, params=params, headers={**LINK, "Accept": "application/json"})


@pytest.fixture(autouse=True)
async def ctx_served(client: httpx.AsyncClient) -> None:
    """The @context the tests link to, hosted by the hub itself."""
    r = await client.post(f"{BASE}/jsonldContexts", json={"@context": CTX})
    assert r.status_code == 201
    LINK["Link"] = (
        f"<http://hub{r.headers['location']}>; "
        'rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json"'
    )


async def test_create_then_update_temporal_entity(client: httpx.AsyncClient) -> None:
    r = await post(client, car())
    assert r.status_code == 201 and r.headers["location"] == f"{T}/{CAR}"
    r = await post(client, car(speed=speeds((121, 3), (90, 9))))
    assert r.status_code == 204
    r = await get(client, f"{T}/{CAR}", attrs="speed")
    assert [i["value"] for i in r.json()["speed"]] == [121, 80, 100, 90]
    current = await get(client, f"{BASE}/entities/{CAR}")
    assert current.json()["speed"]["value"] == 90  # the latest observation is current


async def test_retrieve_representations(client: httpx.AsyncClient) -> None:
    await post(client, car())
    r = await get(client, f"{T}/{CAR}")
    body = r.json()
    assert r.status_code == 200 and body["type"] == "Car" and "@context" not in body
    assert all(i["instanceId"].startswith("urn:ngsi-ld:attribute:instance:") for i in body["speed"])
    assert "createdAt" not in body["speed"][0]
    r = await get(client, f"{T}/{CAR}", options="temporalValues")
    assert r.json()["fuel"] == {"type": "Property", "values": [[67, at(3)], [53, at(65)]]}
    r = await get(client, f"{T}/{CAR}", options="sysAttrs")
    assert "createdAt" in r.json()["speed"][0]
    r = await get(
        client,
        f"{T}/{CAR}",
        options="aggregatedValues",
        aggrMethods="avg,max",
        aggrPeriodDuration="PT1H",
    )
    assert r.json()["speed"] == {
        "type": "Property",
        "avg": [[100.0, at(3), at(63)]],
        "max": [[120.0, at(3), at(63)]],
    }
    r = await client.get(f"{T}/{CAR}", headers={**LINK, "Accept": "application/ld+json"})
    assert "@context" in r.json()


async def test_time_filters_last_n_pick_omit(client: httpx.AsyncClient) -> None:
    await post(client, car())
    r = await get(client, f"{T}/{CAR}", timerel="after", timeAt=at(4))
    assert [i["value"] for i in r.json()["speed"]] == [80, 100]
    r = await get(client, f"{T}/{CAR}", timerel="between", timeAt=at(4), endTimeAt=at(6))
    assert [i["value"] for i in r.json()["speed"]] == [80] and "fuel" not in r.json()
    r = await get(client, f"{T}/{CAR}", lastN="1")
    assert [i["value"] for i in r.json()["speed"]] == [100]
    r = await get(client, f"{T}/{CAR}", pick="speed")
    assert list(r.json()) == ["speed"]
    r = await get(client, f"{T}/{CAR}", omit="type,fuel")
    assert set(r.json()) == {"id", "speed"}


async def test_pagination_answers_206_with_content_range(
    client: httpx.AsyncClient, monkeypatch: Any
) -> None:
    pytest.importorskip("dosi.services.temporal")
    await post(client, car(speed=speeds(*((v, v) for v in range(10)))))
    svc = client._transport.app.state.hub.temporal  # type: ignore[attr-defined]
    monkeypatch.setattr(svc, "limit", 4)
    r = await get(client, f"{T}/{CAR}")
    assert r.status_code == 206
    assert r.headers["content-range"] == f"date-time {at(0)}-{at(3)}/*"
    assert len(r.json()["speed"]) == 4
    r = await get(client, f"{T}/{CAR}", lastN="5")
    assert r.status_code == 206 and r.headers["content-range"] == f"date-time {at(9)}-{at(6)}/5"


async def test_query_temporal_entities(client: httpx.AsyncClient) -> None:
    await post(client, car())
    await post(client, car("urn:ngsi-ld:Car:2", speed=speeds((10, 1))))
    r = await get(client, T, type="Car", timerel="after", timeAt=at(0))
    assert sorted(e["id"] for e in r.json()) == [CAR, "urn:ngsi-ld:Car:2"]
    r = await get(client, T, type="Car", q="speed>50", timerel="after", timeAt=at(0))
    assert [e["id"] for e in r.json()] == [CAR]
    r = await get(client, T, type="Car", attrs="fuel", timerel="after", timeAt=at(0))
    assert [e["id"] for e in r.json()] == [CAR]
    r = await get(client, T, type="Car", timerel="after", timeAt=at(0), limit="1", count="true")
    assert len(r.json()) == 1 and r.headers["ngsild-results-count"] == "2"
    body = {
        "type": "Query",
        "entities": [{"type": "Car"}],
        "temporalQ": {"timerel": "before", "timeAt": at(4)},
    }
    r = await client.post(f"{BASE}/temporal/entityOperations/query", json=body, headers=LINK)
    assert r.status_code == 200
    assert {e["id"]: [i["value"] for i in e["speed"]] for e in r.json()} == {
        CAR: [120],
        "urn:ngsi-ld:Car:2": [10],
    }


async def test_core_writes_are_history(client: httpx.AsyncClient) -> None:
    entity = {"id": CAR, "type": "Car", "speed": {"type": "Property", "value": 1}}
    assert (await client.post(f"{BASE}/entities", json=entity, headers=LINK)).status_code == 201
    for v in (2, 2, 3):
        r = await client.patch(
            f"{BASE}/entities/{CAR}/attrs",
            json={"speed": {"type": "Property", "value": v}},
            headers=LINK,
        )
        assert r.status_code == 204
    r = await get(client, f"{T}/{CAR}", timeproperty="modifiedAt")
    assert [i["value"] for i in r.json()["speed"]] == [1, 2, 3]
    await client.delete(f"{BASE}/entities/{CAR}/attrs/speed", headers=LINK)
    r = await get(client, f"{T}/{CAR}", timeproperty="deletedAt")
    assert r.json()["speed"][0]["value"] == "urn:ngsi-ld:null"
    assert "deletedAt" in r.json()["speed"][0]
    assert (await client.delete(f"{BASE}/entities/{CAR}")).status_code == 204
    assert (await get(client, f"{T}/{CAR}")).status_code == 404


async def test_add_modify_and_delete_instances(client: httpx.AsyncClient) -> None:
    await post(client, car())
    r = await client.post(
        f"{T}/{CAR}/attrs", json={"name": speeds((1, 1)), "@context": CTX}, headers=LD
    )
    assert r.status_code == 204
    first = (await get(client, f"{T}/{CAR}")).json()["speed"][0]["instanceId"]
    r = await client.patch(
        f"{T}/{CAR}/attrs/speed/{first}", json={"type": "Property", "value": 7}, headers=LINK
    )
    assert r.status_code == 204
    body = (await get(client, f"{T}/{CAR}")).json()
    assert body["speed"][0] == {
        "type": "Property",
        "value": 7,
        "observedAt": at(3),
        "instanceId": first,
    }
    assert [i["value"] for i in body["name"]] == [1]
    assert (await client.delete(f"{T}/{CAR}/attrs/speed/{first}", headers=LINK)).status_code == 204
    assert [i["value"] for i in (await get(client, f"{T}/{CAR}")).json()["speed"]] == [80, 100]
    assert (await client.delete(f"{T}/{CAR}/attrs/fuel", headers=LINK)).status_code == 204
    assert "fuel" not in (await get(client, f"{T}/{CAR}")).json()
    assert (await client.delete(f"{T}/{CAR}")).status_code == 204
    assert (await get(client, f"{T}/{CAR}")).status_code == 404
    assert (await get(client, f"{BASE}/entities/{CAR}")).status_code == 404


async def test_delete_attribute_history_by_dataset(client: httpx.AsyncClient) -> None:
    await post(client, car(speed=speeds((1, 1)) + speeds((2, 2), datasetId="urn:ds:b")))
    r = await client.delete(
        f"{T}/{CAR}/attrs/speed", params={"datasetId": "urn:ds:b"}, headers=LINK
    )
    assert r.status_code == 204
    assert [i["value"] for i in (await get(client, f"{T}/{CAR}")).json()["speed"]] == [1]
    r = await client.delete(f"{T}/{CAR}/attrs/speed", params={"deleteAll": "true"}, headers=LINK)
    assert r.status_code == 204


@pytest.mark.parametrize(
    "params,problem",
    [
        ({"timerel": "during", "timeAt": at(1)}, "BadRequestData"),
        ({"timerel": "after"}, "BadRequestData"),
        ({"timerel": "between", "timeAt": at(1)}, "BadRequestData"),
        ({"timerel": "after", "timeAt": "yesterday"}, "BadRequestData"),
        (
            {"options": "aggregatedValues", "aggrMethods": "avg", "aggrPeriodDuration": "PT"},
            "BadRequestData",
        ),
        ({"options": "aggregatedValues", "aggrMethods": "median"}, "BadRequestData"),
        ({"options": "aggregatedValues"}, "BadRequestData"),
        ({"lastN": "0"}, "BadRequestData"),
        ({"timeproperty": "seenAt"}, "BadRequestData"),
        ({"format": "fancy"}, "InvalidRequest"),
        ({"options": "temporalValues,nonsense"}, "InvalidRequest"),
        ({"unknown": "1"}, "InvalidRequest"),
        ({"pick": "speed", "omit": "speed"}, "BadRequestData"),
    ],
)
async def test_bad_parameters_are_400(
    client: httpx.AsyncClient, params: dict[str, str], problem: str
) -> None:
    await post(client, car())
    for url in (f"{T}/{CAR}", T):
        query = params if url != T else {"type": "Car", **params}
        r = await get(client, url, **query)
        assert r.status_code == 400, (url, r.text)
        assert r.json()["type"] == f"https://uri.etsi.org/ngsi-ld/errors/{problem}"


@pytest.mark.parametrize(
    "method,url,status",
    [
        ("GET", f"{T}/not-a-uri", 400),
        ("GET", f"{T}/urn:ngsi-ld:Car:nope", 404),
        ("GET", T + "?timerel=after&timeAt=2020-01-01T00:00:00Z", 400),  # no type, attrs, q...
        ("DELETE", f"{T}/urn:ngsi-ld:Car:nope", 404),
        ("DELETE", f"{T}/invalidId", 400),
        ("POST", f"{T}/urn:ngsi-ld:Car:nope/attrs", 404),
        ("POST", f"{T}//attrs", 400),
        ("DELETE", f"{T}/{CAR}/attrs/nothing", 404),
        ("DELETE", f"{T}/{CAR}/attrs/speed/urn:ngsi-ld:nothing", 404),
        ("DELETE", f"{T}/{CAR}/attrs/speed/invalidId", 400),
        ("PATCH", f"{T}/{CAR}/attrs/speed/urn:ngsi-ld:nothing", 404),
        ("PATCH", f"{T}/{CAR}/attrs/speed", 405),
        ("PATCH", f"{T}/{CAR}/attrs//urn:ngsi-ld:x", 405),
        ("DELETE", f"{T}/{CAR}/attrs//urn:ngsi-ld:x", 400),
    ],
)
async def test_error_statuses(
    client: httpx.AsyncClient, method: str, url: str, status: int
) -> None:
    await post(client, car())
    body = {"type": "Property", "value": 1} if method in ("PATCH", "POST") else None
    r = await client.request(method, url, json=body, headers=LINK)
    assert r.status_code == status, r.text


async def test_bad_bodies(client: httpx.AsyncClient) -> None:
    r = await client.post(T, content=b"{broken", headers=LD)
    assert r.status_code == 400 and r.json()["type"].endswith("InvalidRequest")
    r = await client.post(T, content=b"", headers=LD)
    assert r.status_code == 400 and r.json()["type"].endswith("InvalidRequest")
    r = await post(client, {"type": "Car", "@context": CTX})
    assert r.status_code == 400 and r.json()["type"].endswith("BadRequestData")
    r = await post(client, {**car(), "id": "invalidId"})
    assert r.status_code == 400
    r = await client.post(T, content=b"{}", headers={"content-type": "application/xml"})
    assert r.status_code == 415
    r = await client.get(T, params={"type": "Car"}, headers={"Accept": "application/geo+json"})
    assert r.status_code == 406
