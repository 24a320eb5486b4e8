"""Routes of /ngsi-ld/v1/types and /ngsi-ld/v1/attributes (discovery)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from dosi.api.deps import get_context, hub, read_tenant
from dosi.api.media import json_response, negotiate
from dosi.api.params import check_params

router = APIRouter(prefix="/ngsi-ld/v1", tags=["discovery"])


def _details(request: Request) -> bool:
    return request.query_params.get("details", "false").lower() == "true"


@router.get("/types", summary="Available entity types")
async def types(request: Request) -> Response:
    check_params(request.query_params, "discovery")
    media = negotiate(request)
    tenant = await read_tenant(request)
    ctx = await get_context(request)
    infos = await hub(request).discovery.types(tenant)
    c = ctx.active.compact
    if _details(request):
        body: object = [
            {
                "id": i.type,
                "type": "EntityType",
                "typeName": c(i.type),
                "attributeNames": sorted(c(a) for a in i.attributes),
            }
            for i in infos
        ]
    else:
        body = {
            "id": f"urn:ngsi-ld:EntityTypeList:{uuid.uuid4()}",
            "type": "EntityTypeList",
            "typeList": [c(i.type) for i in infos],
        }
    return json_response(body, media, ctx)


@router.get("/types/{type_name:path}", summary="Details of one entity type")
async def type_info(request: Request, type_name: str) -> Response:
    check_params(request.query_params, "discovery")
    media = negotiate(request)
    tenant = await read_tenant(request)
    ctx = await get_context(request)
    info = await hub(request).discovery.type_info(tenant, ctx.active.expand(type_name))
    c = ctx.active.compact
    body = {
        "id": info.type,
        "type": "EntityTypeInfo",
        "typeName": c(info.type),
        "entityCount": info.entity_count,
        "attributeDetails": [
            {
                "id": attr,
                "type": "Attribute",
                "attributeName": c(attr),
                "attributeTypes": sorted(kinds),
            }
            for attr, kinds in sorted(info.attributes.items())
        ],
    }
    return json_response(body, media, ctx)


@router.get("/attributes", summary="Available attributes")
async def attributes(request: Request) -> Response:
    check_params(request.query_params, "discovery")
    media = negotiate(request)
    tenant = await read_tenant(request)
    ctx = await get_context(request)
    infos = await hub(request).discovery.attributes(tenant)
    c = ctx.active.compact
    if _details(request):
        body: object = [
            {
                "id": i.attribute,
                "type": "Attribute",
                "attributeName": c(i.attribute),
                "typeNames": sorted(c(t) for t in i.type_names),
            }
            for i in infos
        ]
    else:
        body = {
            "id": f"urn:ngsi-ld:AttributeList:{uuid.uuid4()}",
            "type": "AttributeList",
            "attributeList": [c(i.attribute) for i in infos],
        }
    return json_response(body, media, ctx)


@router.get("/attributes/{attr_name:path}", summary="Details of one attribute")
async def attribute_info(request: Request, attr_name: str) -> Response:
    check_params(request.query_params, "discovery")
    media = negotiate(request)
    tenant = await read_tenant(request)
    ctx = await get_context(request)
    info = await hub(request).discovery.attribute_info(tenant, ctx.active.expand(attr_name))
    c = ctx.active.compact
    body = {
        "id": info.attribute,
        "type": "Attribute",
        "attributeName": c(info.attribute),
        "attributeCount": info.count,
        "attributeTypes": sorted(info.attribute_types),
        "typeNames": sorted(c(t) for t in info.type_names),
    }
    return json_response(body, media, ctx)
