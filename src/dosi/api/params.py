"""Query parameters of the entity routes -> EntityQuery and RenderOptions."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dosi.errors import BadRequestDataError, InvalidRequestError, TooManyResultsError
from dosi.ngsild.context import NGSILD, ActiveContext
from dosi.ngsild.query.ast import EntityQuery
from dosi.ngsild.query.evaluate import compile_id_pattern
from dosi.ngsild.query.geo import geo_query_from_json, parse_geo_query
from dosi.ngsild.query.q import parse_q
from dosi.ngsild.query.scopeq import parse_scope_q
from dosi.ngsild.query.types import parse_type_expr
from dosi.ngsild.ordering import parse_order_by
from dosi.ngsild.projection import Projection, expand_projection, overlap, parse_projection
from dosi.ngsild.render import RenderOptions
from dosi.ngsild.values import require_uri

FORMATS = ("normalized", "concise", "keyValues", "simplified")
KNOWN_OPTIONS = {"keyValues", "concise", "normalized", "sysAttrs", "simplified", "noOverwrite",
                 "update", "replace"}


_RENDER = {"options", "format", "attrs", "pick", "omit", "lang", "geometryProperty", "local",
           "join", "joinLevel", "containedBy", "datasetId", "expandValues", "csf", "entityMap"}
_QUERY = _RENDER | {"id", "type", "idPattern", "q", "scopeQ", "georel", "geometry", "coordinates",
                    "geoproperty", "limit", "offset", "count", "orderBy", "collation"}
ALLOWED = {
    "query": _QUERY,
    "retrieve": _RENDER,
    "write": {"options", "local"},
    "purge": {"id", "type", "idPattern", "q", "scopeQ", "georel", "geometry", "coordinates",
              "geoproperty", "keep", "drop", "local", "datasetId"},
    "delete_attr": {"datasetId", "deleteAll", "lang", "local"},
    "discovery": {"details", "local"},
    "post_query": {"options", "format", "limit", "offset", "count", "local", "lang"},
    "subscriptions": {"limit", "offset", "count", "local", "options"},
    "subscription": {"options", "local"},
    "stream": {"id", "type", "idPattern", "q", "scopeQ", "georel", "geometry", "coordinates",
               "geoproperty", "attrs", "watchedAttributes", "format", "options", "lang",
               "pick", "omit", "notificationTrigger"},
}


def check_params(params: Mapping[str, str], kind: str) -> None:
    """Unknown query parameters are a 400 InvalidRequest, before anything else."""
    unknown = [k for k in params.keys() if k not in ALLOWED[kind]]
    if unknown:
        raise InvalidRequestError(f"unknown query parameter(s): {', '.join(sorted(unknown))}")


def split_list(raw: str | None) -> list[str]:
    if raw is None:
        return []
    return [x.strip() for x in raw.split(",") if x.strip()]


def options_of(params: Mapping[str, str]) -> set[str]:
    opts = set(split_list(params.get("options")))
    unknown = opts - KNOWN_OPTIONS
    if unknown:
        raise InvalidRequestError(f"unknown options: {', '.join(sorted(unknown))}")
    return opts


_DEFAULT_RENDER = RenderOptions()


def render_options(params: Mapping[str, str], ctx: ActiveContext) -> RenderOptions:
    """How to render, from options/format/pick/omit/attrs/lang/join/... parameters."""
    if not params:
        return _DEFAULT_RENDER
    opts = options_of(params)
    fmt = params.get("format")
    if fmt is not None and fmt not in FORMATS:
        raise InvalidRequestError(f"unknown format {fmt!r}")
    if fmt is None:
        if "keyValues" in opts or "simplified" in opts:
            fmt = "keyValues"
        elif "concise" in opts:
            fmt = "concise"
        else:
            fmt = "normalized"
    if fmt == "simplified":
        fmt = "keyValues"
    if "keyValues" in opts and "concise" in opts:
        raise BadRequestDataError("options keyValues and concise are mutually exclusive")
    pick = _projection(params.get("pick"), "pick")
    omit = _projection(params.get("omit"), "omit")
    attrs = params.get("attrs")
    if pick is not None and omit is not None:
        both = overlap(pick, omit)
        if both:
            raise BadRequestDataError(f"{', '.join(both)} cannot be both picked and omitted")
    if attrs is not None and (pick is not None or omit is not None):
        raise BadRequestDataError("attrs cannot be combined with pick or omit")
    join = params.get("join")
    if join is not None and join not in ("inline", "flat", "@none"):
        raise BadRequestDataError(f"join must be inline, flat or @none, not {join!r}")
    join_level = int_param(params, "joinLevel", 1)
    dataset_ids = split_list(params.get("datasetId")) or None
    if join_level < 1:
        raise BadRequestDataError("joinLevel must be a positive integer")
    gp = params.get("geometryProperty")
    lang = params.get("lang")
    return RenderOptions(
        format=fmt,
        sys_attrs="sysAttrs" in opts,
        lang=lang,
        pick=expand_projection(pick, ctx.expand) if pick is not None else None,
        omit=expand_projection(omit, ctx.expand) if omit is not None else None,
        attrs=frozenset(ctx.expand(a) for a in split_list(attrs)) if attrs else None,
        geometry_property=ctx.expand(gp) if gp else NGSILD + "location",
        join=None if join == "@none" else join,
        join_level=join_level,
        dataset_ids=frozenset(dataset_ids) if dataset_ids else None,
    )


def _projection(raw: str | None, what: str) -> Projection | None:
    if raw is None:
        return None
    return parse_projection(raw, what)


def int_param(params: Mapping[str, str], name: str, default: int) -> int:
    raw = params.get(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise BadRequestDataError(f"{name} must be an integer, got {raw!r}") from None


def paging(params: Mapping[str, str], default_limit: int, max_limit: int) -> tuple[int, int, bool]:
    limit = int_param(params, "limit", default_limit)
    offset = int_param(params, "offset", 0)
    count = params.get("count", "false").lower() == "true"
    if limit < 0 or offset < 0:
        raise BadRequestDataError("limit and offset must not be negative")
    if limit == 0 and not count:
        raise BadRequestDataError("limit=0 is only allowed with count=true")
    if limit > max_limit:
        raise TooManyResultsError(
            f"limit {limit} is above the maximum of {max_limit}", maxLimit=max_limit
        )
    return limit, offset, count


def entity_query(
    params: Mapping[str, str], ctx: ActiveContext, default_limit: int, max_limit: int,
    *, require_filter: bool = True,
) -> EntityQuery:
    """GET /entities parameters (also used by purge and the temporal routes)."""
    q = EntityQuery()
    ids = split_list(params.get("id"))
    if ids:
        q.ids = tuple(require_uri(i, "id") for i in ids)
    if "idPattern" in params:
        q.id_pattern = params["idPattern"]
        compile_id_pattern(q.id_pattern)
    if params.get("type"):
        q.types = parse_type_expr(params["type"], ctx.expand)
    elif "type" in params:
        raise BadRequestDataError("type must not be empty")
    if params.get("attrs"):
        names = split_list(params.get("attrs"))
        core = [a for a in names if a in ("id", "type", "scope", "@id", "@type")]
        if core:
            raise BadRequestDataError(f"attrs names attributes, not {', '.join(core)}")
        q.attrs = tuple(ctx.expand(a) for a in names)
    elif "attrs" in params:
        raise BadRequestDataError("attrs must not be empty")
    if params.get("q"):
        expand_values = [ctx.expand(a) for a in split_list(params.get("expandValues"))]
        q.q = parse_q(params["q"], ctx.expand, expand_values)
    if params.get("scopeQ"):
        q.scope_q = parse_scope_q(params["scopeQ"])
    if any(k in params for k in ("georel", "geometry", "coordinates")):
        q.geo_q = parse_geo_query(
            params.get("georel"), params.get("geometry"), params.get("coordinates"),
            params.get("geoproperty"), ctx.expand,
        )
    q.limit, q.offset, q.count = paging(params, default_limit, max_limit)
    if params.get("orderBy"):
        q.extra["order_by"] = parse_order_by(params["orderBy"], ctx.expand)
    if params.get("local", "").lower() == "true":
        require_filter = False
    if "id" in params and not ids:
        raise BadRequestDataError("id must not be empty")
    if require_filter and not (q.types or q.attrs or q.q or q.geo_q or q.scope_q):
        raise BadRequestDataError(
            "a query needs at least one of type, attrs, q, geoQ, scopeQ or local=true"
        )
    return q


def query_from_body(
    body: Any, ctx: ActiveContext, params: Mapping[str, str], default_limit: int, max_limit: int
) -> tuple[EntityQuery, dict[str, str]]:
    """POST /entityOperations/query: a Query object; returns the query and render params."""
    if not isinstance(body, dict):
        raise BadRequestDataError("the query must be a JSON object")
    if body.get("type") != "Query":
        raise BadRequestDataError("the query object must have type Query")
    q = EntityQuery()
    render_params: dict[str, str] = dict(params)
    ents = body.get("entities")
    if ents is not None:
        if not isinstance(ents, list):
            raise BadRequestDataError("entities must be an array")
        ids, types = [], []
        for sel in ents:
            if not isinstance(sel, dict):
                raise BadRequestDataError("entity selectors must be objects")
            if "id" in sel:
                ids.append(require_uri(sel["id"], "id"))
            if "idPattern" in sel:
                q.id_pattern = sel["idPattern"]
                compile_id_pattern(sel["idPattern"])
            if "type" in sel:
                types.append(sel["type"])
        if ids:
            q.ids = tuple(ids)
        if types:
            q.types = parse_type_expr(",".join(f"({t})" for t in types), ctx.expand)
    attrs = body.get("attrs")
    if attrs is not None:
        if not isinstance(attrs, list) or not all(isinstance(a, str) for a in attrs):
            raise BadRequestDataError("attrs must be an array of names")
        q.attrs = tuple(ctx.expand(a) for a in attrs)
        render_params["attrs"] = ",".join(attrs)
    if body.get("q"):
        q.q = parse_q(_str(body["q"], "q"), ctx.expand)
    if body.get("scopeQ"):
        q.scope_q = parse_scope_q(_str(body["scopeQ"], "scopeQ"))
    if body.get("geoQ"):
        q.geo_q = geo_query_from_json(body["geoQ"], ctx.expand)
    for key in ("lang", "pick", "omit", "join", "joinLevel", "geometryProperty"):
        if key in body:
            val = body[key]
            render_params[key] = ",".join(val) if isinstance(val, list) else str(val)
    q.limit, q.offset, q.count = paging(params, default_limit, max_limit)
    return q, render_params


def _str(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise InvalidRequestError(f"{what} must be a string")
    return value


def any_param(params: Mapping[str, str], *names: str) -> dict[str, Any]:
    return {n: params[n] for n in names if n in params}
