"""The scope query language (ETSI GS CIM 009 clause 4.19): the ``scopeQ`` parameter.

A pattern is a scope path such as ``/Madrid/Gran_Via`` where a level may be ``+``
(exactly one level, any name) and the last level may be ``#`` (this scope and every
scope below it; ``/#`` alone: any scope). Patterns combine with ``,`` or ``|`` (or),
``;`` (and, binding tighter) and parentheses.

Scope levels are spec ``ScopeLevelChar`` runs (Unicode letters, digits, ``_``);
dosi also accepts ``-`` (district names such as ``Jung-gu``). Patterns are
normalised to one leading ``/``.
"""

from __future__ import annotations

import re

from dosi.errors import BadRequestDataError
from dosi.ngsild.query._boolexpr import flatten, parse_bool_expr
from dosi.ngsild.query.ast import ScopeAnd, ScopeExpr, ScopeMatch, ScopeOr

_LEVEL_RE = re.compile(r"^[\w-]+$")


def _pattern(raw: str, text: str) -> ScopeExpr:
    if not raw.startswith("/"):
        raise BadRequestDataError(
            f"invalid scopeQ {text!r}: scope pattern {raw!r} must start with '/'"
        )
    levels = raw[1:].split("/")
    for i, level in enumerate(levels):
        if level == "#":
            if i != len(levels) - 1:
                raise BadRequestDataError(
                    f"invalid scopeQ {text!r}: '#' must be the last level of {raw!r}"
                )
        elif level == "+":
            continue
        elif not level:
            raise BadRequestDataError(f"invalid scopeQ {text!r}: {raw!r} has an empty scope level")
        elif not _LEVEL_RE.match(level):
            raise BadRequestDataError(
                f"invalid scopeQ {text!r}: scope level {level!r} may only contain "
                "letters, digits, '_' and '-' (or be '+' or a final '#')"
            )
    return ScopeMatch("/" + "/".join(levels))


def parse_scope_q(text: str) -> ScopeExpr:
    """Parse a scopeQ such as ``/Madrid/+;(/Seoul/#,/Busan)``."""

    def make_and(items: tuple[ScopeExpr, ...]) -> ScopeExpr:
        return ScopeAnd(flatten(items, ScopeAnd))

    def make_or(items: tuple[ScopeExpr, ...]) -> ScopeExpr:
        return ScopeOr(flatten(items, ScopeOr))

    return parse_bool_expr(text, "scopeQ", lambda raw: _pattern(raw, text), make_and, make_or)


def scope_levels(scope: str) -> tuple[str, ...]:
    """``/a/b`` (or ``a/b``) -> ``("a", "b")``; how patterns and entity scopes compare."""
    return tuple(scope[1:].split("/")) if scope.startswith("/") else tuple(scope.split("/"))


def scope_pattern_matches(pattern: tuple[str, ...], scope: tuple[str, ...]) -> bool:
    """True if the scope (as levels) matches the pattern (as levels).

    ``+`` matches exactly one level; a final ``#`` matches the levels before it
    and anything below them, including nothing (``/a/#`` matches ``/a``).
    """
    if pattern and pattern[-1] == "#":
        head = pattern[:-1]
        if len(scope) < len(head):
            return False
        scope = scope[: len(head)]
        pattern = head
    if len(scope) != len(pattern):
        return False
    return all(p == "+" or p == s for p, s in zip(pattern, scope))
