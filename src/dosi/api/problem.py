"""The one map from domain errors to HTTP status and ProblemDetails bodies."""

from __future__ import annotations

import logging
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from dosi import errors as e

log = logging.getLogger("dosi.api")

STATUS: dict[type[e.DosiError], int] = {
    e.InvalidRequestError: 400,
    e.BadRequestDataError: 400,
    e.AlreadyExistsError: 409,
    e.ResourceNotFoundError: 404,
    e.UnauthorizedError: 401,
    e.OperationNotSupportedError: 422,
    e.TooManyResultsError: 403,
    e.LdContextNotAvailableError: 503,
    e.NotAcceptableError: 406,
    e.UnsupportedMediaTypeError: 415,
    e.PayloadTooLargeError: 413,
    e.ConflictError: 409,
    e.ForbiddenError: 403,
    e.TooManyRequestsError: 429,
    e.InternalError: 500,
}


def status_of(exc: e.DosiError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]  # type: ignore[index]
    return 500


def problem_body(exc: e.DosiError) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": exc.problem_type,
        "title": exc.title,
        "status": status_of(exc),
        "detail": exc.detail,
    }
    body.update(exc.extra)
    return body


def problem_response(exc: e.DosiError) -> Response:
    headers = None
    if isinstance(exc, e.UnauthorizedError):
        headers = {"WWW-Authenticate": 'Bearer realm="dosi"'}
    elif isinstance(exc, e.TooManyRequestsError):
        headers = {"Retry-After": str(exc.extra.get("retryAfter", 1))}
    return Response(
        orjson.dumps(problem_body(exc)),
        status_code=status_of(exc),
        media_type="application/json",
        headers=headers,
    )


async def dosi_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, e.DosiError)
    return problem_response(exc)


async def unexpected_error_handler(request: Request, exc: Exception) -> Response:
    """A 5xx never leaks internals: log the trace, answer a plain InternalError."""
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return problem_response(e.InternalError("the hub failed to process this request"))
