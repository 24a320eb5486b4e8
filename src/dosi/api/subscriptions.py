"""Routes of /ngsi-ld/v1/subscriptions: create, query, retrieve, update, delete."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from dosi.api.deps import body_and_context, get_context, hub, tenant_of
from dosi.api.media import json_response, negotiate
from dosi.api.params import check_params, options_of, paging
from dosi.errors import InvalidRequestError

router = APIRouter(prefix="/ngsi-ld/v1/subscriptions", tags=["subscriptions"])

_ID_PARAM = {"parameters": [{"name": "sub_id", "in": "path", "required": True,
                             "schema": {"type": "string", "format": "uri"}}]}


def _page_links(base: str, limit: int, offset: int, total: int, media: str) -> list[str]:
    links = []
    if offset > 0:
        links.append(f'<{base}?limit={limit}&offset={max(0, offset - limit)}>;rel="prev";'
                     f'type="{media}"')
    if offset + limit < total:
        links.append(f'<{base}?limit={limit}&offset={offset + limit}>;rel="next";'
                     f'type="{media}"')
    return links


@router.post("", status_code=201, summary="Create a subscription")
async def create_subscription(request: Request) -> Response:
    h = hub(request)
    check_params(request.query_params, "subscription")
    body, ctx = await body_and_context(request)
    if not isinstance(body, dict):
        raise InvalidRequestError("a subscription must be a JSON object")
    sub_id = await h.subscriptions.create(tenant_of(request), body, ctx.items, ctx.active)
    return Response(status_code=201, headers={
        "Location": f"/ngsi-ld/v1/subscriptions/{quote(sub_id, safe=':')}"})


@router.get("", summary="Query subscriptions")
async def query_subscriptions(request: Request) -> Response:
    h = hub(request)
    params = request.query_params
    check_params(params, "subscriptions")
    media = negotiate(request)
    options_of(params)
    tenant = tenant_of(request)
    ctx = await get_context(request)
    limit, offset, count = paging(params, h.settings.default_limit, h.settings.max_limit)
    subs, total = await h.subscriptions.query(tenant, limit, offset, ctx.active)
    headers = {"NGSILD-Results-Count": str(total)} if count else {}
    resp = json_response(subs, media, ctx, headers=headers)
    links = _page_links(request.url.path.rstrip("/"), limit, offset, total, media)
    if links:
        existing = resp.headers.get("link")
        value = ",".join(links)
        resp.headers["Link"] = f"{existing}, {value}" if existing else value
    return resp


@router.get("/{sub_id:path}", summary="Retrieve a subscription", openapi_extra=_ID_PARAM)
async def retrieve_subscription(request: Request, sub_id: str) -> Response:
    h = hub(request)
    check_params(request.query_params, "subscription")
    media = negotiate(request)
    sys_attrs = "sysAttrs" in options_of(request.query_params)
    tenant = tenant_of(request)
    ctx = await get_context(request)
    body = await h.subscriptions.retrieve(tenant, sub_id, ctx.active, sys_attrs)
    return json_response(body, media, ctx)


@router.patch("/{sub_id:path}", status_code=204, summary="Update a subscription",
              openapi_extra=_ID_PARAM)
async def update_subscription(request: Request, sub_id: str) -> Response:
    h = hub(request)
    check_params(request.query_params, "subscription")
    body, ctx = await body_and_context(request, allow_merge_patch=True)
    await h.subscriptions.update(tenant_of(request), sub_id, body, ctx.items, ctx.active)
    return Response(status_code=204)


@router.delete("/{sub_id:path}", status_code=204, summary="Delete a subscription",
               openapi_extra=_ID_PARAM)
async def delete_subscription(request: Request, sub_id: str) -> Response:
    check_params(request.query_params, "subscription")
    await hub(request).subscriptions.delete(tenant_of(request), sub_id)
    return Response(status_code=204)
