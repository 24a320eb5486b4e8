"""Shared SQL: the query compiler from ``EntityQuery`` to a WHERE clause, with dialect
hooks for what SQLite and PostgreSQL spell differently (GET /entities,
POST /entityOperations/query, DELETE /entities, GET /types, GET /attributes).

Layout (both backends, every table keyed by tenant; DDL in ``dosi.storage.schema``):

- ``entity(rid, tenant, id, created_at, modified_at, doc)``: the whole entity as one
  JSON document, unique (tenant, id), and an index on (tenant, created_at, id) that
  serves the one ordering of every query.
- types: SQLite ``entity_type(tenant, type, rid)``; PostgreSQL a ``types text[]``
  column with a GIN index (``@>`` / ``&&``).
- ``entity_attr(tenant, attr, rid, kinds, n, num, txt, flags)``: one row per attribute
  of an entity (``dosi.storage.rows`` decides its content). Primary key
  (tenant, attr, rid): ``attrs=``, ``q=attr``, ``q=!attr`` and discovery. It is also
  the key-value table for q: an expression index per attribute is impossible
  (attribute names are open-ended and come from users) and a GIN index on the JSON
  document answers containment (``==``) but not ranges, whereas the attribute's value
  as a number or a short string, indexed by (tenant, attr, num) and (tenant, attr,
  txt), turns ``==``, ``!=``, ``<``, ``>``, ranges, value lists and (SQLite, and
  PostgreSQL for portable patterns) ``~=`` into index range scans on either backend.
  When some entity of the tenant holds the attribute in a shape SQL cannot compare
  (``flags``), comparisons on it become a prefilter (attribute exists) and the
  evaluator decides: a cheap probe per query (two index seeks per attribute) tells.
- ``entity_scope(tenant, scope, rid)``: scopeQ as equality and prefix ranges.
- geometries: SQLite ``entity_geo`` + an R*Tree of bounding boxes (a prefilter, the
  exact test is the evaluator's shapely check); PostgreSQL ``entity_geo`` with a PostGIS
  geometry (SRID 4326), GiST on it and on its geography cast: exact ST_ predicates,
  ``near`` in metres on the geography.

Every side-table condition compiles to a ``Sub`` (a ``SELECT rid ...``), rendered either
as ``e.rid IN (sub)`` (materialise the matches: best when they are few) or as a
correlated ``EXISTS`` (probe per entity while walking the (createdAt, id) index: best
for a page of a broad filter). PostgreSQL's planner gets the IN form and chooses
itself; SQLite's planner cannot see that trade-off, so its store measures the
candidates (``Filter.drivers``) and picks (``dosi.storage.sqlite``).

Whatever a dialect cannot express exactly compiles to a superset and clears
``Filter.exact``; the store then streams the candidates in order through the evaluator
so that limit, offset and count stay right (``dosi.storage.paging``). Statements run
as written on both backends live in ``dosi.storage.statements``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import orjson

from dosi.errors import BadRequestDataError
from dosi.ngsild.query.ast import (
    ANY_TYPE,
    AttrPath,
    Comparison,
    EntityQuery,
    GeoQuery,
    Or,
    QExpr,
    Range,
    ScopeAnd,
    ScopeExpr,
    ScopeMatch,
    TypeAnd,
    TypeExpr,
    TypeName,
)
from dosi.storage.rows import bbox

NGSILD = "https://uri.etsi.org/ngsi-ld/"
# q paths on these are entity members, not attributes: left to the evaluator
CORE_MEMBERS = frozenset(
    [NGSILD + n for n in ("id", "type", "scope", "createdAt", "modifiedAt", "deletedAt")]
    + ["id", "type", "scope", "createdAt", "modifiedAt", "deletedAt", "@id", "@type"]
)
_ORDER_OPS = {"==": "=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
_TEMPORAL = re.compile(r"^(\d{4}-\d{2}-\d{2}|\d{2}:\d{2})")
_REGEX_META = set(".^$*+?{}[]()|\\")
ORDER_BY = "ORDER BY e.created_at, e.id"

# --- the compiled form ---


@dataclass
class Raw:
    """A condition on the entity row itself."""

    sql: str
    params: list[Any] = field(default_factory=list)


@dataclass
class Sub:
    """``e.rid [NOT] IN (SELECT <rid_col> FROM <source>)``: a side-table lookup;
    ``source`` is ``<tables> WHERE <conditions>`` so a correlation can be appended."""

    source: str
    params: list[Any] = field(default_factory=list)
    rid_col: str = "rid"
    negated: bool = False

    @property
    def select(self) -> str:
        return f"SELECT {self.rid_col} FROM {self.source}"


@dataclass
class Bool:
    op: str  # "AND" / "OR"
    items: list[Node]


Node = Raw | Sub | Bool


@dataclass
class Filter:
    """A compiled query: ``nodes`` ANDed over ``entity e``; ``exact`` is False when it
    only narrows the candidates and the evaluator must finish."""

    nodes: list[Node]
    dialect: Dialect
    exact: bool = True

    def render(
        self,
        *,
        correlated: bool = False,
        driver: Sub | None = None,
        outer: str = "e.rid",
        skip: tuple[Node, ...] = (),
    ) -> tuple[str, list[Any]]:
        """WHERE clause and parameters: every Sub as ``IN``, or (``correlated``) as
        ``EXISTS`` except ``driver``, the one the scan starts from. ``outer`` is the
        row id the Subs test; ``skip``: top-level nodes left out."""
        params: list[Any] = []

        def one(node: Node) -> str:
            if isinstance(node, Raw):
                params.extend(node.params)
                return node.sql
            if isinstance(node, Sub):
                params.extend(node.params)
                neg = "NOT " if node.negated else ""
                if correlated and node is not driver:
                    return f"{neg}EXISTS ({node.select} AND {node.rid_col} = {outer})"
                return f"{outer} {neg}IN ({node.select})"
            return "(" + f" {node.op} ".join(one(i) for i in node.items) + ")"

        where = " AND ".join(one(n) for n in self.nodes if not any(n is s for s in skip)) or "1 = 1"
        return self.dialect.sql(where), params

    def count_sql(self, driver: Sub | None, *, correlated: bool = True) -> tuple[str, list[Any]]:
        """``SELECT count(*)`` of the matches. When every condition but the tenant's is
        a side-table lookup, it counts ``driver``'s distinct row ids (an index range)
        filtered by the others, without touching entity rows."""
        if driver is not None and self.side_only():
            where, rest = self.render(
                correlated=correlated, outer="d.rid", skip=(self.nodes[0], driver)
            )
            source = self.dialect.sql(driver.source)
            sql = f"SELECT count(*) FROM (SELECT DISTINCT {driver.rid_col} AS rid FROM {source}) d"
            return f"{sql} WHERE {where}", [*driver.params, *rest]
        where, params = self.render(correlated=correlated, driver=driver)
        return f"SELECT count(*) FROM entity e WHERE {where}", params

    def side_only(self) -> bool:
        """Whether every condition but the tenant's is a side-table lookup: then a count
        needs no entity row (side rows carry the tenant)."""

        def subs(node: Node) -> bool:
            return isinstance(node, Sub) or (
                isinstance(node, Bool) and all(subs(i) for i in node.items)
            )

        return all(subs(n) for n in self.nodes[1:])

    @property
    def where(self) -> str:
        return self.render()[0]

    @property
    def params(self) -> list[Any]:
        return self.render()[1]

    def drivers(self) -> list[Sub]:
        """Top-level positive Subs: each alone bounds the matches."""
        return [n for n in self.nodes if isinstance(n, Sub) and not n.negated]


# --- dialects ---


class Dialect:
    """The SQL both backends share is written with ``?`` placeholders; hooks give the
    pieces that differ. SQLite is the base; ``PgDialect`` overrides."""

    name = "sqlite"
    # (tenant, type, rid) rows, for discovery joins
    type_rows = "entity_type"

    def sql(self, text: str) -> str:
        """Placeholders in this dialect's style."""
        return text

    def in_list(self, col: str, values: list[Any], params: list[Any]) -> str:
        if len(values) > 200:  # one JSON parameter: SQLite caps bound variables
            params.append(orjson.dumps(values).decode())
            return f"{col} IN (SELECT value FROM json_each(?))"
        params.extend(values)
        return f"{col} IN ({','.join('?' * len(values))})"

    def regex(
        self,
        col: str,
        pattern: str,
        params: list[Any],
        *,
        full: bool = False,
        trusted: bool = False,
    ) -> str | None:
        """``col`` matches ``pattern`` (Python ``re.search``, or ``re.fullmatch`` if
        ``full``), or None when this dialect cannot test it exactly; ``trusted``: a
        pattern the compiler built itself."""
        params.append(pattern)
        return f"dosi_fullmatch(?, {col})" if full else f"{col} REGEXP ?"

    def has_types(self, tenant: str, iris: list[str], every: bool) -> Node:
        if every and len(iris) > 1:
            return Bool("AND", [self.has_types(tenant, [i], False) for i in iris])
        params: list[Any] = [tenant]
        cond = self.in_list("type", iris, params)
        return Sub(f"entity_type WHERE tenant = ? AND {cond}", params)

    def geo(self, tenant: str, g: GeoQuery) -> tuple[Node, bool]:
        """SQLite: an R*Tree bounding-box prefilter (never exact)."""
        params: list[Any] = [tenant, g.geoproperty]
        box = _query_box(g)
        if box is None:
            return Sub("entity_geo g WHERE g.tenant = ? AND g.attr = ?", params, "g.rid"), False
        eps = 1e-4  # R*Tree boxes are float32, rounded outwards
        minx, miny, maxx, maxy = box
        if g.georel == "within":
            cond = "r.minx >= ? AND r.maxx <= ? AND r.miny >= ? AND r.maxy <= ?"
            params.extend((minx - eps, maxx + eps, miny - eps, maxy + eps))
        elif g.georel == "contains":
            cond = "r.minx <= ? AND r.maxx >= ? AND r.miny <= ? AND r.maxy >= ?"
            params.extend((minx + eps, maxx - eps, miny + eps, maxy - eps))
        else:
            cond = "r.maxx >= ? AND r.minx <= ? AND r.maxy >= ? AND r.miny <= ?"
            params.extend((minx - eps, maxx + eps, miny - eps, maxy + eps))
        return Sub(
            "entity_geo g JOIN geo_rtree r ON r.id = g.gid "
            f"WHERE g.tenant = ? AND g.attr = ? AND {cond}",
            params,
            "g.rid",
        ), False


