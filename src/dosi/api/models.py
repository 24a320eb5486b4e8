"""Routes of /dosi/v1/models: custom data models (and the bundled Smart Data Models)."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from dosi.api.datasets import body_of, catalog_of, json_response
from dosi.ingest.models import sdm_index

router = APIRouter(prefix="/dosi/v1", tags=["data models"])


@router.get("/models", summary="Custom models (and ?bundled=true: the Smart Data Models)")
async def list_models(request: Request) -> Response:
    models = await catalog_of(request).list_models()
    if request.query_params.get("bundled") == "true":
        bundled = [{"name": t, "subject": s, "bundled": True}
                   for t, (s, _) in sorted(sdm_index().items())]
        return json_response(models + bundled)
    return json_response(models)


@router.post("/models", summary="Create a custom model")
async def create_model(request: Request) -> Response:
    doc = await catalog_of(request).create_model(await body_of(request))
    return json_response(doc, 201, headers={"Location": f"/dosi/v1/models/{doc['name']}"})


@router.get("/models/{name}", summary="One custom model")
async def get_model(request: Request, name: str) -> Response:
    return json_response(await catalog_of(request).get_model(name))


@router.get("/models/{name}/schema", summary="The JSON Schema a custom model compiles to")
async def model_schema(request: Request, name: str) -> Response:
    return json_response(await catalog_of(request).model_schema(name),
                         media_type="application/schema+json")


@router.put("/models/{name}", summary="Replace a custom model")
async def replace_model(request: Request, name: str) -> Response:
    return json_response(await catalog_of(request).replace_model(name, await body_of(request)))


@router.delete("/models/{name}", summary="Delete a custom model")
async def delete_model(request: Request, name: str) -> Response:
    await catalog_of(request).delete_model(name)
    return Response(status_code=204)
