"""ASTs of the NGSI-LD query languages, with names already expanded to IRIs.

Parsers in this package produce these; ``evaluate`` runs them on internal entities
(docs/design/internals.md) and stores compile them to SQL.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Union

# --- entity type expressions: ``A,B`` / ``A|B`` (or), ``A;B`` (and), parentheses ---


ANY_TYPE = "*"
"""``type=*``: every entity type (``TypeName(ANY_TYPE)``; clause 6.4.3.2 allows ``*``)."""


@dataclass(frozen=True)
class TypeName:
    """One expanded type IRI, or ``ANY_TYPE`` (``*``) which every entity matches."""

    iri: str


@dataclass(frozen=True)
class TypeAnd:
    items: tuple["TypeExpr", ...]


@dataclass(frozen=True)
class TypeOr:
    items: tuple["TypeExpr", ...]


TypeExpr = Union[TypeName, TypeAnd, TypeOr]

# --- q ---


@dataclass(frozen=True)
class AttrPath:
    """``attr``, ``attr.sub.subsub``, ``attr[key][key2]``, ``attr.observedAt``...

    ``attr`` is the expanded attribute IRI; ``sub`` the expanded sub-attribute IRIs
    (or a core member name such as ``observedAt``, ``unitCode``, ``createdAt``,
    ``modifiedAt``, ``datasetId`` as the last element); ``keys`` the trail into the
    JSON value given with brackets (not expanded).
    """

    attr: str
    sub: tuple[str, ...] = ()
    keys: tuple[str, ...] = ()


@dataclass(frozen=True)
class Range:
    low: Any
    high: Any


@dataclass(frozen=True)
class Comparison:
    """``path op value``; ``op`` is None for the bare existence test ``q=attr``
    and ``"!"`` for the non-existence test ``q=!attr``.

    ``value`` is a JSON scalar (str for quoted strings and for datetimes/URIs,
    int/float, bool), a ``Range``, or a tuple of scalars (value list ``a,b,c``).
    For ``~=`` and ``!~=`` it is the regular expression string. With the
    ``expandValues`` parameter, string values are already expanded IRIs.
    A path whose ``attr`` is the core ``createdAt``/``modifiedAt`` IRI (no ``sub``)
    targets the entity's own system timestamps.
    """

    path: AttrPath
    op: str | None = None
    value: Any = None


@dataclass(frozen=True)
class And:
    items: tuple["QExpr", ...]


@dataclass(frozen=True)
class Or:
    items: tuple["QExpr", ...]


QExpr = Union[Comparison, And, Or]

# --- scopeQ: ``/a/b``, ``/a/+``, ``/a/#``, ``/#``, with ``,`` ``|`` (or) ``;`` (and) ---


@dataclass(frozen=True)
class ScopeMatch:
    pattern: str


@dataclass(frozen=True)
class ScopeAnd:
    items: tuple["ScopeExpr", ...]


@dataclass(frozen=True)
class ScopeOr:
    items: tuple["ScopeExpr", ...]


ScopeExpr = Union[ScopeMatch, ScopeAnd, ScopeOr]

# --- geoQ ---


@dataclass(frozen=True)
class GeoQuery:
    """A geo-query: ``georel`` one of near, within, contains, intersects, disjoint,
    overlaps, equals; ``geometry`` a validated GeoJSON geometry dict (WGS84);
    ``geoproperty`` the expanded IRI of the GeoProperty tested (default: location)."""

    georel: str
    geometry: dict[str, Any]
    geoproperty: str = "https://uri.etsi.org/ngsi-ld/location"
    max_distance: float | None = None  # metres, for near
    min_distance: float | None = None  # metres, for near


# --- the whole entity query ---


@dataclass
class EntityQuery:
    """What ``GET /entities`` and ``POST /entityOperations/query`` ask of a store."""

    ids: tuple[str, ...] | None = None
    id_pattern: str | None = None
    types: TypeExpr | None = None
    attrs: tuple[str, ...] | None = None  # entity must have at least one of these
    q: QExpr | None = None
    scope_q: ScopeExpr | None = None
    geo_q: GeoQuery | None = None
    limit: int = 20
    offset: int = 0
    count: bool = False
    extra: dict[str, Any] = field(default_factory=dict)
