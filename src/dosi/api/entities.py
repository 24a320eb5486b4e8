"""Routes of /ngsi-ld/v1/entities: entities and their attributes."""

from __future__ import annotations

from urllib.parse import quote

import orjson
from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from dosi.api.deps import body_and_context, get_context, hub, read_tenant, tenant_of
from dosi.api.media import GEOJSON, RequestContext, json_response, negotiate
from dosi.api.params import check_params, entity_query, options_of, render_options, split_list
from dosi.errors import BadRequestDataError, ResourceNotFoundError
from dosi.ngsild.operations import UpdateReport
from dosi.ngsild.render import (
    RenderOptions,
    render_entity,
    render_feature,
    render_feature_collection,
    render_flat,
)
from dosi.storage.base import Entity, QueryResult

router = APIRouter(prefix="/ngsi-ld/v1", tags=["entities"])


def _no_content() -> Response:
    return Response(status_code=204)


async def render_result(
    request: Request,
    tenant: str,
    result: QueryResult,
    ctx: RequestContext,
    opts: RenderOptions,
    media: str,
) -> Response:
    headers = {}
    if result.count is not None:
        headers["NGSILD-Results-Count"] = str(result.count)
    if media == GEOJSON:
        body = render_feature_collection(result.entities, ctx.active, opts)
        return json_response(body, GEOJSON, ctx, headers=headers)
    if opts.join is not None:
        linked = await hub(request).entities.linked(tenant, result.entities, opts.join_level)
        if opts.join == "flat":
            flat = render_flat(result.entities, ctx.active, opts, linked)
            return json_response(flat, media, ctx, headers=headers)
        out = [render_entity(e, ctx.active, opts, linked) for e in result.entities]
        return json_response(out, media, ctx, headers=headers)
    body = [render_entity(e, ctx.active, opts) for e in result.entities]
    if opts.pick is not None or opts.omit is not None:
        body = [b for b in body if b]
    return json_response(body, media, ctx, headers=headers)


async def render_one(
    request: Request,
    tenant: str,
    entity: Entity,
    ctx: RequestContext,
    opts: RenderOptions,
    media: str,
) -> Response:
    if media == GEOJSON:
        return json_response(render_feature(entity, ctx.active, opts), GEOJSON, ctx)
    if opts.join is not None:
        linked = await hub(request).entities.linked(tenant, [entity], opts.join_level)
        if opts.join == "flat":
            flat = render_flat([entity], ctx.active, opts, linked)
            return json_response(flat if len(flat) > 1 else flat[0], media, ctx)
        return json_response(render_entity(entity, ctx.active, opts, linked), media, ctx)
    return json_response(render_entity(entity, ctx.active, opts), media, ctx)


def report_response(report: UpdateReport, ctx: RequestContext) -> Response:
    if not report.not_updated:
        return _no_content()
    body = {
        "updated": list(report.updated),
        "notUpdated": [{"attributeName": i, "reason": reason} for i, reason in report.not_updated],
    }
    return Response(orjson.dumps(body), status_code=207, media_type="application/json")


_ENTITY_ID_PARAM = {"parameters": [{"name": "entity_id", "in": "path", "required": True,
                                    "schema": {"type": "string", "format": "uri"}}]}


@router.get("/entities/{entity_id}", summary="Retrieve an entity", openapi_extra=_ENTITY_ID_PARAM)
async def retrieve_entity(request: Request) -> Response:
    entity_id = request.path_params["entity_id"]
    h = hub(request)
    check_params(request.query_params, "retrieve")
    media = negotiate(request, allow_geo=True)
    tenant = await read_tenant(request)
    ctx = await get_context(request)
    opts = render_options(request.query_params, ctx.active)
    entity = await h.entities.retrieve(tenant, entity_id)
    if opts.attrs is not None and not any(a in entity["attrs"] for a in opts.attrs):
        raise ResourceNotFoundError(f"entity {entity_id} has none of the attributes asked for")
    if (opts.pick is not None or opts.omit is not None) and not render_entity(
        entity, ctx.active, opts
    ):
        raise ResourceNotFoundError(f"nothing of entity {entity_id} is left to show")
    return await render_one(request, tenant, entity, ctx, opts, media)


@router.post("/entities", status_code=201, summary="Create an entity")
async def create_entity(request: Request) -> Response:
    h = hub(request)
    check_params(request.query_params, "write")
    body, ctx = await body_and_context(request)
    entity = await h.entities.create(tenant_of(request), body, ctx.active)
    return Response(
        status_code=201, headers={"Location": f"/ngsi-ld/v1/entities/{quote(entity['id'], safe=':')}"}
    )


