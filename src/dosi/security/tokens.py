"""Bearer JWT validation: RS256 and ES256 only, keys from a JWKS (a file, a URL, or
the hub's own issuer), issuer, audience, expiry with a configurable clock skew.

Rejected: ``alg: none``, HMAC algorithms (a public key used as an HMAC secret is the
classic key-confusion forgery), a ``kid`` no JWKS knows (after one refresh), a key
whose type does not fit the algorithm, a wrong issuer or audience, an expired token,
and any signature that does not verify (a tampered payload).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from dosi.errors import UnauthorizedError

ALGORITHMS = ("RS256", "ES256")
_KTY = {"RS256": "RSA", "ES256": "EC"}

JwksLoader = Callable[[], Awaitable[dict[str, Any]]]


def file_loader(path: str) -> JwksLoader:
    async def load() -> dict[str, Any]:
        text = await asyncio.to_thread(Path(path).read_text)
        return json.loads(text)  # type: ignore[no-any-return]
    return load


def url_loader(url: str, timeout: float = 5.0) -> JwksLoader:
    async def load() -> dict[str, Any]:
        async with httpx.AsyncClient(timeout=timeout) as client:
            resp = await client.get(url)
            resp.raise_for_status()
            return resp.json()  # type: ignore[no-any-return]
    return load


class JwksCache:
    """The keys of one issuer by ``kid``; reloaded after ``ttl`` seconds, or when a
    token names an unknown ``kid`` (at most once per ``min_refresh`` seconds, so a
    stream of forged kids cannot hammer the issuer)."""

    def __init__(self, loader: JwksLoader, ttl: float = 300.0, min_refresh: float = 10.0):
        self._loader = loader
        self._ttl = ttl
        self._min_refresh = min_refresh
        self._keys: dict[str, tuple[str, Any]] = {}
        self._loaded_at = float("-inf")
        self._lock = asyncio.Lock()

    def invalidate(self) -> None:
        self._loaded_at = float("-inf")

    async def _reload(self) -> None:
        async with self._lock:
            if time.monotonic() - self._loaded_at < self._min_refresh:
                return
            try:
                doc = await self._loader()
            except (httpx.HTTPError, OSError, ValueError):  # issuer down: keep our keys
                self._loaded_at = time.monotonic()
                return
            keys: dict[str, tuple[str, Any]] = {}
            for jwk in doc.get("keys", []) if isinstance(doc, dict) else []:
                kty, kid = jwk.get("kty"), jwk.get("kid", "")
                try:
                    if kty == "RSA":
                        keys[kid] = ("RSA", RSAAlgorithm.from_jwk(jwk))
                    elif kty == "EC":
                        keys[kid] = ("EC", ECAlgorithm.from_jwk(jwk))
                except (ValueError, KeyError, TypeError, jwt.InvalidKeyError):
                    continue  # a key we cannot use is no key
            self._keys = keys
            self._loaded_at = time.monotonic()

    async def key(self, kid: str) -> tuple[str, Any] | None:
        if time.monotonic() - self._loaded_at > self._ttl:
            await self._reload()
        found = self._keys.get(kid)
        if found is None:
            await self._reload()
            found = self._keys.get(kid)
        return found


@dataclass
class Issuer:
    """An issuer the hub trusts: its ``iss`` value, where its keys are, the audience."""

    issuer: str
    keys: JwksCache
    audience: str


class TokenValidator:
    def __init__(self, issuers: list[Issuer], leeway: float = 30.0) -> None:
        self._issuers = {i.issuer: i for i in issuers}
        self._leeway = leeway

    async def validate(self, token: str) -> dict[str, Any]:
        """The claims of a valid token; ``UnauthorizedError`` otherwise (the detail
        says why, never echoing the token)."""
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise UnauthorizedError("the bearer token is not a well-formed JWT") from None
        alg = header.get("alg")
        if alg not in ALGORITHMS:
            raise UnauthorizedError(f"token algorithm {alg!r} is not accepted "
                                    f"(only {', '.join(ALGORITHMS)})")
        issuer = self._issuers.get(str(unverified.get("iss")))
        if issuer is None:
            raise UnauthorizedError("the token's issuer is not trusted")
        found = await issuer.keys.key(str(header.get("kid", "")))
        if found is None:
            raise UnauthorizedError("the token's signing key (kid) is unknown")
        kty, key = found
        if kty != _KTY[alg]:
            raise UnauthorizedError("the token's algorithm does not fit its key")
        try:
            claims: dict[str, Any] = jwt.decode(
                token, key, algorithms=[alg], audience=issuer.audience, issuer=issuer.issuer,
                leeway=self._leeway, options={"require": ["exp", "iss", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise UnauthorizedError("the token has expired") from None
        except jwt.InvalidAudienceError:
            raise UnauthorizedError("the token is not meant for this hub (audience)") from None
        except jwt.InvalidIssuerError:
            raise UnauthorizedError("the token's issuer is not trusted") from None
        except jwt.InvalidSignatureError:
            raise UnauthorizedError("the token's signature does not verify") from None
        except jwt.PyJWTError as exc:
            raise UnauthorizedError(f"the token is not valid: {exc}") from None
        return claims