class PgDialect(Dialect):
    name = "postgres"
    type_rows = "(SELECT e.tenant, t AS type, e.rid FROM entity e, unnest(e.types) t)"
    # Python re and PostgreSQL AREs agree on this subset (no flags, groups with (?,
    # back-references, \b, {...}): other patterns are left to the evaluator
    _SAFE = re.compile(r"^(?:[^\\(\[{]|\\[dDwWsS.^$*+?()\[\]{}|\\/:-]|\((?!\?)|\[(?![:=.]))*$")

    def sql(self, text: str) -> str:
        return text.replace("?", "%s")

    def in_list(self, col: str, values: list[Any], params: list[Any]) -> str:
        params.append(list(values))
        return f"{col} = ANY(?)"

    def regex(
        self,
        col: str,
        pattern: str,
        params: list[Any],
        *,
        full: bool = False,
        trusted: bool = False,
    ) -> str | None:
        if not trusted and not self._SAFE.match(pattern):
            return None
        params.append(f"^(?:{pattern})$" if full else pattern)
        return f"{col} ~ ?"

    def has_types(self, tenant: str, iris: list[str], every: bool) -> Node:
        op = "@>" if every or len(iris) == 1 else "&&"
        return Raw(f"e.types {op} ?::text[]", [list(iris)])

    def geo(self, tenant: str, g: GeoQuery) -> tuple[Node, bool]:
        """PostgreSQL: exact PostGIS predicates; distances in metres on geography."""
        params: list[Any] = [tenant, g.geoproperty]
        q = "ST_SetSRID(ST_GeomFromGeoJSON(?), 4326)"
        gj = orjson.dumps(g.geometry).decode()
        conds: list[str] = []
        if g.georel == "near":
            if g.max_distance is not None:
                conds.append(f"ST_DWithin(g.geom::geography, {q}::geography, ?)")
                params.extend((gj, float(g.max_distance)))
            if g.min_distance is not None:
                conds.append(f"NOT ST_DWithin(g.geom::geography, {q}::geography, ?)")
                params.extend((gj, float(g.min_distance)))
        elif g.georel in _PG_GEOREL:
            conds.append(f"{_PG_GEOREL[g.georel]}(g.geom, {q})")
            params.append(gj)
        exact = bool(conds)
        where = "".join(f" AND {c}" for c in conds)
        return Sub(f"entity_geo g WHERE g.tenant = ? AND g.attr = ?{where}", params, "g.rid"), exact


