"""The NGSI-LD temporal forms, pure and I/O free: temporal queries (``timerel``,
``timeAt``, ``endTimeAt``, ``timeproperty``, ``lastN``), ISO 8601 durations, the
representation options, and temporal entity payloads (many instances per attribute)
with the latest state they imply for the current entity.

Times inside the temporal layer are integers: milliseconds since the Unix epoch, UTC.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from dosi.errors import BadRequestDataError, InvalidRequestError
from dosi.ngsild.context import ActiveContext
from dosi.ngsild.entity import (
    ENTITY_MEMBERS,
    Entity,
    Instance,
    expand_attr_name,
    parse_instance,
    parse_scope,
    parse_types,
)
from dosi.ngsild.values import is_datetime, parse_datetime, require_uri

TIMERELS = ("before", "after", "between")
TIME_PROPERTIES = ("observedAt", "createdAt", "modifiedAt", "deletedAt")
AGGR_METHODS = ("totalCount", "distinctCount", "sum", "avg", "min", "max", "stddev", "sumsq")
REPRESENTATIONS = ("normalized", "temporalValues", "aggregatedValues")
TEMPORAL_OPTIONS = {"temporalValues", "aggregatedValues", "sysAttrs", "normalized"}
_DURATION = re.compile(
    r"^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?"
    r"(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:[.,]\d+)?)S)?)?$"
)


# --- time ---


def to_ms(text: str) -> int:
    """An ISO 8601 date-time as epoch milliseconds (naive values are UTC)."""
    dt = parse_datetime(text)
    return calendar.timegm(dt.utctimetuple()) * 1000 + dt.microsecond // 1000


def iso(ms: int) -> str:
    """Epoch milliseconds as ``YYYY-MM-DDThh:mm:ss[.mmm]Z`` (no fraction when zero)."""
    dt = datetime.fromtimestamp(ms / 1000, tz=UTC)
    base = dt.strftime("%Y-%m-%dT%H:%M:%S")
    frac = ms % 1000
    return f"{base}.{frac:03d}Z" if frac else f"{base}Z"


@dataclass(frozen=True)
class Duration:
    """An ISO 8601 duration: calendar months plus exact milliseconds."""

    months: int = 0
    ms: int = 0

    @property
    def calendar(self) -> bool:
        return self.months > 0

    def add(self, t: int, times: int = 1) -> int:
        """``t`` plus ``times`` of this duration (months on the calendar, UTC)."""
        if self.months:
            dt = datetime.fromtimestamp(t / 1000, tz=UTC)
            total = dt.year * 12 + dt.month - 1 + self.months * times
            year, month = divmod(total, 12)
            day = min(dt.day, calendar.monthrange(year, month + 1)[1])
            dt = dt.replace(year=year, month=month + 1, day=day)
            t = calendar.timegm(dt.utctimetuple()) * 1000 + dt.microsecond // 1000
        return t + self.ms * times


def parse_duration(text: str) -> Duration:
    """``aggrPeriodDuration``: P[nY][nM][nW][nD][T[nH][nM][nS]], not zero."""
    m = _DURATION.match(text or "")
    if not m or text in ("P", "PT") or text.endswith("T"):
        raise BadRequestDataError(f"invalid ISO 8601 duration {text!r}")
    y, mo, w, d, h, mi, s = m.groups()
    months = int(y or 0) * 12 + int(mo or 0)
    secs = float((s or "0").replace(",", "."))
    ms = ((int(w or 0) * 7 + int(d or 0)) * 86400 + int(h or 0) * 3600 + int(mi or 0) * 60) * 1000
    ms += round(secs * 1000)
    if months == 0 and ms == 0:
        raise BadRequestDataError("aggrPeriodDuration must not be zero")
    return Duration(months, ms)


@dataclass(frozen=True)
class TimeFilter:
    """``timerel``/``timeAt``/``endTimeAt`` on a time property (epoch ms)."""

    timerel: str | None = None
    time_at: int | None = None
    end_time_at: int | None = None
    timeproperty: str = "observedAt"

    def bounds(self) -> tuple[int | None, int | None]:
        """[lower, upper) in ms: ``after`` includes timeAt, ``before`` excludes it."""
        if self.timerel == "after":
            return self.time_at, None
        if self.timerel == "before":
            return None, self.time_at
        if self.timerel == "between":
            return self.time_at, self.end_time_at
        return None, None


def _time(value: Any, name: str) -> int:
    if not isinstance(value, str) or not is_datetime(value):
        raise BadRequestDataError(f"{name} must be an ISO 8601 date-time, got {value!r}")
    return to_ms(value)


def parse_time_filter(params: Mapping[str, Any]) -> TimeFilter:
    """The temporal query of a request (query parameters or a ``temporalQ`` object)."""
    timerel = params.get("timerel") or None
    prop = params.get("timeproperty") or "observedAt"
    if prop not in TIME_PROPERTIES:
        raise BadRequestDataError(f"timeproperty must be one of {', '.join(TIME_PROPERTIES)}")
    raw_at, raw_end = params.get("timeAt") or None, params.get("endTimeAt") or None
    if timerel is None:
        if raw_at is not None or raw_end is not None:
            raise BadRequestDataError("timeAt and endTimeAt need timerel")
        return TimeFilter(timeproperty=prop)
    if timerel not in TIMERELS:
        raise BadRequestDataError(f"timerel must be before, after or between, not {timerel!r}")
    if raw_at is None:
        raise BadRequestDataError(f"timerel={timerel} needs timeAt")
    at = _time(raw_at, "timeAt")
    end = None
    if timerel == "between":
        if raw_end is None:
            raise BadRequestDataError("timerel=between needs endTimeAt")
        end = _time(raw_end, "endTimeAt")
        if end <= at:
            raise BadRequestDataError("endTimeAt must be after timeAt")
    elif raw_end is not None:
        raise BadRequestDataError("endTimeAt is only for timerel=between")
    return TimeFilter(timerel, at, end, prop)


@dataclass(frozen=True)
class TemporalOptions:
    """How a temporal representation is asked for."""

    representation: str = "normalized"
    sys_attrs: bool = False
    last_n: int | None = None
    aggr_methods: tuple[str, ...] = ()
    aggr_period: Duration | None = None


def parse_temporal_options(
    options: Iterable[str],
    fmt: str | None,
    aggr_methods: str | None,
    aggr_period: str | None,
    last_n: str | int | None,
) -> TemporalOptions:
    """``options``/``format`` (format wins), ``aggrMethods``, ``aggrPeriodDuration``, ``lastN``."""
    opts = set(options)
    unknown = opts - TEMPORAL_OPTIONS
    if unknown:
        raise InvalidRequestError(f"unknown options: {', '.join(sorted(unknown))}")
    if fmt is not None and fmt not in REPRESENTATIONS:
        raise InvalidRequestError(f"unknown temporal format {fmt!r}")
    rep = fmt or (
        "aggregatedValues"
        if "aggregatedValues" in opts
        else "temporalValues"
        if "temporalValues" in opts
        else "normalized"
    )
    n = None
    if last_n not in (None, ""):
        try:
            n = int(last_n)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise BadRequestDataError(f"lastN must be a positive integer, got {last_n!r}") from None
        if n < 1:
            raise BadRequestDataError("lastN must be a positive integer")
    methods: tuple[str, ...] = ()
    period = None
    if rep == "aggregatedValues":
        names = [m.strip() for m in (aggr_methods or "").split(",") if m.strip()]
        if not names:
            raise BadRequestDataError("aggregatedValues needs aggrMethods")
        bad = [m for m in names if m not in AGGR_METHODS]
        if bad:
            raise BadRequestDataError(f"unknown aggregation method(s): {', '.join(bad)}")
        methods = tuple(dict.fromkeys(names))
        if aggr_period:
            period = parse_duration(aggr_period)
    return TemporalOptions(rep, "sysAttrs" in opts, n, methods, period)


# --- temporal entity payloads ---


@dataclass
class TemporalPayload:
    """A temporal entity body: the entity members and every attribute instance given."""

    entity_id: str | None
    types: list[str]
    scope: list[str] | None
    instances: dict[str, list[Instance]]


def parse_temporal_entity(
    payload: Any,
    ctx: ActiveContext,
    now: str,
    *,
    require_id: bool = True,
    require_type: bool = True,
) -> TemporalPayload:
    """Parse ``POST /temporal/entities`` (and ``.../attrs``) bodies: each attribute is
    one instance or an array of instances, any number per datasetId."""
    if not isinstance(payload, dict):
        raise BadRequestDataError("a temporal entity must be a JSON object")
    raw_id = payload.get("id", payload.get("@id"))
    if raw_id is None and require_id:
        raise BadRequestDataError("entity id is missing")
    entity_id = require_uri(raw_id, "entity id") if raw_id is not None else None
    raw_type = payload.get("type", payload.get("@type"))
    if raw_type is None and require_type:
        raise BadRequestDataError("entity type is missing")
    types = parse_types(raw_type, ctx) if raw_type is not None else []
    scope = parse_scope(payload["scope"]) if "scope" in payload else None
    instances: dict[str, list[Instance]] = {}
    for name, raw in payload.items():
        if name in ENTITY_MEMBERS:
            continue
        iri = expand_attr_name(name, ctx)
        items = (
            raw
            if isinstance(raw, list) and raw and all(isinstance(x, dict) for x in raw)
            else [raw]
        )
        instances[iri] = [parse_instance(x, ctx, now, iri=iri) for x in items]
    return TemporalPayload(entity_id, types, scope, instances)


def _recency(inst: Instance, index: int) -> tuple[int, int]:
    obs = inst.get("observedAt")
    return (to_ms(obs) if obs else -1, index)


def latest_instances(instances: Mapping[str, list[Instance]]) -> dict[str, list[Instance]]:
    """Per attribute and datasetId, the most recent instance (by observedAt, then order)."""
    out: dict[str, list[Instance]] = {}
    for iri, insts in instances.items():
        best: dict[Any, tuple[tuple[int, int], Instance]] = {}
        for i, inst in enumerate(insts):
            key = inst.get("datasetId")
            rank = _recency(inst, i)
            if key not in best or rank >= best[key][0]:
                best[key] = (rank, inst)
        out[iri] = [inst for _, inst in best.values()]
    return out


def merge_latest(current: Entity | None, payload: TemporalPayload, now: str) -> Entity:
    """The current entity after a temporal write: created from the latest instances, or
    with an instance replaced wherever the payload holds a more recent one."""
    latest = latest_instances(payload.instances)
    if current is None:
        entity: Entity = {"id": payload.entity_id, "type": list(payload.types)}
        if payload.scope:
            entity["scope"] = list(payload.scope)
        entity.update(attrs=latest, createdAt=now, modifiedAt=now)
        return entity
    new = dict(current)
    new["type"] = list(current["type"]) + [t for t in payload.types if t not in current["type"]]
    if payload.scope is not None:
        new["scope"] = list(dict.fromkeys(current.get("scope", []) + payload.scope))
    attrs = {k: list(v) for k, v in current.get("attrs", {}).items()}
    for iri, insts in latest.items():
        existing = attrs.setdefault(iri, [])
        for inst in insts:
            ds = inst.get("datasetId")
            i = next((k for k, old in enumerate(existing) if old.get("datasetId") == ds), -1)
            if i < 0:
                existing.append(inst)
            elif _recency(inst, 1) >= _recency(existing[i], 0):
                existing[i] = {**inst, "createdAt": existing[i].get("createdAt", now)}
    new["attrs"] = attrs
    new["modifiedAt"] = now
    return new
