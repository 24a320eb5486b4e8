"""Authentication and coarse authorisation of every request, as ASGI middleware.

Each request gets its ``Principal`` (bearer JWT, API key, or the ``public`` role
when it brings no credentials), set for the services to consult; rate limits are
applied per caller; a route family the caller's roles cannot use at all is refused
here (401 without credentials, 403 with). Finer checks (entity types, attributes,
ownership of subscriptions) happen below, in ``security.guard`` and the services.
"""

from __future__ import annotations

from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dosi.api.problem import problem_response
from dosi.errors import (
    BadRequestDataError,
    DosiError,
    ForbiddenError,
    TooManyRequestsError,
    UnauthorizedError,
)
from dosi.security.policy import CONNECTIVITY_ADMIN, DATA_ADMIN, SYSTEM_ADMIN
from dosi.security.principal import SYSTEM, Principal, reset_current, set_current

PUBLIC_PATHS = frozenset({"/health", "/docs", "/docs/oauth2-redirect", "/redoc",
                          "/openapi.json", "/dosi/v1/auth/token", "/dosi/v1/auth/jwks.json"})
DATA = ("/ngsi-ld/v1/entities", "/ngsi-ld/v1/entityOperations", "/ngsi-ld/v1/temporal",
        "/ngsi-ld/v1/types", "/ngsi-ld/v1/attributes", "/dosi/v1/stream")
QUERY_POSTS = ("/ngsi-ld/v1/entityOperations/query",
               "/ngsi-ld/v1/temporal/entityOperations/query")
ADMINS = frozenset({SYSTEM_ADMIN, DATA_ADMIN, CONNECTIVITY_ADMIN})
READS = ("GET", "HEAD", "OPTIONS")


INGEST_PARTS = ("deadletters", "keys", "quality")


def family(path: str) -> str:
    """The route family of a path (what the coarse check is about)."""
    if path in PUBLIC_PATHS or path.rstrip("/") in PUBLIC_PATHS:
        return "public"
    if path.startswith(DATA):
        return "data"
    if path.startswith("/dosi/v1/ingest/"):
        return "push"  # the HTTP push adapter checks its own per-dataset keys
    parts = path.split("/")
    if path.startswith("/dosi/v1/datasets/") and len(parts) > 5 and parts[5] in INGEST_PARTS:
        return "ingest"  # dead letters hold raw records; keys and quality are operations
    if path.startswith("/dosi/v1/quality"):
        return "ingest"
    for prefix, name in (("/ngsi-ld/v1/jsonldContexts", "contexts"),
                         ("/ngsi-ld/v1/subscriptions", "subscriptions"),
                         ("/dosi/v1/audit", "audit"), ("/dosi/v1/auth", "self"),
                         ("/dosi/v1/models", "catalog"), ("/dosi/v1/datasets", "catalog"),
                         ("/dosi/v1/catalog", "catalog")):
        if path.startswith(prefix):
            return name
    return "other"


def coarse_check(p: Principal, method: str, path: str, tenant: str) -> None:
    """Raise Unauthorized/Forbidden when no rule could ever let ``p`` do this."""
    fam = family(path)
    reading = method in READS or path in QUERY_POSTS
    if fam in ("public", "push"):
        return

    def need_login() -> None:
        if p.anonymous:
            raise UnauthorizedError("this needs a bearer token or an API key")

    def need_roles(roles: frozenset[str], what: str) -> None:
        need_login()
        if not roles & p.roles:
            raise ForbiddenError(f"{what} needs one of the roles {', '.join(sorted(roles))}")

    if fam in ("data", "subscriptions", "ingest") and not p.tenant_ok(tenant):
        need_login()
        raise ForbiddenError(f"you have no access to tenant {tenant or '(default)'}")
    if fam == "data":
        if reading:
            if p.anonymous and not p.policy.has_any("read", tenant):
                raise UnauthorizedError("this needs a bearer token or an API key")
            return
        need_login()
        if not (p.policy.has_any("write", tenant) or p.policy.has_any("delete", tenant)):
            raise ForbiddenError("your roles allow no changes to data here")
    elif fam == "contexts":
        if reading:
            if p.anonymous and not p.policy.has_any("read", tenant):
                need_login()
            return
        need_roles(ADMINS, "managing @contexts")
    elif fam == "subscriptions":
        need_login()
        if not p.policy.has_any("subscribe", tenant):
            raise ForbiddenError("your roles allow no subscriptions here")
    elif fam == "audit":
        need_roles(frozenset({SYSTEM_ADMIN}), "the audit log")
        if not p.superuser:
            raise ForbiddenError("the audit log spans every tenant: a system admin confined "
                                 "to some tenants may not read it")
    elif fam == "self":
        need_login()
    elif fam == "ingest":
        need_roles(ADMINS, "ingestion")
    elif fam == "catalog":
        if reading:
            if p.anonymous and not p.policy.has_any("read", tenant):
                need_login()
            return
        need_roles(frozenset({SYSTEM_ADMIN, DATA_ADMIN}), "changing the catalog")
    else:
        need_login()
        if not reading:
            need_roles(ADMINS, "this change")


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")
    return None


class AuthMiddleware:
    """Sets the caller of each HTTP request; refuses what it cannot allow."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, exc: DosiError) -> None:
        await problem_response(exc)(scope, receive, send)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        hub = scope["app"].state.hub
        sec, settings = hub.security, hub.settings
        path, method = scope["path"], scope["method"]
        client = (scope.get("client") or ("?", 0))[0]
        tenant = _header(scope, b"ngsild-tenant") or ""
        principal = SYSTEM
        try:
            if settings.auth and family(path) not in ("public", "push"):
                principal = await sec.authenticate(_header(scope, b"authorization"),
                                                   _header(scope, b"x-api-key"))
            if hub.rate_limiter is not None:
                key = f"ip:{client}" if principal.anonymous or principal.kind == "system" \
                    else f"{principal.kind}:{principal.subject}"
                wait = hub.rate_limiter.take(key)
                if wait:
                    raise TooManyRequestsError(
                        f"rate limit of {settings.rate_limit:g} requests/s exceeded; "
                        f"retry in {wait} s", retryAfter=wait)
            if settings.auth:
                if len(tenant) > 128:
                    raise BadRequestDataError("invalid tenant")
                coarse_check(principal, method, path, tenant)
        except (UnauthorizedError, ForbiddenError) as exc:
            if hub.audit is not None:
                hub.audit.record(principal.subject if not isinstance(exc, UnauthorizedError)
                                 else f"ip:{client}",
                                 "auth.denied" if isinstance(exc, ForbiddenError)
                                 else "auth.failed", tenant, f"{method} {path}",
                                 {"detail": exc.detail})
            await self._refuse(scope, receive, send, exc)
            return
        except DosiError as exc:
            await self._refuse(scope, receive, send, exc)
            return
        if not settings.auth:
            await self.app(scope, receive, send)
            return
        status: dict[str, Any] = {}

        async def send_status(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        token = set_current(principal)
        try:
            await self.app(scope, receive, send_status)
        finally:
            reset_current(token)
            code = status.get("code", 500)
            if hub.audit is not None and (code == 403 or (
                    method not in READS and path not in QUERY_POSTS
                    and family(path) != "public")):
                hub.audit.record(principal.subject, "http." + method.lower(), tenant, path,
                                 {"status": code})
