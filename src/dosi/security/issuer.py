"""The built-in token issuer (OAuth2 client-credentials grant) for cities without an
identity server of their own: an ES256 key made and kept by the hub in its store,
published as a JWKS so the hub validates its own tokens exactly as it validates a
Keycloak's. Also the secrets of clients and API keys (only their SHA-256 is kept)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
import uuid
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from dosi.ngsild.values import now_iso
from dosi.storage.security_base import Credential, SecurityStore, SigningKey

APIKEY_PREFIX = "dosi_"


def hash_secret(secret: str) -> str:
    """Secrets are 256-bit random strings the hub makes, so one SHA-256 suffices
    (no password stretching is needed for keys nobody can guess)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def secret_matches(secret: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(secret), stored_hash)


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def new_api_key() -> tuple[str, str]:
    """(key id, the whole key ``dosi_<id>_<secret>`` to hand to the machine once)."""
    key_id = secrets.token_hex(6)
    return key_id, f"{APIKEY_PREFIX}{key_id}_{new_secret()}"


def split_api_key(key: str) -> tuple[str, str] | None:
    if not key.startswith(APIKEY_PREFIX):
        return None
    key_id, sep, secret = key[len(APIKEY_PREFIX):].partition("_")
    return (key_id, secret) if sep and key_id and secret else None


def usable(cred: Credential | None, now: str | None = None) -> bool:
    """Not revoked and not expired."""
    if cred is None or cred.revoked_at is not None:
        return False
    return cred.expires_at is None or cred.expires_at > (now or now_iso())


def new_signing_key() -> SigningKey:
    private = ec.generate_private_key(ec.SECP256R1())
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    return SigningKey(uuid.uuid4().hex[:16], "ES256", pem, now_iso())


def public_jwk(key: SigningKey) -> dict[str, Any]:
    private = serialization.load_pem_private_key(key.private_pem.encode(), password=None)
    jwk: dict[str, Any] = ECAlgorithm.to_jwk(private.public_key(), as_dict=True)  # type: ignore[arg-type]
    jwk.update(kid=key.kid, alg=key.alg, use="sig")
    return jwk


class BuiltinIssuer:
    def __init__(self, store: SecurityStore, issuer: str, audience: str, ttl: int) -> None:
        self.store = store
        self.issuer = issuer
        self.audience = audience
        self.ttl = ttl

    async def current_key(self) -> SigningKey:
        """The newest signing key, made on first use (several processes may race: the
        newest one wins, and every one stays in the JWKS)."""
        keys = await self.store.signing_keys()
        if not keys:
            await self.store.add_signing_key(new_signing_key())
            keys = await self.store.signing_keys()
        return keys[0]

    async def jwks(self) -> dict[str, Any]:
        return {"keys": [public_jwk(k) for k in await self.store.signing_keys()]}

    async def issue(self, cred: Credential, lifetime: int | None = None) -> dict[str, Any]:
        """An access token for a client (the token endpoint, ``dosi auth token``)."""
        key = await self.current_key()
        now = int(time.time())
        ttl = lifetime or self.ttl
        claims: dict[str, Any] = {
            "iss": self.issuer, "sub": cred.id, "aud": self.audience, "iat": now,
            "exp": now + ttl, "jti": uuid.uuid4().hex, "roles": list(cred.roles),
            "client_id": cred.id,
        }
        if cred.tenants is not None:
            claims["tenants"] = list(cred.tenants)
        token = jwt.encode(claims, key.private_pem, algorithm=key.alg, headers={"kid": key.kid})
        return {"access_token": token, "token_type": "Bearer", "expires_in": ttl}
