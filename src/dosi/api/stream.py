"""``GET /dosi/v1/stream``: Server-Sent Events for browsers (the web digital twin).

Takes the entity query parameters of ``GET /entities`` (type, id, idPattern, q,
scopeQ, geo-query) plus ``watchedAttributes``, ``notificationTrigger`` and the render
parameters (``format`` / ``options``, ``attrs``, ``lang``, ``pick``, ``omit``); the
@context comes from the ``Link`` header. Each matching change committed after the
connection opened arrives as ``event: notification`` with a Notification as data;
``: keep-alive`` comments every 15 s keep proxies from closing the stream.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import orjson
from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import StreamingResponse

from dosi.api.deps import get_context, hub, read_tenant
from dosi.api.params import check_params, render_options, split_list
from dosi.errors import BadRequestDataError
from dosi.ngsild.subscription import TRIGGERS, parse_subscription
from dosi.ngsild.values import now_iso
from dosi.security.principal import current

router = APIRouter(prefix="/dosi/v1", tags=["live stream"])
KEEPALIVE = 15.0
STREAM_TRIGGERS = ["entityCreated", "entityUpdated", "entityDeleted"]


def _filter_doc(params: Any) -> dict[str, Any]:
    """The stream's filter as a subscription payload (validated like one)."""
    doc: dict[str, Any] = {"type": "Subscription",
                           "notification": {"endpoint": {"uri": "http://stream.invalid/"}}}
    types = params.get("type")
    ids = split_list(params.get("id"))
    if ids and not types:
        raise BadRequestDataError("a stream by id also needs the entity type")
    if types:
        sels: list[dict[str, Any]] = [{"type": types, "id": i} for i in ids] or [{"type": types}]
        if params.get("idPattern"):
            for s in sels:
                s["idPattern"] = params["idPattern"]
        doc["entities"] = sels
    watched = split_list(params.get("watchedAttributes"))
    if watched:
        doc["watchedAttributes"] = watched
    if "entities" not in doc and "watchedAttributes" not in doc:
        doc["entities"] = [{"type": "*"}]
    for key in ("q", "scopeQ"):
        if params.get(key):
            doc[key] = params[key]
    if params.get("georel"):
        doc["geoQ"] = {"georel": params["georel"], "geometry": params.get("geometry"),
                       "coordinates": orjson.loads(params.get("coordinates") or "null")}
        if params.get("geoproperty"):
            doc["geoQ"]["geoproperty"] = params["geoproperty"]
    trig = split_list(params.get("notificationTrigger")) or STREAM_TRIGGERS
    if any(t not in TRIGGERS for t in trig):
        raise BadRequestDataError(f"notificationTrigger must list some of {', '.join(TRIGGERS)}")
    doc["notificationTrigger"] = trig
    return doc


@router.get("/stream", summary="Live changes as Server-Sent Events")
async def stream(request: Request) -> StreamingResponse:
    h = hub(request)
    params = request.query_params
    check_params(params, "stream")
    tenant = await read_tenant(request)
    ctx = await get_context(request)
    opts = render_options(params, ctx.active)
    doc = parse_subscription(_filter_doc(params), lambda _k: ctx.active, now_iso())
    live = await h.subscriptions.stream_filter(tenant, doc, ctx.items)
    client = h.subscriptions.stream.add(live, opts)
    if h.settings.auth:
        client.viewer = current()

    async def events() -> AsyncIterator[bytes]:
        try:
            yield b": dosi live stream\n\n"
            while True:
                try:
                    async with asyncio.timeout(KEEPALIVE):
                        event = await client.queue.get()
                except TimeoutError:
                    yield b": keep-alive\n\n"
                    continue
                if client.dropped:
                    yield f"event: dropped\ndata: {client.dropped}\n\n".encode()
                    client.dropped = 0
                yield b"event: notification\ndata: " + orjson.dumps(event) + b"\n\n"
        finally:
            h.subscriptions.stream.remove(client)

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
