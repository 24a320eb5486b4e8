"""Subscriptions record their subscriber; each notification is rendered with the
subscriber's rights at send time (a rule added later applies, a revoked client gets
nothing), and live streams show only what their caller may read. Both stores."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from dosi.security.policy import Rule
from tests.integration.receiver import Receiver
from tests.security.conftest import DRIVER, SPEED, VEHICLE, Hub

E = "/ngsi-ld/v1/entities"

@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = await Receiver().start()
    yield r
    await r.stop()

async def set_attrs(h: Hub, n: int, speed: int) -> None:
    r = await h.client.patch(f"{E}/urn:ngsi-ld:Vehicle:{n}/attrs", headers=h.as_("system-admin"),
                             json={SPEED: {"type": "Property", "value": speed},
                                   DRIVER: {"type": "Property", "value": f"driver {speed}"}})
    assert r.status_code == 204, r.text

async def test_notifications_carry_the_subscribers_rights_at_send_time(
        secured: Hub, receiver: Receiver) -> None:
    sec = secured.hub.security
    sec.cache_ttl = 0  # rules and credentials read afresh for each notification
    r = await secured.client.post("/ngsi-ld/v1/subscriptions", headers=secured.as_("consumer"),
                                  json={"type": "Subscription", "entities": [{"type": VEHICLE}],
                                        "notification": {"endpoint": {"uri": receiver.url}}})
    assert r.status_code == 201, r.text
    await set_attrs(secured, 1, 55)
    [note] = await receiver.wait_for(1)
    [data] = note["data"]
    assert data["id"] == "urn:ngsi-ld:Vehicle:1"
    assert data[SPEED]["value"] == 55 and DRIVER not in data
    # a rule added after the subscription: speed is withdrawn too
    await sec.add_rule(Rule("consumer", frozenset({"read"}), type=VEHICLE, attribute=SPEED,
                            effect="deny"))
    await set_attrs(secured, 1, 66)
    notes = await receiver.wait_for(2)
    assert len(notes) == 2
    assert SPEED not in notes[1]["data"][0] and DRIVER not in notes[1]["data"][0]
    # the subscriber's client is revoked: nothing more is sent
    await sec.store.revoke_credential("client", "consumer", "2026-01-01T00:00:00Z")
    await set_attrs(secured, 2, 77)
    await set_attrs(secured, 1, 88)
    r = await secured.client.post("/ngsi-ld/v1/subscriptions", headers=secured.as_("system-admin"),
                                  json={"type": "Subscription", "entities": [{"type": VEHICLE}],
                                        "notification": {"endpoint": {"uri": receiver.url}}})
    await set_attrs(secured, 1, 99)
    notes = await receiver.wait_for(3)  # the admin's subscription's notification
    assert len(notes) == 3
    assert notes[2]["data"][0][DRIVER]["value"] == "driver 99"
    assert all(n["subscriptionId"] == notes[0]["subscriptionId"] for n in notes[:2])
    assert notes[2]["subscriptionId"] != notes[0]["subscriptionId"]

async def test_live_stream_shows_only_what_the_caller_may_read(secured: Hub) -> None:
    """The stream's events (the same broadcaster GET /dosi/v1/stream reads) lose
    what the caller may not read; a stream filtering on a hidden attribute is 403."""
    from dosi.ngsild.context import core_context
    from dosi.ngsild.render import RenderOptions
    from dosi.ngsild.subscription import parse_subscription
    from dosi.security.principal import acting_as

    hub = secured.hub
    consumer = await hub.security.authenticate(secured.as_("consumer")["Authorization"], None)
    doc = parse_subscription({"type": "Subscription", "entities": [{"type": VEHICLE}],
                              "notification": {"endpoint": {"uri": "http://stream.invalid/"}}},
                             lambda _k: core_context(), "2026-01-01T00:00:00Z")
    with acting_as(consumer):
        live = await hub.subscriptions.stream_filter("", doc, None)
    client = hub.subscriptions.stream.add(live, RenderOptions())
    client.viewer = consumer
    await set_attrs(secured, 2, 42)
    event = await asyncio.wait_for(client.queue.get(), 20)
    [data] = event["data"]
    assert data["id"] == "urn:ngsi-ld:Vehicle:2" and data[SPEED]["value"] == 42
    assert DRIVER not in data
    r = await secured.client.get(f"/dosi/v1/stream?type={VEHICLE}&watchedAttributes={DRIVER}",
                                 headers=secured.as_("consumer"))
    assert r.status_code == 403, r.text
