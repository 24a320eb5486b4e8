"""``SecurityService``: who is calling (bearer JWT, API key, or nobody), with the
rules of their roles; the token endpoint; credentials and rules for ``dosi auth``.

Rules and credentials are read from the store and kept ``cache_ttl`` seconds, so a
revoked key or a changed rule takes effect within that time in every hub process.
"""

from __future__ import annotations

import secrets
import time
import uuid
from typing import Any

from dosi.errors import UnauthorizedError
from dosi.ngsild.values import now_iso
from dosi.security.issuer import (
    BuiltinIssuer,
    hash_secret,
    new_api_key,
    new_secret,
    secret_matches,
    split_api_key,
    usable,
)
from dosi.security.policy import ROLES, Rule, check_rule
from dosi.security.principal import Principal, anonymous, make_principal
from dosi.security.privacy import Privacy, Pseudonymiser
from dosi.security.tokens import Issuer, JwksCache, TokenValidator, file_loader, url_loader
from dosi.storage.security_base import Credential, SecurityStore


def roles_of_claims(claims: dict[str, Any], claim: str, audience: str) -> frozenset[str]:
    """dosi roles named in a token: ``roles`` (or the configured claim), Keycloak's
    ``realm_access.roles`` and ``resource_access.<audience>.roles``."""
    found: list[str] = []
    raw = claims.get(claim)
    found += raw.split() if isinstance(raw, str) else list(raw or [])
    found += list((claims.get("realm_access") or {}).get("roles") or [])
    found += list(((claims.get("resource_access") or {}).get(audience) or {}).get("roles") or [])
    return frozenset(r for r in found if r in ROLES)