@router.get("/entities", summary="Query entities")
async def query_entities(request: Request) -> Response:
    h = hub(request)
    params = request.query_params
    check_params(params, "query")
    media = negotiate(request, allow_geo=True)
    tenant = await read_tenant(request)
    ctx = await get_context(request)
    opts = render_options(params, ctx.active)
    query = entity_query(params, ctx.active, h.settings.default_limit, h.settings.max_limit)
    result = await h.entities.query(tenant, query)
    return await render_result(request, tenant, result, ctx, opts, media)


@router.delete("/entities", summary="Purge entities matching a query")
async def purge_entities(request: Request) -> Response:
    h = hub(request)
    params = request.query_params
    check_params(params, "purge")
    tenant = await read_tenant(request)
    ctx = await get_context(request)
    local = params.get("local", "false").lower() == "true"
    keep, drop = split_list(params.get("keep")), split_list(params.get("drop"))
    if keep and drop:
        raise BadRequestDataError("keep and drop cannot be used together")
    query = entity_query({**params, "limit": "1"}, ctx.active, 1, 1, require_filter=False)
    query.limit = 1 << 62
    if not local and not (query.ids or query.id_pattern or query.types or query.q
                          or query.scope_q or query.geo_q):
        raise BadRequestDataError("purging needs id, idPattern, type, q, scopeQ, a geo-query "
                                  "or local=true")
    await h.entities.purge(
        tenant, query,
        keep=[ctx.active.expand(a) for a in keep] or None,
        drop=[ctx.active.expand(a) for a in drop] or None,
    )
    return _no_content()


@router.delete("/entities/{entity_id}", status_code=204, summary="Delete an entity")
async def delete_entity(request: Request, entity_id: str) -> Response:
    await hub(request).entities.delete(await read_tenant(request), entity_id)
    return _no_content()


@router.put("/entities/{entity_id}", status_code=204, summary="Replace an entity")
async def replace_entity(request: Request, entity_id: str) -> Response:
    body, ctx = await body_and_context(request)
    await hub(request).entities.replace(await read_tenant(request), entity_id, body, ctx.active)
    return _no_content()


@router.patch("/entities/{entity_id}", status_code=204, summary="Merge an entity")
async def merge_entity(request: Request, entity_id: str) -> Response:
    body, ctx = await body_and_context(request, allow_merge_patch=True)
    options_of(request.query_params)
    await hub(request).entities.merge(await read_tenant(request), entity_id, body, ctx.active)
    return _no_content()


@router.post("/entities/{entity_id}/attrs", summary="Append attributes")
async def append_attrs(request: Request, entity_id: str) -> Response:
    body, ctx = await body_and_context(request)
    opts = options_of(request.query_params)
    report = await hub(request).entities.append_attrs(
        await read_tenant(request), entity_id, body, ctx.active, "noOverwrite" in opts
    )
    return report_response(report, ctx)


@router.patch("/entities/{entity_id}/attrs", summary="Update attributes")
async def update_attrs(request: Request, entity_id: str) -> Response:
    body, ctx = await body_and_context(request)
    report = await hub(request).entities.update_attrs(
        await read_tenant(request), entity_id, body, ctx.active
    )
    return report_response(report, ctx)


@router.patch("/entities/{entity_id}/attrs/{attr_id}", status_code=204,
              summary="Partial attribute update")
async def partial_attr_update(request: Request, entity_id: str, attr_id: str) -> Response:
    body, ctx = await body_and_context(request, allow_merge_patch=True)
    await hub(request).entities.partial_attr_update(
        await read_tenant(request), entity_id, attr_id, body, ctx.active
    )
    return _no_content()


@router.put("/entities/{entity_id}/attrs/{attr_id}", status_code=204,
            summary="Replace an attribute")
async def replace_attr(request: Request, entity_id: str, attr_id: str) -> Response:
    body, ctx = await body_and_context(request)
    await hub(request).entities.replace_attr(
        await read_tenant(request), entity_id, attr_id, body, ctx.active
    )
    return _no_content()


@router.delete("/entities/{entity_id}/attrs/{attr_id}", status_code=204,
               summary="Delete an attribute")
async def delete_attr(request: Request, entity_id: str, attr_id: str) -> Response:
    params = request.query_params
    check_params(params, "delete_attr")
    ctx = await get_context(request)
    delete_all = params.get("deleteAll", "false").lower() == "true"
    await hub(request).entities.delete_attr(
        await read_tenant(request), entity_id, attr_id, ctx.active,
        params.get("datasetId"), delete_all,
    )
    return _no_content()
