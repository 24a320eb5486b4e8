"""Bad and forged credentials: each is refused with a 401 ProblemDetails that does
not echo the credential, and valid ones from an external issuer (a city's Keycloak:
JWKS from a file, or from a URL served on loopback) are accepted."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import uvicorn
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from dosi.api.app import create_app
from dosi.settings import Settings
from tests.integration.receiver import free_port

KC = "http://127.0.0.1:8180/realms/city"
WHOAMI = "/dosi/v1/auth/whoami"


def rsa_key() -> Any:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def jwk_of(private: Any, kid: str) -> dict[str, Any]:
    algo = RSAAlgorithm if isinstance(private, rsa.RSAPrivateKey) else ECAlgorithm
    jwk = algo.to_jwk(private.public_key(), as_dict=True)
    jwk["kid"] = kid
    return jwk  # type: ignore[no-any-return]


def claims(**over: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {"iss": KC, "aud": "dosi", "sub": "alice", "iat": now, "exp": now + 300,
            "realm_access": {"roles": ["consumer", "offline_access"]}}
    base.update(over)
    return {k: v for k, v in base.items() if v is not None}


def sign(private: Any, kid: str, alg: str = "RS256", **over: Any) -> str:
    return jwt.encode(claims(**over), private, algorithm=alg, headers={"kid": kid})


class Keycloak:
    """The JWKS of a stand-in identity server, as a file and as a URL on loopback."""

    def __init__(self, tmp: Path) -> None:
        self.keys = {"k1": rsa_key()}
        self.file = tmp / "jwks.json"
        self.port = free_port()
        self.fetches = 0
        self.write()
        app = Starlette(routes=[Route("/certs", self._certs)])
        self._server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port,
                                                     log_level="warning", lifespan="off"))

    def jwks(self) -> dict[str, Any]:
        return {"keys": [jwk_of(k, kid) for kid, k in self.keys.items()]}

    def write(self) -> None:
        self.file.write_text(json.dumps(self.jwks()))

    async def _certs(self, request: Request) -> JSONResponse:
        self.fetches += 1
        return JSONResponse(self.jwks())

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/certs"

    async def __aenter__(self) -> Keycloak:  # noqa: PYI034
        self._task = asyncio.create_task(self._server.serve())
        while not self._server.started:
            await asyncio.sleep(0.01)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._server.should_exit = True
        await self._task


async def client_for(settings: Settings) -> AsyncIterator[tuple[httpx.AsyncClient, Any]]:
    app = create_app(settings)
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://hub") as c:
        yield c, app


@pytest.fixture
async def kc(tmp_path: Path) -> AsyncIterator[Keycloak]:
    async with Keycloak(tmp_path) as k:
        yield k


@pytest.fixture
async def hub(tmp_path: Path, kc: Keycloak) -> AsyncIterator[tuple[httpx.AsyncClient, Any]]:
    settings = Settings(store_url=f"sqlite:///{tmp_path}/hub.db", auth=True,
                        auth_external_issuer=KC, auth_jwks_file=str(kc.file),
                        auth_clock_skew=30, auth_cache_ttl=0, auth_jwks_refresh=0)
    async for pair in client_for(settings):
        yield pair


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def refused(c: httpx.AsyncClient, headers: dict[str, str], why: str) -> None:
    r = await c.get(WHOAMI, headers=headers)
    assert r.status_code == 401, r.text
    body = r.json()
    assert body["type"].endswith("Unauthorized") and body["status"] == 401
    assert why in body["detail"], body
    assert r.headers["www-authenticate"].startswith("Bearer")
    secret = headers.get("Authorization", "").split(" ")[-1]
    assert not secret or secret not in r.text


async def test_keycloak_token_from_a_jwks_file(hub: Any, kc: Keycloak) -> None:
    c, _ = hub
    r = await c.get(WHOAMI, headers=bearer(sign(kc.keys["k1"], "k1")))
    assert r.status_code == 200, r.text
    assert r.json() == {"subject": "alice", "kind": "token", "roles": ["consumer"],
                        "tenants": None}


async def test_expiry_with_clock_skew(hub: Any, kc: Keycloak) -> None:
    c, _ = hub
    now = int(time.time())
    r = await c.get(WHOAMI, headers=bearer(sign(kc.keys["k1"], "k1", exp=now - 10)))
    assert r.status_code == 200  # within the 30 s skew
    await refused(c, bearer(sign(kc.keys["k1"], "k1", exp=now - 120)), "expired")


async def test_wrong_issuer_and_audience(hub: Any, kc: Keycloak) -> None:
    c, _ = hub
    await refused(c, bearer(sign(kc.keys["k1"], "k1", iss="https://evil.example/realm")),
                  "issuer")
    await refused(c, bearer(sign(kc.keys["k1"], "k1", aud="another-app")), "audience")
    await refused(c, bearer(sign(kc.keys["k1"], "k1", exp=None)), "not valid")


async def test_alg_none_is_refused(hub: Any, kc: Keycloak) -> None:
    c, _ = hub
    token = jwt.encode(claims(), None, algorithm="none", headers={"kid": "k1"})  # type: ignore[arg-type]
    await refused(c, bearer(token), "algorithm 'none'")
    # hand-made too: header {"alg":"none"} and an empty signature
    def b64(d: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(d).encode()).decode().rstrip("=")
    await refused(c, bearer(f"{b64({'alg': 'none', 'kid': 'k1'})}.{b64(claims())}."),
                  "algorithm")


async def test_key_confusion_hs256_with_the_public_key(hub: Any, kc: Keycloak) -> None:
    c, _ = hub
    public_pem = kc.keys["k1"].public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    header = {"alg": "HS256", "kid": "k1", "typ": "JWT"}
    import hashlib
    import hmac
    def b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")
    signing_input = (b64(json.dumps(header).encode()) + "." +
                     b64(json.dumps(claims(realm_access={"roles": ["system-admin"]})).encode()))
    sig = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    await refused(c, bearer(f"{signing_input}.{b64(sig)}"), "algorithm 'HS256'")


async def test_tampered_payload(hub: Any, kc: Keycloak) -> None:
    c, _ = hub
    token = sign(kc.keys["k1"], "k1")
    head, payload, sig = token.split(".")
    body = json.loads(base64.urlsafe_b64decode(payload + "=="))
    body["realm_access"]["roles"] = ["system-admin"]
    forged = base64.urlsafe_b64encode(json.dumps(body).encode()).decode().rstrip("=")
    await refused(c, bearer(f"{head}.{forged}.{sig}"), "signature")


async def test_unknown_kid_and_a_key_of_the_wrong_type(hub: Any, kc: Keycloak) -> None:
    c, _ = hub
    await refused(c, bearer(sign(rsa_key(), "k-unknown")), "unknown")
    # an EC-signed token naming the RSA key's kid
    await refused(c, bearer(sign(ec.generate_private_key(ec.SECP256R1()), "k1", alg="ES256")),
                  "does not fit")
    # signed by another RSA key under the trusted kid
    await refused(c, bearer(sign(rsa_key(), "k1")), "signature")


async def test_key_rotation_reloads_the_jwks_on_an_unknown_kid(hub: Any, kc: Keycloak) -> None:
    c, _ = hub
    assert (await c.get(WHOAMI, headers=bearer(sign(kc.keys["k1"], "k1")))).status_code == 200
    kc.keys["k2"] = rsa_key()
    kc.write()
    r = await c.get(WHOAMI, headers=bearer(sign(kc.keys["k2"], "k2")))
    assert r.status_code == 200, r.text


async def test_malformed_headers(hub: Any) -> None:
    c, _ = hub
    await refused(c, {"Authorization": "Bearer not.a.jwt"}, "well-formed")
    await refused(c, {"Authorization": "Bearer "}, "Bearer")
    await refused(c, {"Authorization": "Basic YWxpY2U6cHc="}, "Bearer")


async def test_jwks_from_a_url_is_fetched_once_and_cached(tmp_path: Path, kc: Keycloak) -> None:
    settings = Settings(store_url=f"sqlite:///{tmp_path}/url.db", auth=True,
                        auth_external_issuer=KC, auth_jwks_url=kc.url)
    async for c, _ in client_for(settings):
        for _ in range(3):
            r = await c.get(WHOAMI, headers=bearer(sign(kc.keys["k1"], "k1")))
            assert r.status_code == 200, r.text
        assert kc.fetches == 1
        await refused(c, bearer(sign(rsa_key(), "k9")), "unknown")


async def test_builtin_issuer_client_credentials_and_revocation(hub: Any) -> None:
    c, app = hub
    sec = app.state.hub.security
    _, secret = await sec.create_client(["data-admin"], ["t1"], "ops", "ops-client")
    r = await c.post("/dosi/v1/auth/token", data={"grant_type": "client_credentials",
                                                 "client_id": "ops-client",
                                                 "client_secret": "wrong"})
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    r = await c.post("/dosi/v1/auth/token", data={"grant_type": "password"})
    assert r.status_code == 400 and r.json()["error"] == "unsupported_grant_type"
    basic = base64.b64encode(f"ops-client:{secret}".encode()).decode()
    r = await c.post("/dosi/v1/auth/token", data={"grant_type": "client_credentials"},
                     headers={"Authorization": f"Basic {basic}"})
    assert r.status_code == 200, r.text
    token = r.json()["access_token"]
    assert jwt.get_unverified_header(token)["alg"] == "ES256"
    r = await c.get(WHOAMI, headers=bearer(token))
    assert r.json() == {"subject": "ops-client", "kind": "token", "roles": ["data-admin"],
                        "tenants": ["t1"]}
    jwks = (await c.get("/dosi/v1/auth/jwks.json")).json()
    assert [k["kty"] for k in jwks["keys"]] == ["EC"] and "d" not in jwks["keys"][0]
    await sec.store.revoke_credential("client", "ops-client", "2026-01-01T00:00:00Z")
    await refused(c, bearer(token), "revoked")


async def test_api_keys(hub: Any) -> None:
    c, app = hub
    sec = app.state.hub.security
    cred, key = await sec.create_api_key(["connectivity-admin"], None, "sensor gateway")
    r = await c.get(WHOAMI, headers={"X-API-Key": key})
    assert r.status_code == 200 and r.json()["roles"] == ["connectivity-admin"]
    r = await c.get(WHOAMI, headers={"Authorization": f"ApiKey {key}"})
    assert r.status_code == 200
    stored = await sec.store.get_credential("apikey", cred.id)
    assert key.split("_")[-1] not in stored.secret_hash and len(stored.secret_hash) == 64
    await refused(c, {"X-API-Key": key[:-2] + "xx"}, "not valid")
    await refused(c, {"X-API-Key": "dosi_nothing_here"}, "not valid")
    await refused(c, {"X-API-Key": "garbage"}, "not valid")
    _, old = await sec.create_api_key(["consumer"], None, "old", expires_at="2020-01-01T00:00:00Z")
    await refused(c, {"X-API-Key": old}, "expired")
    await sec.store.revoke_credential("apikey", cred.id, "2026-01-01T00:00:00Z")
    await refused(c, {"X-API-Key": key}, "revoked")
