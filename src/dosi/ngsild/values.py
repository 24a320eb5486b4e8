"""Small validators shared by the NGSI-LD modules: URIs, names, date-times."""

from __future__ import annotations

import re
from datetime import datetime, timezone

from dosi.errors import BadRequestDataError

_URI_RE = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:[^\s<>\"{}|\\^`]*$")
_NAME_FORBIDDEN = re.compile(r"[\s<>\"'=;()\\&?]")
_DATETIME_RE = re.compile(
    r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?$"
)

NULL_URI = "urn:ngsi-ld:null"


def is_uri(value: object) -> bool:
    return isinstance(value, str) and bool(_URI_RE.match(value)) and len(value) <= 2048


def require_uri(value: object, what: str) -> str:
    if not is_uri(value):
        raise BadRequestDataError(f"{what} must be a URI, got {value!r}")
    assert isinstance(value, str)
    return value


_VALID_NAMES: set[str] = set()


def valid_name(name: object) -> bool:
    """Whether a string is an acceptable attribute or type name (a term or an IRI)."""
    if name in _VALID_NAMES:
        return True
    ok = (
        isinstance(name, str)
        and 0 < len(name) <= 512
        and not _NAME_FORBIDDEN.search(name)
        and not name.startswith("@")
    )
    if ok and len(_VALID_NAMES) < 50_000:
        _VALID_NAMES.add(name)  # type: ignore[arg-type]
    return ok


def require_name(name: object, what: str) -> str:
    if not valid_name(name):
        raise BadRequestDataError(f"invalid {what}: {name!r}")
    assert isinstance(name, str)
    return name


def is_datetime(value: object) -> bool:
    if not isinstance(value, str) or not _DATETIME_RE.match(value):
        return False
    try:
        parse_datetime(value)
    except ValueError:
        return False
    return True


def parse_datetime(value: str) -> datetime:
    """Parse an ISO 8601 date-time; naive values are taken as UTC."""
    text = value.replace("Z", "+00:00") if value.endswith("Z") else value
    dt = datetime.fromisoformat(text)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt


def require_datetime(value: object, what: str) -> str:
    if not is_datetime(value):
        raise BadRequestDataError(f"{what} must be an ISO 8601 date-time, got {value!r}")
    assert isinstance(value, str)
    return value


def format_datetime(dt: datetime) -> str:
    """UTC, millisecond precision, 'Z' suffix: the form of system timestamps."""
    dt = dt.astimezone(timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def now_iso() -> str:
    return format_datetime(datetime.now(timezone.utc))
