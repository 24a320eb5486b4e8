"""Privacy by design, declared per entity type (setting ``privacy``):

- **pseudonymisation** at write: the values of the declared attributes are replaced by
  a keyed HMAC-SHA256 (``pseudo:<key version>:<hex>``) before anything is stored
  (entity, history, outbox), so the raw identifier never reaches the database; the
  same identifier under the same key gives the same pseudonym (trips of one person
  still link), and nobody without the key can go back or test a guess. Rotating the
  key starts new pseudonyms (old and new no longer link).
- **coarsening** on read for callers without clearance: GeoProperty coordinates
  snapped to a grid of ``location_grid`` degrees, ``observedAt`` truncated to the
  hour or day. Filters on coarsened members (geo-queries, ``q`` on them) are not
  offered to those callers: a filter could otherwise narrow an exact value down.

Pure: the keys are given; the store keeps them (``security_base``).
"""

from __future__ import annotations

import hashlib
import hmac
import math
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

import orjson

PREFIX = "pseudo:"
LOCATION_MEMBERS = ("https://uri.etsi.org/ngsi-ld/location",)


@dataclass(frozen=True)
class PrivacyRule:
    """The declaration of one entity type (expanded IRIs)."""

    type: str
    pseudonymise: tuple[str, ...] = ()
    location_grid: float | None = None
    time_precision: str | None = None  # "hour" | "day"
    geo_attributes: tuple[str, ...] = LOCATION_MEMBERS
    clearance: frozenset[str] = frozenset({"system-admin", "data-admin"})


@dataclass
class Pseudonymiser:
    """HMAC keys by version; the newest makes new pseudonyms."""

    keys: dict[int, bytes] = field(default_factory=dict)

    @property
    def version(self) -> int:
        return max(self.keys) if self.keys else 0

    def pseudonym(self, value: Any) -> Any:
        if isinstance(value, str) and value.startswith(PREFIX):
            return value  # already a pseudonym (an update sending it back)
        if not self.keys:
            raise RuntimeError("no pseudonymisation key")
        raw = value if isinstance(value, str) else orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
        data = raw.encode() if isinstance(raw, str) else raw
        digest = hmac.new(self.keys[self.version], data, hashlib.sha256).hexdigest()[:40]
        return f"{PREFIX}{self.version}:{digest}"


class Privacy:
    def __init__(self, rules: Iterable[PrivacyRule], pseudonymiser: Pseudonymiser) -> None:
        self.rules = {r.type: r for r in rules}
        self.pseudo = pseudonymiser

    def __bool__(self) -> bool:
        return bool(self.rules)

    def rules_of(self, types: Iterable[str]) -> list[PrivacyRule]:
        return [self.rules[t] for t in types if t in self.rules]

    # --- at write ---

    def protect(self, entity: dict[str, Any] | None) -> dict[str, Any] | None:
        """The entity with its declared attributes pseudonymised (a new dict)."""
        if entity is None or not self.rules:
            return entity
        attrs = {a for r in self.rules_of(entity.get("type", [])) for a in r.pseudonymise}
        if not attrs or not attrs.intersection(entity.get("attrs", {})):
            return entity
        new_attrs = dict(entity["attrs"])
        for a in attrs.intersection(new_attrs):
            new_attrs[a] = [self.protect_instance(i) for i in new_attrs[a]]
        return {**entity, "attrs": new_attrs}

    def protect_instance(self, inst: dict[str, Any]) -> dict[str, Any]:
        out = dict(inst)
        for key in ("value", "object"):
            if key in out and out[key] is not None:
                out[key] = self.pseudo.pseudonym(out[key])
        return out

    def pseudonymised(self, types: Iterable[str], attr: str) -> bool:
        return any(attr in r.pseudonymise for r in self.rules_of(types))

    # --- at read ---

    def cleared(self, roles: frozenset[str], types: Iterable[str]) -> bool:
        return all(roles & r.clearance for r in self.rules_of(types)
                   if r.location_grid or r.time_precision)

    def coarsened_attrs(self, types: Iterable[str]) -> set[str]:
        """Members a caller without clearance may not filter on."""
        out: set[str] = set()
        for r in self.rules_of(types):
            if r.location_grid:
                out |= set(r.geo_attributes)
        return out

    def coarsen(self, entity: dict[str, Any]) -> dict[str, Any]:
        rules = [r for r in self.rules_of(entity.get("type", []))
                 if r.location_grid or r.time_precision]
        if not rules:
            return entity
        grid = max((r.location_grid or 0.0) for r in rules) or None
        precision = "day" if any(r.time_precision == "day" for r in rules) else \
            "hour" if any(r.time_precision == "hour" for r in rules) else None
        geo = {a for r in rules for a in r.geo_attributes}
        attrs = {}
        for name, insts in entity.get("attrs", {}).items():
            attrs[name] = [coarsen_instance(i, grid if name in geo else None, precision)
                           for i in insts]
        return {**entity, "attrs": attrs}


def coarsen_instance(inst: dict[str, Any], grid: float | None,
                     precision: str | None) -> dict[str, Any]:
    out = dict(inst)
    if grid and inst.get("type") == "GeoProperty" and isinstance(inst.get("value"), dict):
        out["value"] = snap_geometry(inst["value"], grid)
    if precision and isinstance(inst.get("observedAt"), str):
        out["observedAt"] = truncate_time(inst["observedAt"], precision)
    return out


def snap(x: float, grid: float) -> float:
    """The centre of the grid cell of ``x`` (so the cell, not a corner, is shown)."""
    return round((math.floor(x / grid) + 0.5) * grid, 10)


def snap_geometry(geom: dict[str, Any], grid: float) -> dict[str, Any]:
    def walk(c: Any) -> Any:
        if isinstance(c, list) and c and isinstance(c[0], (int, float)):
            return [snap(float(v), grid) for v in c[:2]] + list(c[2:])
        if isinstance(c, list):
            return [walk(x) for x in c]
        return c
    return {**geom, "coordinates": walk(geom.get("coordinates"))}


def truncate_time(iso: str, precision: str) -> str:
    """``2026-01-01T12:34:56.789Z`` -> ``2026-01-01T12:00:00Z`` (hour) / ``T00:00:00Z``."""
    if len(iso) < 13 or iso[10] != "T":
        return iso
    if precision == "day":
        return iso[:10] + "T00:00:00Z"
    return iso[:13] + ":00:00Z"


def coarse_instance(privacy: Any, types: list[str], inst: Any) -> Any:
    """A history instance as a caller without clearance may see it."""
    rules = [r for r in privacy.rules_of(types) if r.location_grid or r.time_precision]
    if not rules:
        return inst
    grid = max((r.location_grid or 0.0) for r in rules) or None
    geo = {a for r in rules for a in r.geo_attributes}
    precision = "day" if any(r.time_precision == "day" for r in rules) else \
        "hour" if any(r.time_precision == "hour" for r in rules) else None
    step = {"day": 86_400_000, "hour": 3_600_000}.get(precision or "", 0)

    def cut(ms: int | None) -> int | None:
        return ms if ms is None or not step else ms - ms % step

    doc = coarsen_instance(inst.doc, grid if inst.attr in geo else None, precision)
    return replace(inst, doc=doc, t=cut(inst.t), observed_at=cut(inst.observed_at))
