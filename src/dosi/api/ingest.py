"""POST /dosi/v1/ingest/{dataset}: the HTTP push adapter for external platforms.

An API key of the dataset (``X-API-Key`` or ``Authorization: Bearer``), a body of NGSI-LD
entities or raw JSON the dataset's mapping reads, and optionally an ``Idempotency-Key``:
a message sent again with the same key changes nothing and gets the first verdicts.
Answers 200 with one verdict per record (rejected records are in the dead-letter store).
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from dosi.api.datasets import ingest_of, json_response
from dosi.api.deps import hub
from dosi.api.media import JSON, JSONLD, content_type
from dosi.errors import InvalidRequestError, PayloadTooLargeError, UnsupportedMediaTypeError

router = APIRouter(prefix="/dosi/v1", tags=["ingest"])


def _secret(request: Request) -> str | None:
    key = request.headers.get("x-api-key")
    auth = request.headers.get("authorization", "")
    if key is None and auth.lower().startswith("bearer "):
        key = auth[7:].strip()
    return key


@router.post("/ingest/{ds_id}", summary="Push records into a dataset")
async def push(request: Request, ds_id: str) -> Response:
    max_bytes = hub(request).settings.max_body_bytes
    ctype = content_type(request)
    if ctype not in (JSON, JSONLD):
        raise UnsupportedMediaTypeError("use application/json or application/ld+json")
    body = await request.body()
    if len(body) > max_bytes:
        raise PayloadTooLargeError(f"request body larger than {max_bytes} bytes")
    if not body:
        raise InvalidRequestError("the request body is empty")
    verdicts = await ingest_of(request).push(
        ds_id, _secret(request), body, request.headers.get("idempotency-key"))
    counts = {s: sum(1 for v in verdicts if v.status == s)
              for s in ("accepted", "flagged", "rejected")}
    return json_response({**counts, "verdicts": [v.as_json() for v in verdicts]})