_PG_GEOREL = {
    "within": "ST_Within",
    "contains": "ST_Contains",
    "intersects": "ST_Intersects",
    "disjoint": "ST_Disjoint",
    "overlaps": "ST_Overlaps",
    "equals": "ST_Equals",
}


def _query_box(g: GeoQuery) -> tuple[float, float, float, float] | None:
    """Bounding box every match must touch (None: no useful box, e.g. disjoint)."""
    box = bbox(g.geometry)
    if box is None or g.georel == "disjoint":
        return None
    if g.georel != "near":
        return box
    if g.max_distance is None:
        return None
    d = float(g.max_distance) * 1.05 + 1.0  # margin over any sane distance formula
    dlat = d / 110_000.0
    minx, miny, maxx, maxy = box
    lat = min(max(abs(miny), abs(maxy)) + dlat, 90.0)
    cos = math.cos(math.radians(lat))
    if lat >= 89.0 or cos < 1e-6:
        return (-180.0, max(miny - dlat, -90.0), 180.0, min(maxy + dlat, 90.0))
    dlon = d / (111_000.0 * cos)
    if minx - dlon < -180.0 or maxx + dlon > 180.0:
        minx, maxx = -180.0 + dlon, 180.0 - dlon
    return (minx - dlon, max(miny - dlat, -90.0), maxx + dlon, min(maxy + dlat, 90.0))


