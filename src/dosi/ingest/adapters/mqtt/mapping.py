"""Per-device-group mapping of MQTT messages to NGSI-LD entities (declarative).

A device group names a topic pattern with named levels (``city/{district}/air/{device}``;
each ``{name}`` is one topic level, subscribed as ``+``), the dataset it feeds, the
entity id and type (templates over the named levels), the payload format (``json``: an
object; ``ul``: UltraLight-like ``t|23.1|h|41``; ``auto``) and an attribute map from
payload keys to NGSI-LD attributes with unit code and allowed range. ``observedAt``
comes from the payload key ``observed_at`` names (ISO 8601 or epoch seconds/ms).

``observations`` is the one place that reads a message; the generic mapper (normalized
entities for ``IngestPipeline.submit``) and the fast path (``fastpath``) both use it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from dosi.ingest.errors import RecordError, json_object
from dosi.ingest.records import RawRecord

_LEVEL = re.compile(r"^\{([A-Za-z_][A-Za-z0-9_]*)\}$")


class AttributeMap(BaseModel):
    """One payload key -> one NGSI-LD Property."""

    name: str
    kind: Literal["number", "text", "boolean"] = "number"
    unitCode: str | None = None
    min: float | None = None
    max: float | None = None


class DeviceGroup(BaseModel):
    """Which topics, to which dataset and entities, with which attributes."""

    name: str
    dataset: str
    topic: str = Field(description="pattern: levels are literal, {name} (one level) or +")
    entity_id: str = Field(description="template, e.g. urn:ngsi-ld:Device:{device}")
    entity_type: str
    context: list[str] = []
    format: Literal["json", "ul", "auto"] = "auto"
    attributes: dict[str, AttributeMap]
    observed_at: str | None = Field(default="ts", description="payload key of the time")
    time_attribute: str | None = Field(
        default=None, description="a Property set to each message's time (e.g. dateObserved, "
        "which the Smart Data Models *Observed types require)")
    max_bytes: int = 64 * 1024
    fast: bool = Field(default=True, description="write through the fast path when possible")

    @field_validator("topic")
    @classmethod
    def _topic(cls, v: str) -> str:
        if "#" in v or not v or v.startswith("/"):
            raise ValueError(f"topic pattern {v!r}: use literal levels, {{name}} or +")
        return v

    @property
    def subscription(self) -> str:
        """The MQTT topic filter to subscribe to."""
        return "/".join("+" if _LEVEL.match(lv) else lv for lv in self.topic.split("/"))

    def match(self, topic: str) -> dict[str, str] | None:
        """The named levels of a topic this group covers, or None."""
        levels, pattern = topic.split("/"), self.topic.split("/")
        if len(levels) != len(pattern):
            return None
        out: dict[str, str] = {}
        for lv, pat in zip(levels, pattern):
            m = _LEVEL.match(pat)
            if m:
                out[m.group(1)] = lv
            elif pat != "+" and pat != lv:
                return None
        return out


@dataclass(slots=True)
class Observation:
    attr: str  # compacted attribute name
    value: Any
    unit: str | None
    observed_at: str | None  # ISO 8601 UTC, ms


@dataclass(slots=True)
class DeviceMessage:
    entity_id: str
    entity_type: str
    observations: list[Observation]


_SAFE_LEVEL = re.compile(r"^[A-Za-z0-9._~:-]+$")


def _entity_id(group: DeviceGroup, levels: dict[str, str]) -> str:
    for name, value in levels.items():
        if not _SAFE_LEVEL.match(value):
            raise RecordError(f"topic level {name}={value!r} cannot be part of an entity id")
    try:
        return group.entity_id.format(**levels)
    except (KeyError, IndexError) as exc:
        raise RecordError(f"entity id template needs topic level {exc}") from None


def _decode(group: DeviceGroup, payload: bytes) -> dict[str, Any]:
    text = payload.decode("utf-8", errors="strict") if payload else ""
    fmt = group.format
    if fmt == "auto":
        fmt = "json" if text.lstrip().startswith("{") else "ul"
    if fmt == "json":
        return json_object(text)
    parts = text.strip().split("|")
    if len(parts) < 2 or len(parts) % 2:
        raise RecordError(f"payload is not key|value pairs: {text[:60]!r}")
    return dict(zip(parts[::2], parts[1::2]))


def _time(raw: Any) -> str:
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        secs = raw / 1000 if raw > 1e11 else raw
        try:
            t = datetime.fromtimestamp(secs, UTC)
        except (OverflowError, OSError, ValueError):
            raise RecordError(f"time {raw!r} is not a valid epoch time") from None
    elif isinstance(raw, str):
        text = raw.strip()
        if text.replace(".", "", 1).isdigit():
            return _time(float(text))
        try:
            t = datetime.fromisoformat(text)
        except ValueError:
            raise RecordError(f"time {raw!r} is not ISO 8601") from None
        if t.tzinfo is None:
            raise RecordError(f"time {raw!r} has no time zone")
    else:
        raise RecordError(f"time {raw!r} is neither ISO 8601 nor epoch")
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def _value(key: str, spec: AttributeMap, raw: Any) -> tuple[Any, str | None]:
    unit = spec.unitCode
    if isinstance(raw, dict):  # {"value": 23.1, "unitCode": "CEL"}
        given = raw.get("unitCode", raw.get("unit"))
        if given is not None and spec.unitCode is not None and given != spec.unitCode:
            raise RecordError(f"{key}: unit {given!r}, expected {spec.unitCode!r}")
        raw = raw.get("value")
    if spec.kind == "number":
        if isinstance(raw, bool):
            raise RecordError(f"{key} {raw!r} is not a number")
        try:
            value = float(raw) if isinstance(raw, str) else raw
        except ValueError:
            raise RecordError(f"{key} {raw!r} is not a number") from None
        if not isinstance(value, (int, float)) or not math.isfinite(value):
            raise RecordError(f"{key} {raw!r} is not a number")
        if (spec.min is not None and value < spec.min) or (spec.max is not None and value > spec.max):
            raise RecordError(f"{key} {raw!r} is out of range {spec.min:g}..{spec.max:g}"
                              if spec.min is not None and spec.max is not None
                              else f"{key} {raw!r} is out of range")
        if isinstance(raw, str) and value.is_integer() and "." not in raw:
            value = int(value)
        return value, unit
    if spec.kind == "boolean":
        if isinstance(raw, bool):
            return raw, unit
        if str(raw).lower() in ("true", "1", "on"):
            return True, unit
        if str(raw).lower() in ("false", "0", "off"):
            return False, unit
        raise RecordError(f"{key} {raw!r} is not a boolean")
    if not isinstance(raw, (str, int, float)):
        raise RecordError(f"{key} {raw!r} is not text")
    return str(raw), unit


def observations(group: DeviceGroup, topic: str, payload: bytes, received_at: datetime
                 ) -> DeviceMessage:
    """Read one message of ``group``; RecordError says what is wrong with it."""
    try:
        return _observations(group, topic, payload, received_at)
    except (ValueError, OverflowError, TypeError) as exc:  # a number or time too odd to read
        if isinstance(exc, RecordError):
            raise
        raise RecordError(f"unreadable value: {type(exc).__name__}: {str(exc)[:200]}") from None


def _observations(group: DeviceGroup, topic: str, payload: bytes, received_at: datetime
                  ) -> DeviceMessage:
    if len(payload) > group.max_bytes:
        raise RecordError(f"message of {len(payload)} bytes is larger than {group.max_bytes}")
    levels = group.match(topic)
    if levels is None:
        raise RecordError(f"topic {topic!r} does not match {group.topic!r}")
    entity_id = _entity_id(group, levels)
    try:
        doc = _decode(group, payload)
    except UnicodeDecodeError as exc:
        raise RecordError(f"payload is not UTF-8: {exc}") from None
    when = None
    if group.observed_at and group.observed_at in doc:
        when = _time(doc.pop(group.observed_at))
    if when is None:
        when = _time(received_at.timestamp())
    obs: list[Observation] = []
    for key, raw in doc.items():
        spec = group.attributes.get(key)
        if spec is None:
            raise RecordError(f"unknown attribute key {key!r} for device group {group.name!r}")
        value, unit = _value(key, spec, raw)
        obs.append(Observation(spec.name, value, unit, when))
    if not obs:
        raise RecordError("message carries no attribute")
    if group.time_attribute:
        obs.append(Observation(group.time_attribute, when, None, when))
    return DeviceMessage(entity_id, group.entity_type, obs)


def to_entity(group: DeviceGroup, msg: DeviceMessage) -> dict[str, Any]:
    """A device message as a normalized NGSI-LD entity (what a client would upsert)."""
    entity: dict[str, Any] = {"id": msg.entity_id, "type": msg.entity_type}
    for o in msg.observations:
        inst: dict[str, Any] = {"type": "Property", "value": o.value}
        if o.unit:
            inst["unitCode"] = o.unit
        if o.observed_at:
            inst["observedAt"] = o.observed_at
        entity[o.attr] = inst
    if group.context:
        entity["@context"] = list(group.context)
    return entity


def record_of(group: DeviceGroup, topic: str, payload: bytes, received_at: datetime,
              key: str | None = None) -> RawRecord:
    return RawRecord(group.dataset, f"mqtt:{group.name}", payload, received_at, key,
                     {"topic": topic, "group": group.name, "partial": True})


def mapper_for(groups: list[DeviceGroup]) -> Any:
    """The mapper of the datasets these groups feed (ingest contract)."""
    by_name = {g.name: g for g in groups}

    def mapper(record: RawRecord) -> list[dict[str, Any]]:
        group = by_name.get(record.meta.get("group", ""))
        if group is None:
            raise RecordError(f"no device group {record.meta.get('group')!r}")
        msg = observations(group, record.meta.get("topic", ""), record.payload,
                           record.received_at)
        return [to_entity(group, msg)]

    return mapper
