"""Routes of /ngsi-ld/v1/jsonldContexts: the @contexts the hub serves and caches."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from dosi.api.deps import hub
from dosi.api.media import read_json
from dosi.errors import BadRequestDataError

router = APIRouter(prefix="/ngsi-ld/v1/jsonldContexts", tags=["contexts"])


def _details(record: dict[str, Any]) -> dict[str, Any]:
    out = {
        "URL": record["url"],
        "localId": record["id"],
        "kind": record["kind"],
        "createdAt": record.get("createdAt"),
    }
    if record["kind"] != "Hosted":
        out["lastUsage"] = record.get("lastUsedAt")
        out["numberOfHits"] = record.get("numberOfHits", 0)
    if record["kind"] == "Cached":
        out["extraInfo"] = {}
    return {k: v for k, v in out.items() if v is not None and k != "numberOfHits"}


def _flag(request: Request, name: str) -> bool:
    raw = request.query_params.get(name, "false").lower()
    if raw not in ("true", "false"):
        raise BadRequestDataError(f"{name} must be true or false")
    return raw == "true"


def _json(body: Any, status: int = 200, media: str = "application/json") -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type=media)


@router.post("", status_code=201, summary="Add a hosted @context")
async def add_context(request: Request) -> Response:
    h = hub(request)
    body = await read_json(request, h.settings.max_body_bytes)
    ctx_id = await h.contexts.add_hosted(body)
    return Response(status_code=201, headers={"Location": f"/ngsi-ld/v1/jsonldContexts/{ctx_id}"})


@router.get("", summary="List the @contexts")
async def list_contexts(request: Request) -> Response:
    params = request.query_params
    details = _flag(request, "details")
    records = await hub(request).contexts.list(params.get("kind"))
    if details:
        return _json([_details(r) for r in records])
    return _json([r["url"] for r in records])


@router.get("/{ctx_id:path}", summary="Serve one @context")
async def get_context_doc(request: Request, ctx_id: str) -> Response:
    h = hub(request)
    record = await h.contexts.get(ctx_id)
    if _flag(request, "details"):
        return _json(_details(record))
    await h.store.touch_context(record["id"])
    return _json(record["body"])


@router.delete("/{ctx_id:path}", status_code=204, summary="Delete or reload an @context")
async def delete_context(request: Request, ctx_id: str) -> Response:
    reload = _flag(request, "reload")
    await hub(request).contexts.delete(ctx_id, reload=reload)
    return Response(status_code=204)
