"""Routes of /dosi/v1/datasets (the catalog), /dosi/v1/catalog (DCAT-AP), dead letters,
quality and API keys of each dataset."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from dosi.api.deps import hub
from dosi.api.media import read_json
from dosi.errors import BadRequestDataError
from dosi.services.catalog import CatalogService
from dosi.services.ingest import IngestService

router = APIRouter(prefix="/dosi/v1", tags=["datasets"])


def json_response(body: Any, status: int = 200, media_type: str = "application/json",
                  headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type=media_type,
                    headers=headers)


def catalog_of(request: Request) -> CatalogService:
    svc = hub(request).catalog
    assert svc is not None
    return svc


def ingest_of(request: Request) -> IngestService:
    svc = hub(request).ingest
    assert svc is not None
    return svc


async def body_of(request: Request) -> Any:
    return await read_json(request, hub(request).settings.max_body_bytes)


def _int(request: Request, name: str, default: int, top: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or int(raw) > top:
        raise BadRequestDataError(f"{name}: a whole number from 0 to {top}")
    return int(raw)


@router.get("/datasets", summary="List datasets")
async def list_datasets(request: Request) -> Response:
    return json_response(await catalog_of(request).list_datasets())


@router.post("/datasets", summary="Create a dataset")
async def create_dataset(request: Request) -> Response:
    doc = await catalog_of(request).create_dataset(await body_of(request))
    return json_response(doc, 201, headers={"Location": f"/dosi/v1/datasets/{doc['id']}"})


@router.get("/datasets/{ds_id}", summary="One dataset")
async def get_dataset(request: Request, ds_id: str) -> Response:
    return json_response(await catalog_of(request).get_dataset(ds_id))


@router.put("/datasets/{ds_id}", summary="Replace a dataset")
async def replace_dataset(request: Request, ds_id: str) -> Response:
    return json_response(await catalog_of(request).replace_dataset(ds_id, await body_of(request)))


@router.delete("/datasets/{ds_id}", summary="Delete a dataset, its dead letters and keys")
async def delete_dataset(request: Request, ds_id: str) -> Response:
    await catalog_of(request).delete_dataset(ds_id)
    return Response(status_code=204)


@router.get("/catalog", summary="The catalog as DCAT-AP JSON-LD")
async def dcat(request: Request) -> Response:
    base = str(request.base_url).rstrip("/")
    return json_response(await catalog_of(request).catalog(base), media_type="application/ld+json")


@router.get("/datasets/{ds_id}/deadletters", summary="Rejected records of a dataset")
async def list_dead_letters(request: Request, ds_id: str) -> Response:
    await catalog_of(request).get_dataset(ds_id)
    limit = _int(request, "limit", 100, 1000)
    offset = _int(request, "offset", 0, 10**9)
    items, total = await ingest_of(request).dead_letters(ds_id, limit, offset)
    return json_response(items, headers={"NGSILD-Results-Count": str(total)})


@router.delete("/datasets/{ds_id}/deadletters", summary="Delete dead letters (?id=1,2 or all)")
async def delete_dead_letters(request: Request, ds_id: str) -> Response:
    raw = request.query_params.get("id")
    ids = None
    if raw is not None:
        parts = raw.split(",")
        if not all(p.strip().isdigit() for p in parts):
            raise BadRequestDataError("id: dead letter ids, comma-separated")
        ids = [int(p) for p in parts]
    n = await ingest_of(request).delete_dead_letters(ds_id, ids)
    return json_response({"deleted": n})


@router.post("/datasets/{ds_id}/deadletters/replay", summary="Submit dead letters again")
async def replay(request: Request, ds_id: str) -> Response:
    return json_response(await ingest_of(request).replay(ds_id))


@router.get("/datasets/{ds_id}/quality", summary="Validity, completeness, timeliness")
async def quality(request: Request, ds_id: str) -> Response:
    return json_response(await ingest_of(request).quality(ds_id))


@router.get("/quality", summary="Quality figures of every dataset (late and silent sources)")
async def quality_all(request: Request) -> Response:
    return json_response(await ingest_of(request).quality_all())


@router.get("/datasets/{ds_id}/keys", summary="API keys of the HTTP push adapter")
async def list_keys(request: Request, ds_id: str) -> Response:
    await catalog_of(request).get_dataset(ds_id)
    return json_response(await catalog_of(request).list_keys(ds_id))


@router.post("/datasets/{ds_id}/keys", summary="Create an API key (shown once)")
async def create_key(request: Request, ds_id: str) -> Response:
    body = await body_of(request)
    source = body.get("source") if isinstance(body, dict) else None
    return json_response(await catalog_of(request).create_key(ds_id, source), 201)  # type: ignore[arg-type]


@router.delete("/datasets/{ds_id}/keys/{key_id}", summary="Revoke an API key")
async def delete_key(request: Request, ds_id: str, key_id: str) -> Response:
    await catalog_of(request).delete_key(ds_id, key_id)
    return Response(status_code=204)
