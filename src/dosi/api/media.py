"""Content negotiation, request bodies and @context extraction, and JSON responses.

The NGSI-LD rules: ``application/json`` bodies take their @context from the ``Link``
header and must not carry one inline; ``application/ld+json`` bodies carry it inline
and must not have a ``Link`` context; responses in ``application/json`` point to the
context with a ``Link`` header, in ``application/ld+json`` embed it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from dosi.errors import (
    BadRequestDataError,
    InvalidRequestError,
    NotAcceptableError,
    PayloadTooLargeError,
    UnsupportedMediaTypeError,
)
from dosi.ngsild.context import CORE_CONTEXT_URL, ActiveContext

JSON = "application/json"
JSONLD = "application/ld+json"
GEOJSON = "application/geo+json"
MERGE_PATCH = "application/merge-patch+json"
LINK_REL = "http://www.w3.org/ns/json-ld#context"
_LINK_RE = re.compile(r"<([^>]*)>\s*((?:;\s*[^;,]+)*)")


def link_header(url: str) -> str:
    return f'<{url}>; rel="{LINK_REL}"; type="{JSONLD}"'


def parse_link_context(header: str | None) -> str | None:
    """The @context URL of a ``Link`` header, if any."""
    if not header:
        return None
    for m in _LINK_RE.finditer(header):
        params = m.group(2) or ""
        if LINK_REL in params:
            url = m.group(1).strip()
            if not url:
                raise BadRequestDataError("empty @context URL in the Link header")
            return url
    return None


def content_type(request: Request) -> str:
    raw = request.headers.get("content-type", "")
    return raw.split(";", 1)[0].strip().lower()


def negotiate(request: Request, allow_geo: bool = False) -> str:
    """Choose the response media type from ``Accept`` (406 when none fits)."""
    raw = request.headers.get("accept")
    if not raw or raw == "*/*" or raw == JSON:
        return JSON
    offered = [JSON, JSONLD] + ([GEOJSON] if allow_geo else [])
    best: tuple[float, int, str] | None = None
    for order, part in enumerate(raw.split(",")):
        pieces = [p.strip() for p in part.split(";")]
        mt = pieces[0].lower()
        q = 1.0
        for p in pieces[1:]:
            if p.startswith("q="):
                try:
                    q = float(p[2:])
                except ValueError:
                    q = 0.0
        if q <= 0:
            continue
        if mt in ("*/*", "application/*"):
            choice = JSON
        elif mt in offered:
            choice = mt
        else:
            continue
        cand = (-q, order, choice)
        if best is None or cand < best:
            best = cand
    if best is None:
        raise NotAcceptableError(f"cannot answer in any of: {raw}")
    return best[2]


async def read_json(request: Request, max_bytes: int, allow_merge_patch: bool = False) -> Any:
    """The request body as JSON; 415 on a bad media type, 413 if too large, 400 if broken."""
    ctype = content_type(request)
    allowed = {JSON, JSONLD} | ({MERGE_PATCH} if allow_merge_patch else set())
    if ctype not in allowed:
        raise UnsupportedMediaTypeError(
            f"Content-Type {ctype or '(none)'} is not supported; use application/json "
            "or application/ld+json"
        )
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > max_bytes:
        raise PayloadTooLargeError(f"request body larger than {max_bytes} bytes")
    body = await request.body()
    if len(body) > max_bytes:
        raise PayloadTooLargeError(f"request body larger than {max_bytes} bytes")
    if not body:
        raise InvalidRequestError("the request body is empty")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequestError(f"the request body is not valid JSON: {exc}") from None


@dataclass
class RequestContext:
    """The @context a request speaks: its source items and the processed form."""

    items: Any  # None (core only), a URL, an object or a list
    active: ActiveContext

    @property
    def url(self) -> str:
        """A URL naming this context, for ``Link`` response headers."""
        if isinstance(self.items, str):
            return self.items
        return CORE_CONTEXT_URL

    @property
    def body_value(self) -> Any:
        return self.items if self.items is not None else CORE_CONTEXT_URL


def context_items_of_body(request: Request, body: Any) -> Any:
    """Where a request's @context comes from, checking the JSON vs JSON-LD rules."""
    ctype = content_type(request)
    link = parse_link_context(request.headers.get("link"))
    if ctype == JSONLD:
        if link is not None:
            raise BadRequestDataError("application/ld+json requests must not have a Link context")
        if isinstance(body, dict):
            if "@context" not in body:
                raise BadRequestDataError("application/ld+json body without @context")
            return body["@context"]
        return None
    if isinstance(body, dict) and "@context" in body:
        raise BadRequestDataError("application/json body must not contain @context")
    return link


def item_context(request: Request, item: Any) -> Any:
    """The @context of one element of a batch body."""
    if content_type(request) == JSONLD:
        if not isinstance(item, dict) or "@context" not in item:
            raise BadRequestDataError("application/ld+json entity without @context")
        return item["@context"]
    if isinstance(item, dict) and "@context" in item:
        raise BadRequestDataError("application/json entity must not contain @context")
    return parse_link_context(request.headers.get("link"))


def json_response(
    body: Any,
    media_type: str,
    ctx: RequestContext | None,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    """Serialize with the right context placement for the media type."""
    hdrs = dict(headers or {})
    if ctx is not None:
        if media_type == GEOJSON and isinstance(body, dict):
            body = {**body, "@context": ctx.body_value}
            hdrs["Link"] = link_header(ctx.url)
        elif media_type == JSONLD:
            if isinstance(body, dict):
                body = {**body, "@context": ctx.body_value}
            elif isinstance(body, list):
                body = [
                    {**x, "@context": ctx.body_value} if isinstance(x, dict) else x for x in body
                ]
        else:
            hdrs["Link"] = link_header(ctx.url)
    return Response(orjson.dumps(body), status_code=status, media_type=media_type, headers=hdrs)
