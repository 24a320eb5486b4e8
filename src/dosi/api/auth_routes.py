"""``/dosi/v1/auth``: the built-in OAuth2 token endpoint (client-credentials grant),
its JWKS, and who-am-I; ``/dosi/v1/audit``: the audit log for a system admin."""

from __future__ import annotations

import base64
import binascii
from urllib.parse import parse_qs

import orjson
from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from dosi.api.deps import hub
from dosi.api.params import int_param
from dosi.errors import UnauthorizedError
from dosi.security.principal import current

router = APIRouter(prefix="/dosi/v1", tags=["security"])


def _oauth_error(status: int, error: str, description: str) -> Response:
    """RFC 6749 section 5.2 error body (what OAuth2 clients expect)."""
    headers = {"Cache-Control": "no-store"}
    if status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="dosi"'
    return Response(orjson.dumps({"error": error, "error_description": description}),
                    status_code=status, media_type="application/json", headers=headers)


@router.post("/auth/token", summary="OAuth2 token endpoint (client_credentials grant)")
async def token(request: Request) -> Response:
    h = hub(request)
    raw = await request.body()
    if len(raw) > 8192:
        return _oauth_error(400, "invalid_request", "request too large")
    form = {k: v[0] for k, v in parse_qs(raw.decode("utf-8", "replace")).items()}
    if form.get("grant_type") != "client_credentials":
        return _oauth_error(400, "unsupported_grant_type", "only client_credentials is supported")
    client_id, secret = form.get("client_id"), form.get("client_secret")
    basic = request.headers.get("authorization", "")
    if basic[:6].lower() == "basic ":
        try:
            client_id, _, secret = base64.b64decode(basic[6:]).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return _oauth_error(401, "invalid_client", "malformed Basic credentials")
    if not client_id or not secret:
        return _oauth_error(401, "invalid_client", "client_id and client_secret are required")
    try:
        issued = await h.security.client_credentials(client_id, secret)
    except UnauthorizedError:
        if h.audit is not None:
            h.audit.record(f"client:{client_id}", "auth.token.refused", "", "")
        return _oauth_error(401, "invalid_client", "unknown client or wrong secret")
    if h.audit is not None:
        h.audit.record(client_id, "auth.token", "", "")
    return Response(orjson.dumps(issued), media_type="application/json",
                    headers={"Cache-Control": "no-store"})


@router.get("/auth/jwks.json", summary="The built-in issuer's public keys (JWKS)")
async def jwks(request: Request) -> Response:
    return Response(orjson.dumps(await hub(request).security.builtin.jwks()),
                    media_type="application/json")


@router.get("/auth/whoami", summary="The caller as the hub sees it")
async def whoami(request: Request) -> Response:
    p = current()
    body = {"subject": p.subject, "kind": p.kind, "roles": sorted(p.roles),
            "tenants": None if p.tenants is None else sorted(p.tenants)}
    return Response(orjson.dumps(body), media_type="application/json")


@router.get("/audit", summary="The audit log (system admin)")
async def audit(request: Request) -> Response:
    h = hub(request)
    params = request.query_params
    after = int_param(params, "after", 0)
    limit = min(max(int_param(params, "limit", 100), 1), 1000)
    rows = await h.audit_log().read(after=after, limit=limit, subject=params.get("subject"),
                                    action=params.get("action"), target=params.get("target"))
    body = [{"seq": r.seq, "at": r.at, "subject": r.subject, "action": r.action,
             "tenant": r.tenant, "target": r.target, "detail": r.detail,
             "prevHash": r.prev_hash, "hash": r.hash} for r in rows]
    return Response(orjson.dumps(body), media_type="application/json")