class SecurityService:
    def __init__(self, store: SecurityStore, *, issuer: str, audience: str, token_ttl: int,
                 leeway: float, external_issuer: str | None = None,
                 jwks_url: str | None = None, jwks_file: str | None = None,
                 roles_claim: str = "roles", tenants_claim: str = "tenants",
                 cache_ttl: float = 5.0, jwks_refresh: float = 10.0) -> None:
        self.store = store
        self.builtin = BuiltinIssuer(store, issuer, audience, token_ttl)
        self.audience = audience
        issuers = [Issuer(issuer, JwksCache(self.builtin.jwks, min_refresh=1.0), audience)]
        if external_issuer and (jwks_url or jwks_file):
            loader = url_loader(jwks_url) if jwks_url else file_loader(jwks_file or "")
            issuers.append(Issuer(external_issuer, JwksCache(loader, min_refresh=jwks_refresh),
                                  audience))
        self.validator = TokenValidator(issuers, leeway)
        self.roles_claim = roles_claim
        self.tenants_claim = tenants_claim
        self.cache_ttl = cache_ttl
        self.privacy: Privacy | None = None  # set by the hub when types are declared
        self._rules: tuple[float, tuple[Rule, ...]] | None = None
        self._creds: dict[tuple[str, str], tuple[float, Credential | None]] = {}
        self._tokens: dict[str, tuple[float, Principal]] = {}  # verified bearer tokens

    async def start(self) -> None:
        await self.store.init_security()
        await self.builtin.current_key()
        if self.privacy is not None and any(r.pseudonymise for r in self.privacy.rules.values()):
            await self.load_privacy_keys(create=True)

    async def load_privacy_keys(self, create: bool = False) -> Pseudonymiser:
        """The pseudonymisation keys (made on first use); rotation adds a version."""
        keys = await self.store.privacy_keys()
        if not keys and create:
            await self.store.add_privacy_key(1, secrets.token_bytes(32).hex(), now_iso())
            keys = await self.store.privacy_keys()
        pseudo = Pseudonymiser({v: bytes.fromhex(k) for v, k in keys})
        if self.privacy is not None:
            self.privacy.pseudo.keys = pseudo.keys
        return pseudo

    async def rotate_privacy_key(self) -> int:
        keys = await self.store.privacy_keys()
        version = max((v for v, _ in keys), default=0) + 1
        await self.store.add_privacy_key(version, secrets.token_bytes(32).hex(), now_iso())
        return version

    # --- cached lookups ---

    async def rules(self) -> tuple[Rule, ...]:
        now = time.monotonic()
        if self._rules is None or now - self._rules[0] > self.cache_ttl:
            self._rules = (now, tuple(await self.store.list_rules()))
        return self._rules[1]

    async def credential(self, kind: str, cred_id: str) -> Credential | None:
        now = time.monotonic()
        hit = self._creds.get((kind, cred_id))
        if hit is None or now - hit[0] > self.cache_ttl:
            if len(self._creds) > 10_000:
                self._creds.clear()
            hit = self._creds[(kind, cred_id)] = (now, await self.store.get_credential(kind,
                                                                                      cred_id))
        return hit[1]

    def forget(self) -> None:
        self._rules = None
        self._creds.clear()
        self._tokens.clear()

    # --- authentication ---

    async def authenticate(self, authorization: str | None, api_key: str | None) -> Principal:
        """The caller of a request; ``UnauthorizedError`` for bad credentials. No
        credentials at all is the ``public`` role."""
        rules = await self.rules()
        if api_key is None and authorization and authorization[:7].lower() == "apikey ":
            api_key = authorization[7:].strip()
        if api_key is not None:
            return await self._api_key(api_key, rules)
        if not authorization:
            return anonymous(rules, self.privacy)
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise UnauthorizedError("use 'Authorization: Bearer <token>' or an X-API-Key header")
        token = token.strip()
        now = time.monotonic()
        hit = self._tokens.get(token)
        if hit is not None and now < hit[0]:
            return hit[1]  # verified less than cache_ttl ago, not expired since
        claims = await self.validator.validate(token)
        if claims["iss"] == self.builtin.issuer:  # our own client: still enabled?
            cred = await self.credential("client", str(claims["sub"]))
            if not usable(cred):
                raise UnauthorizedError("the client of this token is revoked or expired")
        roles = roles_of_claims(claims, self.roles_claim, self.audience)
        raw_tenants = claims.get(self.tenants_claim)
        tenants = None if raw_tenants is None else frozenset(
            [raw_tenants] if isinstance(raw_tenants, str) else raw_tenants)
        principal = make_principal(str(claims["sub"]), "token", roles, tenants, rules,
                                   self.privacy)
        if self.cache_ttl > 0:
            if len(self._tokens) > 10_000:
                self._tokens.clear()
            lifetime = float(claims["exp"]) - time.time()
            self._tokens[token] = (now + min(self.cache_ttl, lifetime), principal)
        return principal

    async def _api_key(self, key: str, rules: tuple[Rule, ...]) -> Principal:
        parts = split_api_key(key.strip())
        cred = await self.credential("apikey", parts[0]) if parts else None
        if parts is None or cred is None or not secret_matches(parts[1], cred.secret_hash):
            raise UnauthorizedError("the API key is not valid")
        if not usable(cred):
            raise UnauthorizedError("the API key is revoked or expired")
        tenants = None if cred.tenants is None else frozenset(cred.tenants)
        return make_principal(cred.id, "apikey", frozenset(cred.roles), tenants, rules,
                              self.privacy)

    async def subscriber(self, ref: dict[str, Any]) -> Principal:
        """The rights of a subscriber now (at each notification): its credential must
        still be valid, and the rules are today's."""
        rules = await self.rules()
        kind, sub = ref.get("kind"), str(ref.get("sub", ""))
        roles = frozenset(ref.get("roles") or ())
        if kind == "apikey":
            cred = await self.credential("apikey", sub)
            roles = frozenset(cred.roles) if usable(cred) and cred else frozenset()
        elif kind == "token":
            cred = await self.credential("client", sub)
            if cred is not None:
                roles = frozenset(cred.roles) if usable(cred) else frozenset()
        tenants = frozenset(ref["tenants"]) if "tenants" in ref else None
        return make_principal(sub, str(kind), roles, tenants, rules, self.privacy)

    async def client_credentials(self, client_id: str, secret: str) -> dict[str, Any]:
        """The token endpoint's grant; ``UnauthorizedError`` for a bad client."""
        cred = await self.store.get_credential("client", client_id)
        if cred is None or not secret_matches(secret, cred.secret_hash) or not usable(cred):
            raise UnauthorizedError("unknown client or wrong secret")
        return await self.builtin.issue(cred)

    # --- administration (dosi auth) ---

    async def create_client(self, roles: list[str], tenants: list[str] | None = None,
                            label: str = "", client_id: str | None = None,
                            expires_at: str | None = None) -> tuple[Credential, str]:
        _check_roles(roles)
        secret = new_secret()
        cred = Credential("client", client_id or f"client-{uuid.uuid4().hex[:12]}",
                          hash_secret(secret), roles, tenants, label, now_iso(), expires_at)
        await self.store.put_credential(cred)
        return cred, secret

    async def create_api_key(self, roles: list[str], tenants: list[str] | None = None,
                             label: str = "", expires_at: str | None = None
                             ) -> tuple[Credential, str]:
        _check_roles(roles)
        key_id, key = new_api_key()
        parts = split_api_key(key)
        assert parts is not None
        cred = Credential("apikey", key_id, hash_secret(parts[1]), roles, tenants, label,
                          now_iso(), expires_at)
        await self.store.put_credential(cred)
        return cred, key

    async def add_rule(self, rule: Rule) -> Rule:
        if not rule.id:
            rule = Rule(**{**rule.__dict__, "id": f"rule-{uuid.uuid4().hex[:10]}"})
        check_rule(rule)
        await self.store.put_rule(rule)
        self.forget()
        return rule


def _check_roles(roles: list[str]) -> None:
    bad = [r for r in roles if r not in ROLES]
    if bad or not roles:
        raise ValueError(f"roles must be some of {', '.join(ROLES)} (got {', '.join(roles)})")
