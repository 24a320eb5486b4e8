"""Notifications delivered by the hub to a real HTTP receiver on loopback, on both
stores: content, triggers, order, failures and recovery, throttling, periodic
notifications, and writes that never wait for receivers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.integration.receiver import Receiver

SUBS = "/ngsi-ld/v1/subscriptions"
ENTS = "/ngsi-ld/v1/entities"
LD = {"Content-Type": "application/ld+json"}
CTX = {"Car": "https://example.org/Car", "speed": "https://example.org/speed",
       "name": "https://example.org/name"}


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = await Receiver().start()
    yield r
    await r.stop()


async def subscribe(client: httpx.AsyncClient, receiver: Receiver, sub_id: str,
                    **extra: Any) -> None:
    notification = {"endpoint": {"uri": receiver.url, "accept": "application/json"}}
    notification.update(extra.pop("notification", {}))
    body = {"id": sub_id, "type": "Subscription", "entities": [{"type": "Car"}],
            "notification": notification, "@context": CTX, **extra}
    r = await client.post(SUBS, json=body, headers=LD)
    assert r.status_code == 201, r.text


async def car(client: httpx.AsyncClient, n: int, speed: Any = 10, **attrs: Any) -> str:
    body = {"id": f"urn:ngsi-ld:Car:{n}", "type": "Car",
            "speed": {"type": "Property", "value": speed}, "@context": CTX}
    body.update(attrs)
    r = await client.post(ENTS, json=body, headers=LD)
    assert r.status_code == 201, r.text
    return str(body["id"])


async def set_speed(client: httpx.AsyncClient, eid: str, value: Any) -> None:
    r = await client.patch(f"{ENTS}/{eid}/attrs", json={"speed": {"type": "Property",
                           "value": value}, "@context": CTX}, headers=LD)
    assert r.status_code == 204, r.text


async def status(client: httpx.AsyncClient, sub_id: str, until: str | None = None
                 ) -> dict[str, Any]:
    """The notification status of a subscription; with ``until``, once that member is
    there (the hub records an attempt just after the receiver has answered)."""
    for _ in range(200):
        r = await client.get(f"{SUBS}/{sub_id}")
        st: dict[str, Any] = r.json()["notification"]
        if until is None or until in st:
            break
        await asyncio.sleep(0.02)
    return st


async def test_update_is_notified_compacted_with_the_subscription_context(
    client: httpx.AsyncClient, receiver: Receiver
) -> None:
    eid = await car(client, 1)
    await subscribe(client, receiver, "urn:ngsi-ld:Subscription:n1")
    await set_speed(client, eid, 42)
    [note] = await receiver.wait_for(1)
    assert note["type"] == "Notification"
    assert note["id"].startswith("urn:ngsi-ld:Notification:")
    assert note["subscriptionId"] == "urn:ngsi-ld:Subscription:n1"
    assert note["data"] == [{"id": eid, "type": "Car",
                             "speed": {"type": "Property", "value": 42}}]
    headers = receiver.received[0][0]
    assert headers["content-type"] == "application/json"
    st = await status(client, "urn:ngsi-ld:Subscription:n1", until="timesSent")
    assert st["status"] == "ok" and st["timesSent"] == 1 and "lastSuccess" in st


async def test_triggers_show_changes_and_deletions(
    client: httpx.AsyncClient, receiver: Receiver
) -> None:
    await subscribe(client, receiver, "urn:ngsi-ld:Subscription:n2",
                    notificationTrigger=["entityCreated", "attributeUpdated",
                                         "attributeDeleted", "entityDeleted"],
                    notification={"showChanges": True, "format": "normalized"})
    eid = await car(client, 2, speed=1, name={"type": "Property", "value": "a"})
    await set_speed(client, eid, 2)
    r = await client.patch(f"{ENTS}/{eid}", headers=LD, json={
        "name": {"type": "Property", "value": "urn:ngsi-ld:null"}, "@context": CTX})
    assert r.status_code == 204, r.text
    assert (await client.delete(f"{ENTS}/{eid}")).status_code == 204
    notes = await receiver.wait_for(4)
    created, updated, attr_deleted, deleted = (n["data"][0] for n in notes)
    assert created["speed"] == {"type": "Property", "value": 1}
    assert updated["speed"] == {"type": "Property", "value": 2, "previousValue": 1}
    assert attr_deleted["name"] == {"type": "Property", "value": "urn:ngsi-ld:null",
                                    "previousValue": "a"}
    assert set(deleted) == {"id", "type", "deletedAt", "speed"}
    assert deleted["speed"]["previousValue"] == 2


async def test_watched_attributes_q_and_projection(
    client: httpx.AsyncClient, receiver: Receiver
) -> None:
    eid = await car(client, 3, speed=1, name={"type": "Property", "value": "bus"})
    await subscribe(client, receiver, "urn:ngsi-ld:Subscription:n3",
                    watchedAttributes=["speed"], q="speed>50",
                    notification={"attributes": ["speed"], "format": "keyValues"})
    await set_speed(client, eid, 10)  # q not satisfied
    r = await client.patch(f"{ENTS}/{eid}/attrs", json={
        "name": {"type": "Property", "value": "tram"}, "@context": CTX}, headers=LD)
    assert r.status_code == 204  # not a watched attribute
    await set_speed(client, eid, 60)
    [note] = await receiver.wait_for(1)
    assert note["data"] == [{"id": eid, "type": "Car", "speed": 60}]


async def test_changes_of_an_entity_arrive_in_order(
    client: httpx.AsyncClient, receiver: Receiver
) -> None:
    eid = await car(client, 4, speed=0)
    await subscribe(client, receiver, "urn:ngsi-ld:Subscription:n4",
                    notification={"format": "keyValues"})
    for v in range(1, 31):
        await set_speed(client, eid, v)
    seen: list[int] = []
    for _ in range(60):
        seen = [d["speed"] for n in receiver.bodies for d in n["data"]]
        if seen and seen[-1] == 30:
            break
        await receiver.wait_for(len(receiver.received) + 1, 1.0)
    assert seen == list(range(1, 31))


async def test_failed_receiver_is_retried_and_status_tells(
    client: httpx.AsyncClient, receiver: Receiver
) -> None:
    receiver.down = True
    eid = await car(client, 5)
    await subscribe(client, receiver, "urn:ngsi-ld:Subscription:n5")
    await set_speed(client, eid, 7)
    st = await status(client, "urn:ngsi-ld:Subscription:n5", until="timesFailed")
    assert st["status"] == "failed" and "lastFailure" in st and "timesSent" not in st
    receiver.down = False
    [note] = await receiver.wait_for(1)
    assert note["data"][0]["speed"]["value"] == 7
    st = await status(client, "urn:ngsi-ld:Subscription:n5", until="timesSent")
    assert st["status"] == "ok" and st["timesSent"] == 1 and st["timesFailed"] >= 1


async def test_writes_do_not_wait_for_a_stuck_receiver(
    client: httpx.AsyncClient, receiver: Receiver
) -> None:
    release = asyncio.Event()
    stuck = Receiver()

    async def hold(request: Any) -> Any:
        await release.wait()
        from starlette.responses import Response
        return Response(status_code=200)

    stuck._server.config.app.router.routes[0].endpoint = hold  # type: ignore[attr-defined]
    stuck._server.config.app.router.routes[0].app = hold  # type: ignore[attr-defined]
    await stuck.start()
    try:
        eid = await car(client, 6, speed=0)
        await subscribe(client, receiver, "urn:ngsi-ld:Subscription:n6a")
        body = {"id": "urn:ngsi-ld:Subscription:n6b", "type": "Subscription",
                "entities": [{"type": "Car"}], "@context": CTX,
                "notification": {"endpoint": {"uri": stuck.url}}}
        assert (await client.post(SUBS, json=body, headers=LD)).status_code == 201
        for v in range(1, 6):  # the stuck receiver holds its first request meanwhile
            await set_speed(client, eid, v)
        notes = await receiver.wait_for(5)
        assert [n["data"][0]["speed"]["value"] for n in notes][-1] == 5
    finally:
        release.set()
        await stuck.stop()


async def test_throttled_changes_are_delayed_not_lost(
    client: httpx.AsyncClient, receiver: Receiver
) -> None:
    eid = await car(client, 7, speed=0)
    await subscribe(client, receiver, "urn:ngsi-ld:Subscription:n7", throttling=1,
                    notification={"format": "keyValues"})
    await set_speed(client, eid, 1)
    await set_speed(client, eid, 2)
    notes = await receiver.wait_for(2)
    assert [d["speed"] for n in notes for d in n["data"]] == [1, 2]


async def test_time_interval_sends_the_current_entities(
    client: httpx.AsyncClient, receiver: Receiver
) -> None:
    eid = await car(client, 8, speed=3)
    body = {"id": "urn:ngsi-ld:Subscription:n8", "type": "Subscription", "timeInterval": 0.3,
            "entities": [{"type": "Car"}], "@context": CTX,
            "notification": {"endpoint": {"uri": receiver.url}, "format": "keyValues"}}
    assert (await client.post(SUBS, json=body, headers=LD)).status_code == 201
    notes = await receiver.wait_for(2)
    assert [n["data"] for n in notes] == [[{"id": eid, "type": "Car", "speed": 3}]] * 2


async def test_ld_json_receiver_gets_the_context_inline(
    client: httpx.AsyncClient, receiver: Receiver
) -> None:
    eid = await car(client, 9)
    await subscribe(client, receiver, "urn:ngsi-ld:Subscription:n9", notification={
        "endpoint": {"uri": receiver.url, "accept": "application/ld+json",
                     "receiverInfo": [{"key": "X-Token", "value": "abc"}]}})
    await set_speed(client, eid, 1)
    [note] = await receiver.wait_for(1)
    headers = receiver.received[0][0]
    assert headers["content-type"] == "application/ld+json"
    assert headers["x-token"] == "abc"
    assert "link" not in headers
    assert note["data"][0]["@context"] == CTX


async def test_subscriptions_belong_to_their_tenant(
    client: httpx.AsyncClient, receiver: Receiver
) -> None:
    tenant = {"NGSILD-Tenant": "city2"}
    body = {"id": "urn:ngsi-ld:Subscription:t", "type": "Subscription", "@context": CTX,
            "entities": [{"type": "Car"}], "notification": {"endpoint": {"uri": receiver.url}}}
    r = await client.post(SUBS, json=body, headers={**LD, **tenant})
    assert r.status_code == 201
    assert (await client.get(f"{SUBS}/urn:ngsi-ld:Subscription:t")).status_code == 404
    await car(client, 10)  # default tenant: not this subscription's business
    r = await client.post(ENTS, headers={**LD, **tenant}, json={
        "id": "urn:ngsi-ld:Car:11", "type": "Car", "@context": CTX,
        "speed": {"type": "Property", "value": 1}})
    assert r.status_code == 201
    [note] = await receiver.wait_for(1)
    assert [d["id"] for d in note["data"]] == ["urn:ngsi-ld:Car:11"]
    assert receiver.received[0][0]["ngsild-tenant"] == "city2"
    r = await client.get(SUBS, headers=tenant)
    assert [s["id"] for s in r.json()] == ["urn:ngsi-ld:Subscription:t"]
