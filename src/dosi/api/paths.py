"""Path clean-up before routing: NGSI-LD clients send trailing slashes and empty
segments; both forms are served, and empty ids are a 400 rather than a 404."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from dosi.api.problem import problem_response
from dosi.errors import BadRequestDataError

PREFIX = "/ngsi-ld/v1/"
_ID_METHODS = {"PUT", "PATCH"}


class NormalizePathMiddleware:
    """Strips one trailing slash; answers 400 for empty path segments (``//``) and
    for PUT/PATCH on ``/entities`` without an id."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(PREFIX):
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        raw = scope.get("raw_path") or b""
        method = scope["method"]
        trailing = path.endswith("/") and len(path) > len(PREFIX)
        stripped = path[:-1] if trailing else path
        if stripped.startswith((PREFIX + "entities", PREFIX + "temporal/entities")) and (
            "//" in stripped[len(PREFIX) - 1:]
        ):
            resp = problem_response(BadRequestDataError("empty path segment (missing id?)"))
            if method == "PATCH" and stripped.startswith(PREFIX + "temporal/") and (
                "/attrs//" in stripped
            ):  # an instance without its attribute: no PATCH route at that level
                resp.status_code = 405
            await resp(scope, receive, send)
            return
        if method in _ID_METHODS and stripped == PREFIX + "entities":
            await problem_response(BadRequestDataError("the entity id is missing from the path"))(
                scope, receive, send
            )
            return
        if trailing:
            scope = dict(scope)
            scope["path"] = stripped
            if raw.endswith(b"/"):
                scope["raw_path"] = raw[:-1]
        await self.app(scope, receive, send)
