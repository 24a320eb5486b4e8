"""Security tests: the hub with authentication on, on a fresh SQLite file and on the
PostgreSQL test database, with one caller per role.

Types and attributes are full IRIs so that rules (which name IRIs) read plainly."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from dosi.api.app import create_app
from dosi.security.policy import Rule
from dosi.settings import Settings
from tests.pg import fresh_pg

EX = "urn:ex:"  # no dots: q reads dots as sub-attribute paths
VEHICLE, PARKING, PERSON = EX + "Vehicle", EX + "Parking", EX + "Person"
SPEED, DRIVER, FREE, NAME = EX + "speed", EX + "driver", EX + "free", EX + "name"
CTX = {"@context": {"Vehicle": VEHICLE, "Parking": PARKING, "Person": PERSON,
                    "speed": SPEED, "driver": DRIVER, "free": FREE, "name": NAME}}
CITYB = "cityb"


@dataclass
class Hub:
    client: httpx.AsyncClient
    app: Any
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def hub(self) -> Any:
        return self.app.state.hub

    def as_(self, who: str, tenant: str | None = None) -> dict[str, str]:
        headers = {} if who == "anonymous" else {"Authorization": f"Bearer {self.tokens[who]}"}
        if tenant is not None:
            headers["NGSILD-Tenant"] = tenant
        return headers


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


async def store_url(tmp_path: Any, backend: str) -> str:
    return await fresh_pg() if backend == "postgres" else f"sqlite:///{tmp_path}/hub.db"


ROLE_CALLERS = {
    "system-admin": (["system-admin"], None),
    "data-admin": (["data-admin"], None),
    "connectivity-admin": (["connectivity-admin"], None),
    "consumer": (["consumer"], [""]),
    "consumer-b": (["consumer"], [CITYB]),
}

RULES = [
    # consumers read and subscribe to vehicles but not to who drives them
    Rule("consumer", frozenset({"read", "subscribe"}), tenant="*", type=VEHICLE),
    Rule("consumer", frozenset({"read", "subscribe"}), tenant="*", type=VEHICLE,
         attribute=DRIVER, effect="deny"),
    # the public may read parking availability in the default tenant only
    Rule("public", frozenset({"read"}), tenant="", type=PARKING),
]


@pytest.fixture
async def secured(tmp_path: Any, backend: str) -> AsyncIterator[Hub]:
    """A hub with auth on, the rules above, a token per role and sample data."""
    url = await store_url(tmp_path, backend)
    app = create_app(Settings(store_url=url, auth=True, max_limit=100))
    async with app.router.lifespan_context(app):
        sec = app.state.hub.security
        for rule in RULES:
            await sec.add_rule(rule)
        tokens = {}
        for name, (roles, tenants) in ROLE_CALLERS.items():
            cred, _ = await sec.create_client(roles, tenants, name, client_id=name)
            tokens[name] = (await sec.builtin.issue(cred))["access_token"]
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub") as c:
            h = Hub(c, app, tokens)
            await seed(h)
            yield h


def vehicle(n: int, **attrs: Any) -> dict[str, Any]:
    body = {"id": f"urn:ngsi-ld:Vehicle:{n}", "type": "Vehicle",
            "speed": {"type": "Property", "value": 10 * n,
                      "observedAt": "2026-01-01T00:00:00Z"},
            "driver": {"type": "Property", "value": f"person {n}",
                       "observedAt": "2026-01-01T00:00:00Z"}, **CTX}
    body.update(attrs)
    return body


def parking(n: int) -> dict[str, Any]:
    return {"id": f"urn:ngsi-ld:Parking:{n}", "type": "Parking",
            "free": {"type": "Property", "value": n}, **CTX}


async def seed(h: Hub) -> None:
    admin = h.as_("system-admin")
    ld = {**admin, "Content-Type": "application/ld+json"}
    for body in (vehicle(1), vehicle(2), parking(1)):
        r = await h.client.post("/ngsi-ld/v1/entities", json=body, headers=ld)
        assert r.status_code == 201, r.text
    r = await h.client.post("/ngsi-ld/v1/entities", json=vehicle(9),
                            headers={**ld, "NGSILD-Tenant": CITYB})
    assert r.status_code == 201, r.text
