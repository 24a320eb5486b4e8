"""Domain errors. Each carries its NGSI-LD problem type; ``api/problem.py`` maps them to HTTP.

No HTTP import here: services and stores raise these, the API layer translates them.
"""

from __future__ import annotations

from typing import Any

_BASE = "https://uri.etsi.org/ngsi-ld/errors/"


class DosiError(Exception):
    """Base of every error a client may see."""

    problem_type: str = _BASE + "InternalError"
    title: str = "Internal error"

    def __init__(self, detail: str = "", **extra: Any) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.extra = extra


class InvalidRequestError(DosiError):
    """The request is syntactically wrong (bad JSON, bad query syntax, bad parameters)."""

    problem_type = _BASE + "InvalidRequest"
    title = "Invalid request"


class BadRequestDataError(DosiError):
    """The request is well-formed but its content is not valid NGSI-LD."""

    problem_type = _BASE + "BadRequestData"
    title = "Bad request data"


class AlreadyExistsError(DosiError):
    problem_type = _BASE + "AlreadyExists"
    title = "Already exists"


class UnauthorizedError(DosiError):
    """Credentials are missing, wrong, expired or forged (a bearer token, an API key,
    an ingest API key): 401."""

    problem_type = "urn:dosi:errors:Unauthorized"
    title = "Unauthorized"


class ResourceNotFoundError(DosiError):
    problem_type = _BASE + "ResourceNotFound"
    title = "Resource not found"


class OperationNotSupportedError(DosiError):
    problem_type = _BASE + "OperationNotSupported"
    title = "Operation not supported"


class TooManyResultsError(DosiError):
    problem_type = _BASE + "TooManyResults"
    title = "Too many results"


class LdContextNotAvailableError(DosiError):
    problem_type = _BASE + "LdContextNotAvailable"
    title = "JSON-LD context not available"


class NotAcceptableError(DosiError):
    """No representation the client accepts (406)."""

    problem_type = _BASE + "NotAcceptable"
    title = "Not acceptable"


class UnsupportedMediaTypeError(DosiError):
    """The request body's media type is not supported (415)."""

    problem_type = _BASE + "UnsupportedMediaType"
    title = "Unsupported media type"


class PayloadTooLargeError(DosiError):
    """The request body exceeds the configured limit (413)."""

    problem_type = _BASE + "PayloadTooLarge"
    title = "Payload too large"


class ConflictError(DosiError):
    """The operation conflicts with the current state (e.g. deleting a context in use)."""

    problem_type = _BASE + "Conflict"
    title = "Conflict"


class InternalError(DosiError):
    pass


class ForbiddenError(DosiError):
    """The caller is known but its roles and rules do not allow this (403)."""

    problem_type = "urn:dosi:errors:Forbidden"
    title = "Forbidden"


class TooManyRequestsError(DosiError):
    """The caller exceeded its rate limit (429, with ``retry_after`` seconds)."""

    problem_type = "urn:dosi:errors:TooManyRequests"
    title = "Too many requests"
