"""The NGSI-LD query languages, pure and I/O free: parse once, evaluate many times.

Parsers turn request text into the ASTs of ``ast`` with names expanded to IRIs;
``matches`` evaluates an ``EntityQuery`` on one internal entity and is the reference
every store must reproduce (docs/design/internals.md).
"""

from dosi.ngsild.query.evaluate import (
    compile_id_pattern,
    matches,
    matches_geo,
    matches_ids,
    matches_q,
    matches_scope,
    matches_types,
)
from dosi.ngsild.query.geo import (
    geo_query_from_json,
    parse_geo_query,
    parse_georel,
    validate_geometry,
)
from dosi.ngsild.query.geopredicates import distance_m, haversine_m
from dosi.ngsild.query.q import MAX_Q_DEPTH, MAX_Q_LENGTH, attr_names, parse_q
from dosi.ngsild.query.scopeq import parse_scope_q
from dosi.ngsild.query.types import parse_type_expr, type_names

__all__ = [
    "MAX_Q_DEPTH",
    "MAX_Q_LENGTH",
    "attr_names",
    "compile_id_pattern",
    "distance_m",
    "geo_query_from_json",
    "haversine_m",
    "matches",
    "matches_geo",
    "matches_ids",
    "matches_q",
    "matches_scope",
    "matches_types",
    "parse_geo_query",
    "parse_georel",
    "parse_q",
    "parse_scope_q",
    "parse_type_expr",
    "type_names",
    "validate_geometry",
]