def id_prefix(pattern: str) -> str:
    """The literal text every id fully matching ``pattern`` starts with ('' if none)."""
    if "|" in pattern:
        return ""
    out: list[str] = []
    i = 1 if pattern.startswith("^") else 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            if i + 1 >= len(pattern) or pattern[i + 1].isalnum():
                break  # \d, \w, \1...
            c, step = pattern[i + 1], 2
        elif c in _REGEX_META:
            break
        else:
            step = 1
        nxt = pattern[i + step] if i + step < len(pattern) else ""
        if nxt in ("*", "?", "{"):
            break  # this character may be absent
        out.append(c)
        if nxt == "+":
            break
        i += step
    return "".join(out)


# --- the compiler ---


@dataclass(frozen=True)
class AttrFacts:
    """What the tenant's data says about the attributes q compares (from
    ``statements.probe``): ``opaque``: some entity holds a value only the evaluator can
    compare; ``relational``: some entity holds it as a Relationship (ordering operators
    and ``~=`` never match relationships, so those are not pushed down)."""

    opaque: frozenset[str] = frozenset()
    relational: frozenset[str] = frozenset()


def comparison_attrs(q: QExpr | None) -> set[str]:
    """Attributes of value comparisons in q: the store asks for their ``AttrFacts``."""
    if q is None:
        return set()
    if isinstance(q, Comparison):
        if q.op in (None, "!") or q.path.attr in CORE_MEMBERS:
            return set()
        return {q.path.attr}
    return set().union(*(comparison_attrs(i) for i in q.items))


def compile_query(
    query: EntityQuery, tenant: str, dialect: Dialect, facts: AttrFacts = AttrFacts()
) -> Filter:
    """The filter for ``query`` in ``tenant`` (limit, offset and count aside)."""
    return _Compiler(dialect, tenant, facts).run(query)


