"""Declarative mappings: source fields -> NGSI-LD attributes, compiled into a mapper.

A mapping (YAML or JSON; docs/ingest.md) names the entity type, an id template, and for
each source field the attribute it becomes: kind, value type, unit code, the time of
observation and its zone, markers of missing values, and the CRS of coordinates. The
compiled mapper turns one ``RawRecord`` (a JSON object, a JSON array of them, a GeoJSON
Feature or FeatureCollection) into entities in normalized form, compacted, with the
``@context`` of the type's Smart Data Model, or raises ``RecordError``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dosi.ingest import crs as CRS
from dosi.ingest.errors import MappingError, RecordError
from dosi.ingest.records import RawRecord

Mapper = Callable[[RawRecord], list[dict[str, Any]]]
KINDS = ("Property", "Relationship", "GeoProperty")
VALUE_TYPES = ("number", "integer", "string", "boolean", "datetime", "json")
_FIELD = re.compile(r"\{([^{}]+)\}")
_ATTR_KEYS = {"name", "kind", "type", "unitCode", "unitField", "units", "object", "required",
              "scale"}
_TOP_KEYS = {"type", "id", "context", "records", "observedAt", "missing", "location",
             "attributes", "crs", "messageId"}


def load_mapping_text(text: str) -> dict[str, Any]:
    """A mapping from YAML or JSON text."""
    import yaml

    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise MappingError(f"mapping is neither YAML nor JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise MappingError("a mapping is an object (YAML mapping / JSON object)")
    return doc


def _get(obj: Any, path: str) -> Any:
    for part in path.split("."):
        if isinstance(obj, dict):
            obj = obj.get(part)
        elif isinstance(obj, list) and part.isdigit() and int(part) < len(obj):
            obj = obj[int(part)]
        else:
            return None
    return obj


def _zone(name: str | None) -> Any:
    if not name or name.upper() in ("UTC", "Z"):
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise MappingError(f"unknown time zone {name!r}") from None


def parse_time(text: Any, fmt: str | None, zone: Any) -> str:
    """A source time -> ISO 8601 UTC 'Z'. ``fmt``: strptime format, "iso", "epoch" or
    "epoch_ms"; naive times are in ``zone``. AirKorea's "24:00" is midnight next day."""
    if text is None:
        raise RecordError("time of observation is missing")
    try:
        if fmt in ("epoch", "epoch_ms"):
            secs = float(text) / (1000 if fmt == "epoch_ms" else 1)
            dt = datetime.fromtimestamp(secs, UTC)
        else:
            s = str(text).strip()
            extra = timedelta(0)
            if "24:00" in s:  # end of day, as Korean sources write it
                s, extra = s.replace("24:00", "00:00"), timedelta(days=1)
            if fmt in (None, "iso"):
                dt = datetime.fromisoformat(s)
            else:
                dt = datetime.strptime(s, fmt)
            dt += extra
            if dt.tzinfo is None:
                dt = dt.replace(tzinfo=zone)
    except (ValueError, OverflowError, OSError):
        raise RecordError(f"time {text!r} does not match {fmt or 'ISO 8601'}") from None
    dt = dt.astimezone(UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def cast(value: Any, vtype: str, field: str) -> Any:
    """A source value as the attribute's value type (RecordError with the field name)."""
    try:
        if vtype == "number":
            if isinstance(value, bool):
                raise ValueError
            out = float(value.replace(",", "")) if isinstance(value, str) else float(value)
            if not math.isfinite(out):
                raise ValueError
            return int(out) if out.is_integer() and abs(out) < 2**53 else out
        if vtype == "integer":
            f = float(value) if not isinstance(value, bool) else None
            if f is None or not f.is_integer():
                raise ValueError
            return int(f)
        if vtype == "boolean":
            if isinstance(value, bool):
                return value
            s = str(value).strip().lower()
            if s in ("true", "1", "y", "yes"):
                return True
            if s in ("false", "0", "n", "no"):
                return False
            raise ValueError
        if vtype == "json":
            return json.loads(value) if isinstance(value, str) else value
        if vtype == "string":
            if isinstance(value, (dict, list)):
                raise ValueError
            return str(value)
    except (ValueError, TypeError):
        article = "an" if vtype[0] in "aeiou" else "a"
        raise RecordError(f"{field} {value!r} is not {article} {vtype}") from None
    return value


def _template(tpl: str, row: Any, missing: set[Any], what: str) -> str:
    def sub(m: re.Match[str]) -> str:
        v = _get(row, m.group(1))
        if _is_missing(v, missing):
            raise RecordError(f"{what} field {m.group(1)!r} is missing")
        return quote(str(v).strip(), safe="-._~:@")

    return _FIELD.sub(sub, tpl)


def _is_missing(v: Any, missing: set[Any]) -> bool:
    return v is None or (isinstance(v, str) and v.strip() in missing)


class _Attr:
    def __init__(self, field: str, spec: Any) -> None:
        if isinstance(spec, str):
            spec = {"name": spec}
        if not isinstance(spec, dict):
            raise MappingError(f"attribute of field {field!r}: a name or an object")
        unknown = set(spec) - _ATTR_KEYS
        if unknown:
            raise MappingError(f"field {field!r}: unknown keys {sorted(unknown)}")
        self.field = field
        self.name = spec.get("name", field)
        self.kind = spec.get("kind", "Property")
        if self.kind not in KINDS:
            raise MappingError(f"field {field!r}: kind must be one of {KINDS}")
        self.vtype = spec.get("type", "string" if self.kind == "Relationship" else "number")
        if self.vtype not in VALUE_TYPES:
            raise MappingError(f"field {field!r}: type must be one of {VALUE_TYPES}")
        self.unit = spec.get("unitCode")
        self.unit_field = spec.get("unitField")
        self.units = spec.get("units") or {}
        self.object = spec.get("object")  # Relationship object template, e.g. urn:...:{x}
        self.required = bool(spec.get("required", False))
        self.scale = spec.get("scale")


class Mapping:
    """A compiled declarative mapping; calling it maps one record."""

    def __init__(self, spec: dict[str, Any], default_context: list[str] | None = None) -> None:
        if not isinstance(spec, dict):
            raise MappingError("a mapping is an object")
        unknown = set(spec) - _TOP_KEYS
        if unknown:
            raise MappingError(f"unknown mapping keys {sorted(unknown)}")
        for key in ("type", "id"):
            if not isinstance(spec.get(key), str) or not spec[key]:
                raise MappingError(f"a mapping needs {key!r} (a string)")
        self.spec = spec
        self.type: str = spec["type"]
        self.id_template: str = spec["id"]
        ctx = spec.get("context") or default_context or []
        self.context = [ctx] if isinstance(ctx, str) else list(ctx)
        self.records_path = spec.get("records")
        self.message_id: str | None = spec.get("messageId")  # field naming the message
        self.missing = set(spec.get("missing", ["", "-"]))
        obs = spec.get("observedAt")
        if isinstance(obs, str):
            obs = {"field": obs}
        self.obs_field = obs.get("field") if obs else None
        self.obs_format = obs.get("format") if obs else None
        self.obs_zone = _zone(obs.get("timezone") if obs else None)
        loc = spec.get("location")
        self.loc = loc if isinstance(loc, dict) else None
        self.crs = CRS.parse_epsg((loc or {}).get("crs", spec.get("crs", 4326)))
        attrs = spec.get("attributes") or {}
        if not isinstance(attrs, dict):
            raise MappingError("attributes: an object of source field -> attribute")
        self.attrs = [_Attr(f, s) for f, s in attrs.items()]
        self._times: dict[Any, str] = {}  # a source repeats its times and places: cached
        self._places: dict[Any, tuple[float, float]] = {}

    def _time(self, raw: Any, fmt: str | None) -> str:
        key = (raw, fmt)
        hit = self._times.get(key)
        if hit is None:
            if len(self._times) > 4096:
                self._times.clear()
            hit = self._times[key] = parse_time(raw, fmt, self.obs_zone)
        return hit

    def _point(self, x: Any, y: Any) -> tuple[float, float]:
        key = (x, y)
        hit = self._places.get(key)
        if hit is None:
            if len(self._places) > 65536:
                self._places.clear()
            hit = self._places[key] = CRS.to_wgs84(x, y, self.crs)
        return hit

    def attribute_names(self) -> list[str]:
        names = [a.name for a in self.attrs]
        return names + (["location"] if self.loc is not None else [])

    def __call__(self, record: RawRecord) -> list[dict[str, Any]]:
        return [self.entity(row) for row in self.rows(decode_json(record.payload))]

    def rows(self, doc: Any) -> list[Any]:
        if self.records_path:
            doc = _get(doc, self.records_path)
            if doc is None:
                raise RecordError(f"no records at {self.records_path!r}")
        if isinstance(doc, dict) and doc.get("type") == "FeatureCollection":
            doc = doc.get("features") or []
        rows = doc if isinstance(doc, list) else [doc]
        for row in rows:
            if not isinstance(row, dict):
                raise RecordError(f"a record is a JSON object, not {type(row).__name__}")
        return rows

    def entity(self, row: dict[str, Any]) -> dict[str, Any]:
        geometry = None
        if row.get("type") == "Feature":
            geometry = row.get("geometry")
            row = {**(row.get("properties") or {}), "geometry": geometry}
        ent: dict[str, Any] = {
            "id": _template(self.id_template, row, self.missing, "id"),
            "type": self.type,
        }
        observed = None
        if self.obs_field:
            raw = _get(row, self.obs_field)
            if _is_missing(raw, self.missing):
                raise RecordError(f"time field {self.obs_field!r} is missing")
            observed = self._time(raw, self.obs_format)
        for a in self.attrs:
            inst = self._attribute(a, row, observed)
            if inst is not None:
                ent[a.name] = inst
        where = self._location(row, geometry)
        if where is not None:
            ent["location"] = {"type": "GeoProperty", "value": where}
            if observed:
                ent["location"]["observedAt"] = observed
        if self.context:
            ent["@context"] = self.context
        return ent

    def _attribute(self, a: _Attr, row: dict[str, Any], observed: str | None) -> Any:
        raw = _get(row, a.field)
        if _is_missing(raw, self.missing):
            if a.required:
                raise RecordError(f"{a.field} is missing")
            return None
        if a.kind == "Relationship":
            obj = _template(a.object, row, self.missing, a.field) if a.object else str(raw)
            return {"type": "Relationship", "object": obj}
        if a.kind == "GeoProperty":
            geo = cast(raw, "json", a.field)
            try:
                return {"type": "GeoProperty", "value": CRS.transform_geometry(geo, self.crs)}
            except (CRS.CrsError, KeyError, TypeError) as exc:
                raise RecordError(f"{a.field}: {exc}") from None
        if a.vtype == "datetime":
            fmt = self.obs_format if a.field == self.obs_field else None
            value: Any = self._time(raw, fmt)
        else:
            value = cast(raw, a.vtype, a.field)
        if a.scale is not None and isinstance(value, (int, float)):
            value = value * a.scale
        inst: dict[str, Any] = {"type": "Property", "value": value}
        unit = a.unit
        if a.unit_field:
            src_unit = _get(row, a.unit_field)
            if a.units:
                if src_unit not in a.units:
                    raise RecordError(f"{a.field} unit {src_unit!r} is not one of "
                                      f"{sorted(a.units)}")
                unit = a.units[src_unit]
            elif src_unit is not None:
                unit = str(src_unit)
        if unit:
            inst["unitCode"] = unit
        if observed:
            inst["observedAt"] = observed
        return inst

    def _location(self, row: dict[str, Any], geometry: Any) -> dict[str, Any] | None:
        try:
            if self.loc is not None:
                xf = self.loc.get("x", self.loc.get("lon"))
                yf = self.loc.get("y", self.loc.get("lat"))
                if not xf or not yf:
                    raise MappingError("location needs x and y (or lon and lat) fields")
                x, y = _get(row, xf), _get(row, yf)
                if _is_missing(x, self.missing) or _is_missing(y, self.missing):
                    return None
                lon, lat = self._point(x, y)
                return {"type": "Point", "coordinates": [lon, lat]}
            if isinstance(geometry, dict):
                return CRS.transform_geometry(geometry, self.crs)
        except CRS.CrsError as exc:
            raise RecordError(f"location: {exc}") from None
        return None


def decode_json(payload: bytes) -> Any:
    try:
        return json.loads(payload)
    except (ValueError, UnicodeDecodeError) as exc:
        raise RecordError(f"payload is not JSON: {exc}") from None


def looks_like_ngsild(doc: Any) -> bool:
    """An NGSI-LD entity (normalized) rather than a raw source record."""
    if not isinstance(doc, dict) or "id" not in doc or "type" not in doc:
        return False
    if "@context" in doc:
        return True
    return any(isinstance(v, dict) and v.get("type") in
               ("Property", "Relationship", "GeoProperty", "LanguageProperty",
                "VocabProperty", "JsonProperty", "ListProperty", "ListRelationship")
               for v in doc.values())


def passthrough(default_context: list[str] | None) -> Mapper:
    """The mapper of NGSI-LD payloads: entities as given (the default @context added)."""

    def mapper(record: RawRecord) -> list[dict[str, Any]]:
        doc = decode_json(record.payload)
        items = doc if isinstance(doc, list) else [doc]
        out = []
        for item in items:
            if not looks_like_ngsild(item):
                raise RecordError("not an NGSI-LD entity (id, type and attributes) and the "
                                  "dataset has no mapping for raw JSON")
            if "@context" not in item and default_context:
                item = {**item, "@context": default_context}
            out.append(item)
        return out

    return mapper


def auto_mapper(mapping: Mapping | None, default_context: list[str] | None) -> Mapper:
    """NGSI-LD entities pass through; raw JSON goes through the mapping."""
    ngsild = passthrough(default_context)

    def mapper(record: RawRecord) -> list[dict[str, Any]]:
        if mapping is None:
            return ngsild(record)
        doc = decode_json(record.payload)
        first = doc[0] if isinstance(doc, list) and doc else doc
        if looks_like_ngsild(first):
            return ngsild(record)
        return [mapping.entity(row) for row in mapping.rows(doc)]

    return mapper
