"""Routes of /ngsi-ld/v1/entityOperations: batch operations and the POST query."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from dosi.api.deps import body_and_context, hub, read_tenant, tenant_of
from dosi.api.entities import render_result
from dosi.api.media import JSONLD, content_type, item_context, negotiate, parse_link_context, read_json
from dosi.api.params import check_params, options_of, query_from_body, render_options
from dosi.api.problem import problem_body
from dosi.errors import BadRequestDataError
from dosi.services.batch import BatchResult

router = APIRouter(prefix="/ngsi-ld/v1/entityOperations", tags=["batch"])


def _batch_response(result: BatchResult, all_ok_status: int, ids_body: bool) -> Response:
    if result.errors:
        body = {
            "success": result.success,
            "errors": [
                {"entityId": eid, "error": problem_body(err)} for eid, err in result.errors
            ],
        }
        return Response(orjson.dumps(body), status_code=207, media_type="application/json")
    if ids_body:
        return Response(orjson.dumps(result.success), status_code=all_ok_status,
                        media_type="application/json")
    return Response(status_code=all_ok_status)


async def _body_with_item_contexts(request: Request) -> tuple[Any, Any]:
    h = hub(request)
    check_params(request.query_params, "write")
    if content_type(request) == JSONLD and parse_link_context(request.headers.get("link")):
        raise BadRequestDataError("application/ld+json requests must not have a Link context")
    body = await read_json(request, h.settings.max_body_bytes)
    if not isinstance(body, list):
        raise BadRequestDataError("a batch operation takes a JSON array")
    resolved: dict[int, Any] = {}
    errors: dict[int, Exception] = {}
    for i, item in enumerate(body):
        try:
            resolved[i] = await h.contexts.resolve(item_context(request, item))
        except Exception as exc:  # noqa: BLE001 - reported per entity
            errors[i] = exc
    by_id = {id(item): i for i, item in enumerate(body)}

    def ctx_of(item: Any) -> Any:
        i = by_id[id(item)]
        if i in errors:
            raise errors[i]
        return resolved[i]

    return body, ctx_of


@router.post("/create", summary="Batch create")
async def batch_create(request: Request) -> Response:
    body, ctx_of = await _body_with_item_contexts(request)
    result = await hub(request).batch.create(tenant_of(request), body, ctx_of)
    return _batch_response(result, 201, ids_body=True)


@router.post("/upsert", summary="Batch upsert")
async def batch_upsert(request: Request) -> Response:
    opts = options_of(request.query_params)
    if "update" in opts and "replace" in opts:
        raise BadRequestDataError("options update and replace are mutually exclusive")
    mode = "update" if "update" in opts else "replace"
    body, ctx_of = await _body_with_item_contexts(request)
    result = await hub(request).batch.upsert(tenant_of(request), body, ctx_of, mode)
    if not result.errors and result.created:
        return Response(orjson.dumps(result.created), status_code=201,
                        media_type="application/json")
    return _batch_response(result, 204, ids_body=False)


@router.post("/update", summary="Batch update")
async def batch_update(request: Request) -> Response:
    opts = options_of(request.query_params)
    body, ctx_of = await _body_with_item_contexts(request)
    result = await hub(request).batch.update(
        await read_tenant(request), body, ctx_of, "noOverwrite" in opts
    )
    return _batch_response(result, 204, ids_body=False)


@router.post("/merge", summary="Batch merge")
async def batch_merge(request: Request) -> Response:
    body, ctx_of = await _body_with_item_contexts(request)
    result = await hub(request).batch.merge(await read_tenant(request), body, ctx_of)
    return _batch_response(result, 204, ids_body=False)


@router.post("/delete", summary="Batch delete")
async def batch_delete(request: Request) -> Response:
    h = hub(request)
    check_params(request.query_params, "write")
    body = await read_json(request, h.settings.max_body_bytes)
    result = await h.batch.delete(await read_tenant(request), body)
    return _batch_response(result, 204, ids_body=False)


@router.post("/query", summary="Query entities (POST)")
async def post_query(request: Request) -> Response:
    h = hub(request)
    check_params(request.query_params, "post_query")
    media = negotiate(request, allow_geo=True)
    body, ctx = await body_and_context(request)
    tenant = await read_tenant(request)
    query, render_params = query_from_body(
        body, ctx.active, request.query_params, h.settings.default_limit, h.settings.max_limit
    )
    opts = render_options(render_params, ctx.active)
    result = await h.entities.query(tenant, query)
    return await render_result(request, tenant, result, ctx, opts, media)