class _Compiler:
    def __init__(self, dialect: Dialect, tenant: str, facts: AttrFacts):
        self.d = dialect
        self.tenant = tenant
        self.facts = facts
        self.exact = True

    def run(self, query: EntityQuery) -> Filter:
        nodes: list[Node | None] = [Raw("e.tenant = ?", [self.tenant])]
        if query.ids:  # an id list takes precedence over idPattern (as in the evaluator)
            params: list[Any] = []
            nodes.append(
                Raw(self.d.in_list("e.id", list(dict.fromkeys(query.ids)), params), params)
            )
        elif query.id_pattern is not None:
            nodes.extend(self.id_pattern(query.id_pattern))
        if query.types is not None:
            nodes.append(self.types(query.types))
        if query.attrs:
            params = [self.tenant]
            cond = self.d.in_list("attr", list(dict.fromkeys(query.attrs)), params)
            nodes.append(Sub(f"entity_attr WHERE tenant = ? AND {cond}", params))
        if query.q is not None:
            nodes.append(self.q(query.q))
        if query.scope_q is not None:
            nodes.append(self.scope(query.scope_q))
        if query.geo_q is not None:
            node, exact = self.d.geo(self.tenant, query.geo_q)
            self.exact &= exact
            nodes.append(node)
        kept: list[Node] = []
        for n in nodes:  # flatten top-level ANDs: each part may drive the scan
            if isinstance(n, Bool) and n.op == "AND":
                kept.extend(n.items)
            elif n is not None:
                kept.append(n)
        return Filter(kept, self.d, self.exact)

    def inexact(self) -> None:
        self.exact = False

    def id_pattern(self, pattern: str) -> list[Node | None]:
        try:
            re.compile(pattern)
        except (re.error, OverflowError, RecursionError) as exc:
            raise BadRequestDataError(f"invalid idPattern {pattern!r}: {exc}") from None
        out: list[Node | None] = []
        prefix = id_prefix(pattern)
        if prefix:  # an index range on (tenant, id)
            nxt = ord(prefix[-1]) + 1
            nxt = 0xE000 if 0xD800 <= nxt < 0xE000 else nxt  # no surrogates in UTF-8
            upper = prefix[:-1] + chr(nxt) if nxt <= 0x10FFFF else None
            out.append(
                Raw("e.id >= ? AND e.id < ?", [prefix, upper])
                if upper
                else Raw("e.id >= ?", [prefix])
            )
        params: list[Any] = []
        rx = self.d.regex("e.id", pattern, params, full=True)
        if rx is None:
            self.inexact()
        else:
            out.append(Raw(rx, params))
        return out

    # --- types ---

    def types(self, t: TypeExpr) -> Node | None:
        """A type expression; None: every entity (``*``)."""
        if isinstance(t, TypeName):
            return None if t.iri == ANY_TYPE else self.d.has_types(self.tenant, [t.iri], False)
        every = isinstance(t, TypeAnd)
        items = [i for i in t.items if not (isinstance(i, TypeName) and i.iri == ANY_TYPE)]
        if len(items) < len(t.items) and not every:
            return None  # '*' in an or
        if not items:
            return None
        if all(isinstance(i, TypeName) for i in items):
            return self.d.has_types(self.tenant, [i.iri for i in items], every)  # type: ignore[union-attr]
        parts = [self.types(i) for i in items]
        if not every and any(p is None for p in parts):
            return None
        kept = [p for p in parts if p is not None]
        return Bool("AND" if every else "OR", kept) if kept else None

    # --- q ---

    def q(self, q: QExpr) -> Node | None:
        """q as a node; None means 'no constraint' (always a superset)."""
        if isinstance(q, Comparison):
            return self.comparison(q)
        parts = [self.q(i) for i in q.items]
        if isinstance(q, Or):
            return None if any(p is None for p in parts) else Bool("OR", parts)  # type: ignore[arg-type]
        kept = [p for p in parts if p is not None]
        return Bool("AND", kept) if kept else None

    def _attr(
        self, attr: str, cond: str = "", params: list[Any] | None = None, negated: bool = False
    ) -> Sub:
        where = f" AND {cond}" if cond else ""
        return Sub(
            f"entity_attr WHERE tenant = ? AND attr = ?{where}",
            [self.tenant, attr, *(params or [])],
            negated=negated,
        )

    def comparison(self, c: Comparison) -> Node | None:
        """One q term, following ``dosi.ngsild.query.qcompile``: exact for attributes
        holding one plain scalar per entity, else a superset (attribute exists)."""
        path: AttrPath = c.path
        if path.attr in CORE_MEMBERS:
            self.inexact()
            return None
        simple = not path.sub and not path.keys
        if c.op == "!":  # q=!attr: the attribute does not exist
            if not simple:
                self.inexact()
                return None
            return self._attr(path.attr, negated=True)
        if c.op is None:
            if not simple:
                self.inexact()
            return self._attr(path.attr)
        cond = self.value_cond(c.op, c.value, path.attr) if simple else None
        if cond is None:
            self.inexact()  # prefilter: every operator needs the attribute
            return self._attr(path.attr)
        if c.op in ("!=", "!~="):  # exists, and no value matches the positive form
            return Bool(
                "AND",
                [self._attr(path.attr), self._attr(path.attr, cond[0], cond[1], negated=True)],
            )
        return self._attr(path.attr, cond[0], cond[1])

    def value_cond(self, op: str, value: Any, attr: str) -> tuple[str, list[Any]] | None:
        """A condition on entity_attr's num/txt for the positive form of ``op value``,
        or None. Each names ``col IS NOT NULL`` so that the partial indexes apply."""
        if attr in self.facts.opaque:
            return None
        op = {"!=": "==", "!~=": "~="}.get(op, op)
        rel = attr in self.facts.relational
        if op == "~=":
            params: list[Any] = []
            rx = None if rel or not isinstance(value, str) else self.d.regex("txt", value, params)
            return (f"txt IS NOT NULL AND {rx}", params) if rx is not None else None
        if op != "==" and rel:
            return None  # relationships only take == and !=
        if isinstance(value, Range):
            lo, hi = _scalar(value.low), _scalar(value.high)
            if op != "==" or lo is None or hi is None or lo[0] != hi[0]:
                return None
            return f"{lo[0]} IS NOT NULL AND {lo[0]} BETWEEN ? AND ?", [lo[1], hi[1]]
        if isinstance(value, (tuple, list)):
            scalars = [_scalar(v) for v in value]
            if op != "==" or not value or any(s is None for s in scalars):
                return None
            conds: list[str] = []
            params = []
            for col in ("num", "txt"):
                vals = [s[1] for s in scalars if s is not None and s[0] == col]
                if vals:
                    conds.append(f"({col} IS NOT NULL AND {self.d.in_list(col, vals, params)})")
            return "(" + " OR ".join(conds) + ")", params
        s = _scalar(value)
        if s is None or op not in _ORDER_OPS:
            return None
        return f"{s[0]} IS NOT NULL AND {s[0]} {_ORDER_OPS[op]} ?", [s[1]]

    # --- scopeQ ---

    def scope(self, s: ScopeExpr) -> Node:
        if isinstance(s, ScopeMatch):
            cond, params = self.scope_match(s.pattern)
            return Sub(f"entity_scope WHERE tenant = ? AND {cond}", [self.tenant, *params])
        return Bool("AND" if isinstance(s, ScopeAnd) else "OR", [self.scope(i) for i in s.items])

    def scope_match(self, pattern: str) -> tuple[str, list[Any]]:
        """Exact scope, or a prefix range (and a regex for ``+``); '/' < '0'."""
        segs = pattern.strip("/").split("/") if pattern.strip("/") else []
        wild = [i for i, seg in enumerate(segs) if seg in ("+", "#")]
        if not wild:
            return "scope = ?", [pattern]
        literal = "/" + "/".join(segs[: wild[0]])
        lo = literal if literal.endswith("/") else literal + "/"
        hi = lo[:-1] + "0"
        if segs[-1] == "#" and wild == [len(segs) - 1]:
            if literal == "/":
                return "scope >= ?", ["/"]
            return "(scope = ? OR (scope >= ? AND scope < ?))", [literal, lo, hi]
        rx = (
            "^"
            + "".join(
                "/[^/]*" if seg == "+" else "(/.*)?" if seg == "#" else "/" + re.escape(seg)
                for seg in segs
            )
            + "$"
        )
        params: list[Any] = [lo, hi]
        cond = self.d.regex("scope", rx, params, trusted=True)
        return f"scope >= ? AND scope < ? AND {cond}", params


def _scalar(v: Any) -> tuple[str, Any] | None:
    """('num', float) or ('txt', str) for literals compared exactly in SQL."""
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        return ("num", float(v))
    if isinstance(v, str) and not _TEMPORAL.match(v):
        return ("txt", v)
    return None
