"""Routes of /ngsi-ld/v1/temporal: temporal representations of entities."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from dosi.api.deps import body_and_context, get_context, hub, read_tenant, tenant_of
from dosi.api.media import RequestContext, json_response, negotiate
from dosi.api.params import entity_query, query_from_body, render_options, split_list
from dosi.errors import BadRequestDataError, InvalidRequestError, ResourceNotFoundError
from dosi.ngsild.query.ast import EntityQuery
from dosi.ngsild.render import RenderOptions
from dosi.ngsild.temporal import (
    TemporalOptions,
    TimeFilter,
    parse_temporal_options,
    parse_time_filter,
)
from dosi.ngsild.temporal_render import (
    TemporalView,
    content_range,
    render_aggregated,
    render_temporal,
)
from dosi.services.temporal import TemporalEntity
from dosi.storage.base import HistoryQuery

router = APIRouter(prefix="/ngsi-ld/v1/temporal", tags=["temporal"])

_TEMPORAL = {
    "timerel",
    "timeAt",
    "endTimeAt",
    "timeproperty",
    "lastN",
    "aggrMethods",
    "aggrPeriodDuration",
    "options",
    "format",
    "attrs",
    "pick",
    "omit",
    "lang",
    "datasetId",
    "local",
}
_QUERY = _TEMPORAL | {
    "id",
    "type",
    "idPattern",
    "q",
    "scopeQ",
    "georel",
    "geometry",
    "coordinates",
    "geoproperty",
    "limit",
    "offset",
    "count",
    "orderBy",
    "csf",
    "expandValues",
}
_WRITE = {"local"}
_DELETE_ATTR = {"datasetId", "deleteAll", "local"}


def _check(params: Mapping[str, str], allowed: set[str]) -> None:
    unknown = sorted(k for k in params if k not in allowed)
    if unknown:
        raise InvalidRequestError(f"unknown query parameter(s): {', '.join(unknown)}")


def _options(params: Mapping[str, str]) -> TemporalOptions:
    return parse_temporal_options(
        split_list(params.get("options")),
        params.get("format"),
        params.get("aggrMethods"),
        params.get("aggrPeriodDuration"),
        params.get("lastN"),
    )


def _render_opts(params: Mapping[str, str], ctx: RequestContext, sys_attrs: bool) -> RenderOptions:
    """pick/omit/attrs/lang checks of the core API (temporal options taken out)."""
    core = {k: v for k, v in params.items() if k in ("attrs", "pick", "omit", "lang")}
    opts = render_options(core, ctx.active)
    return RenderOptions(
        sys_attrs=sys_attrs, lang=opts.lang, pick=opts.pick, omit=opts.omit, attrs=opts.attrs
    )


def _history_query(
    params: Mapping[str, str],
    ctx: RequestContext,
    tf: TimeFilter,
    opts: TemporalOptions,
    attrs: Sequence[str] | None,
) -> HistoryQuery:
    datasets = split_list(params.get("datasetId"))
    return HistoryQuery(
        attrs=tuple(ctx.active.expand(a) for a in attrs) if attrs else None,
        datasets=frozenset("" if d == "@none" else d for d in datasets) if datasets else None,
        time=tf,
        last_n=opts.last_n,
    )


def _render(
    found: TemporalEntity,
    ctx: RequestContext,
    opts: TemporalOptions,
    render: RenderOptions,
    hq: HistoryQuery,
) -> dict[str, Any]:
    view = TemporalView(opts.representation, render)
    if found.aggregates is not None:
        return render_aggregated(found.entity_id, found.types, found.aggregates, ctx.active, view)
    insts = found.history.instances if found.history else []
    return render_temporal(
        found.entity_id, found.types, insts, ctx.active, view, found.empty_attrs(hq.attrs)
    )


def _respond(
    results: list[TemporalEntity],
    bodies: Any,
    media: str,
    ctx: RequestContext,
    hq: HistoryQuery,
    opts: TemporalOptions,
    headers: dict[str, str],
) -> Response:
    if any(r.truncated for r in results):
        times = [i.t for r in results if r.history for i in r.history.instances]
        headers["Content-Range"] = content_range(times, hq.time, opts.last_n)
        return json_response(bodies, media, ctx, status=206, headers=headers)
    return json_response(bodies, media, ctx, headers=headers)


@router.post("/entities", status_code=201, summary="Create or update a temporal entity")
async def create_temporal(request: Request) -> Response:
    _check(request.query_params, _WRITE)
    body, ctx = await body_and_context(request)
    eid, created = await hub(request).temporal.create_or_update(
        tenant_of(request), body, ctx.active
    )
    if not created:
        return Response(status_code=204)
    return Response(
        status_code=201,
        headers={"Location": f"/ngsi-ld/v1/temporal/entities/{quote(eid, safe=':')}"},
    )


@dataclass
class _Read:
    """What every temporal read parses from its request (query string variant)."""

    media: str
    tenant: str
    ctx: RequestContext
    opts: TemporalOptions
    render: RenderOptions
    hq: HistoryQuery


async def _read(request: Request, allowed: set[str]) -> _Read:
    params = request.query_params
    _check(params, allowed)
    media = negotiate(request)
    tf = parse_time_filter(params)
    opts = _options(params)
    tenant = await read_tenant(request)
    ctx = await get_context(request)
    render = _render_opts(params, ctx, opts.sys_attrs)
    hq = _history_query(params, ctx, tf, opts, split_list(params.get("attrs")))
    return _Read(media, tenant, ctx, opts, render, hq)


async def _query_answer(request: Request, r: _Read, query: EntityQuery) -> Response:
    """GET /temporal/entities and POST /temporal/entityOperations/query, once parsed."""
    results, count = await hub(request).temporal.query(r.tenant, query, r.hq, r.opts)
    headers = {"NGSILD-Results-Count": str(count)} if count is not None else {}
    bodies = [b for b in (_render(x, r.ctx, r.opts, r.render, r.hq) for x in results) if b]
    return _respond(results, bodies, r.media, r.ctx, r.hq, r.opts, headers)


@router.get("/entities", summary="Query the temporal evolution of entities")
async def query_temporal(request: Request) -> Response:
    h = hub(request)
    r = await _read(request, _QUERY)
    limits = h.settings.default_limit, h.settings.max_limit
    return await _query_answer(
        request, r, entity_query(request.query_params, r.ctx.active, *limits)
    )


@router.post("/entityOperations/query", summary="Query the temporal evolution (POST)")
async def post_query_temporal(request: Request) -> Response:
    h = hub(request)
    _check(
        request.query_params,
        {
            "options",
            "format",
            "limit",
            "offset",
            "count",
            "local",
            "lang",
            "lastN",
            "aggrMethods",
            "aggrPeriodDuration",
        },
    )
    media = negotiate(request)
    body, ctx = await body_and_context(request)
    tenant = await read_tenant(request)
    query, params = query_from_body(
        body, ctx.active, request.query_params, h.settings.default_limit, h.settings.max_limit
    )
    tq = body.get("temporalQ") or {}
    if not isinstance(tq, dict):
        raise BadRequestDataError("temporalQ must be an object")
    tf = parse_time_filter(tq)
    merged = {**params, **{k: str(tq[k]) for k in ("lastN",) if k in tq}}
    opts = _options(merged)
    render = _render_opts(params, ctx, opts.sys_attrs)
    attrs = body.get("attrs") if isinstance(body.get("attrs"), list) else None
    hq = _history_query(params, ctx, tf, opts, attrs)
    return await _query_answer(request, _Read(media, tenant, ctx, opts, render, hq), query)


@router.get("/entities/{entity_id}", summary="Retrieve the temporal evolution of an entity")
async def retrieve_temporal(request: Request, entity_id: str) -> Response:
    r = await _read(request, _TEMPORAL)
    found = await hub(request).temporal.retrieve(r.tenant, entity_id, r.hq, r.opts)
    body = _render(found, r.ctx, r.opts, r.render, r.hq)
    if not body:
        raise ResourceNotFoundError(f"nothing of temporal entity {entity_id} is left to show")
    return _respond([found], body, r.media, r.ctx, r.hq, r.opts, {})


@router.delete("/entities/{entity_id}", status_code=204, summary="Delete a temporal entity")
async def delete_temporal(request: Request, entity_id: str) -> Response:
    _check(request.query_params, _WRITE)
    await hub(request).temporal.delete(await read_tenant(request), entity_id)
    return Response(status_code=204)


@router.post("/entities/{entity_id}/attrs", status_code=204, summary="Add attribute instances")
async def append_temporal(request: Request, entity_id: str) -> Response:
    _check(request.query_params, _WRITE)
    body, ctx = await body_and_context(request)
    await hub(request).temporal.append(await read_tenant(request), entity_id, body, ctx.active)
    return Response(status_code=204)


@router.delete(
    "/entities/{entity_id}/attrs/{attr_id}",
    status_code=204,
    summary="Delete an attribute's history",
)
async def delete_temporal_attr(request: Request, entity_id: str, attr_id: str) -> Response:
    params = request.query_params
    _check(params, _DELETE_ATTR)
    ctx = await get_context(request)
    delete_all = params.get("deleteAll", "false").lower() == "true"
    await hub(request).temporal.delete_attr(
        await read_tenant(request),
        entity_id,
        attr_id,
        ctx.active,
        params.get("datasetId"),
        delete_all,
    )
    return Response(status_code=204)


@router.patch(
    "/entities/{entity_id}/attrs/{attr_id}/{instance_id}",
    status_code=204,
    summary="Modify an attribute instance",
)
async def patch_instance(
    request: Request, entity_id: str, attr_id: str, instance_id: str
) -> Response:
    return await _on_instance(request, entity_id, attr_id, instance_id, patch=True)


@router.delete(
    "/entities/{entity_id}/attrs/{attr_id}/{instance_id}",
    status_code=204,
    summary="Delete an attribute instance",
)
async def delete_instance(
    request: Request, entity_id: str, attr_id: str, instance_id: str
) -> Response:
    return await _on_instance(request, entity_id, attr_id, instance_id, patch=False)


async def _on_instance(
    request: Request, entity_id: str, attr_id: str, instance_id: str, *, patch: bool
) -> Response:
    """PATCH (merge the body into) or DELETE one attribute instance."""
    _check(request.query_params, _WRITE)
    service = hub(request).temporal
    if patch:
        body, ctx = await body_and_context(request, allow_merge_patch=True)
        tenant = await read_tenant(request)
        await service.update_instance(tenant, entity_id, attr_id, instance_id, body, ctx.active)
    else:
        ctx = await get_context(request)
        tenant = await read_tenant(request)
        await service.delete_instance(tenant, entity_id, attr_id, instance_id, ctx.active)
    return Response(status_code=204)
