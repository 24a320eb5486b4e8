"""Entity type selection (ETSI GS CIM 009 clause 4.17): the ``type`` query parameter.

``A,B`` and ``A|B`` select entities of type A or B, ``A;B`` entities that have both
types, parentheses group, ``;`` binds tighter than ``,``/``|``. Names are expanded
with the request's @context. ``*`` alone (or as a term) selects every type.
Syntax errors are ``BadRequestData`` (clause 5.7.2.4: a query that is not
syntactically valid); oversized expressions are ``InvalidRequest``.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from dosi.errors import BadRequestDataError
from dosi.ngsild.query._boolexpr import flatten, parse_bool_expr
from dosi.ngsild.query.ast import ANY_TYPE, TypeAnd, TypeExpr, TypeName, TypeOr

# A type is a term (``Vehicle``), a compact IRI (``ex:Vehicle``) or an absolute IRI.
# These characters can be neither: they would only come from a malformed request.
_BAD_CHARS = re.compile(r'["<>{}\[\]\\^`\x00-\x1f\x7f]')


def parse_type_expr(text: str, expand: Callable[[str], str]) -> TypeExpr:
    """Parse a type selection such as ``(Building;Parking),TouristDestination``."""

    def atom(name: str) -> TypeExpr:
        if name == ANY_TYPE:
            return TypeName(ANY_TYPE)
        bad = _BAD_CHARS.search(name)
        if bad is not None:
            raise BadRequestDataError(
                f"invalid type {name!r} in {text!r}: character {bad.group()!r} is not allowed"
            )
        return TypeName(expand(name))

    def make_and(items: tuple[TypeExpr, ...]) -> TypeExpr:
        return TypeAnd(flatten(items, TypeAnd))

    def make_or(items: tuple[TypeExpr, ...]) -> TypeExpr:
        return TypeOr(flatten(items, TypeOr))

    return parse_bool_expr(text, "type selection", atom, make_and, make_or)


def type_names(expr: TypeExpr) -> set[str]:
    """Every IRI named in the expression (for indexes and registrations)."""
    if isinstance(expr, TypeName):
        return {expr.iri}
    out: set[str] = set()
    for item in expr.items:
        out |= type_names(item)
    return out
