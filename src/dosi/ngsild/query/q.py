"""The NGSI-LD query language (ETSI GS CIM 009 clause 4.9): the ``q`` parameter.

Grammar (``;`` binds tighter than ``|``; whitespace between tokens is ignored)::

    query  = and *("|" and)          and  = term *(";" term)
    term   = "(" query ")" / "!" path / path [op value]
    path   = name *("." name) *("[" key *("." key) "]")
    op     = "==" / "!=" / ">=" / ">" / "<=" / "<" / "~=" / "!~="
    value  = item / item ".." item / item 1*("," item)      (ranges, lists: == and != only)
    item   = quoted string / number / true / false / DateTime / Date / Time / URI / word

After ``~=``/``!~=`` comes a regular expression, quoted or bare (a bare one runs to the
next ``;`` or ``|`` outside parentheses and brackets). Bare words that are not URIs are
accepted as strings (``category==commercial``, as the ETSI examples do). Names are
expanded; a final ``observedAt``/``unitCode``/``createdAt``/``modifiedAt``/``datasetId``
stays a core name; bracket keys are never expanded (``[*]``: any member/language).
Linked-entity queries (``rel{attr}``) need Linked Entity retrieval (join), which dosi
does not provide, so they are rejected as clause 5.7.2.4 requires without ``join``.
Syntax errors are ``BadRequestData``; size/depth guards raise ``InvalidRequest``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Collection
from datetime import datetime
from typing import Any

from dosi.errors import BadRequestDataError, InvalidRequestError
from dosi.ngsild.query.ast import And, AttrPath, Comparison, Or, QExpr, Range

MAX_Q_LENGTH = 8192
MAX_Q_DEPTH = 16
MAX_Q_TERMS = 256

CORE_MEMBERS = frozenset({"observedAt", "unitCode", "createdAt", "modifiedAt", "datasetId"})
_OPS = ("!~=", "==", "!=", ">=", "<=", "~=", ">", "<")
_NAME_RE = re.compile(r"[^\s.\[\]{}()=!<>~;|,\"'\\]+")
_BARE_RE = re.compile(r"[^;|),\"]*")
_NUMBER_RE = re.compile(r"-?\d+(\.\d+)?([eE][+-]?\d+)?")
DATETIME_RE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?")
_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
_TIME_RE = re.compile(r"\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?")
_SPACE_OFFSET_RE = re.compile(r"(T[\d:.]+) (\d{2}:?\d{2})$")  # '+' decoded as ' '
_COMPARABLE = ("number", "string", "datetime")  # kinds allowed with >, >=, <, <= and in ranges


class _Parser:
    def __init__(self, text: str, expand: Callable[[str], str], expand_values: Collection[str]):
        self.s, self.n, self.i = text, len(text), 0
        self.expand, self.expand_values = expand, expand_values
        self.depth = self.terms = 0

    def error(self, message: str) -> BadRequestDataError:
        return BadRequestDataError(f"invalid q {self.s!r}: {message} (at position {self.i})")

    def ws(self) -> str:
        while self.i < self.n and self.s[self.i] in " \t\r\n":
            self.i += 1
        return self.s[self.i] if self.i < self.n else ""

    def parse(self) -> QExpr:
        if not self.ws():
            raise self.error("the query is empty")
        node = self.parse_or()
        if self.ws():
            raise self.error(f"unexpected {self.s[self.i]!r}")
        return node

    def parse_or(self) -> QExpr:
        items = [self.parse_and()]
        while self.ws() == "|":
            self.i += 1
            items.append(self.parse_and())
        if len(items) == 1:
            return items[0]
        return Or(tuple(x for it in items for x in (it.items if isinstance(it, Or) else (it,))))

    def parse_and(self) -> QExpr:
        items = [self.parse_term()]
        while self.ws() == ";":
            self.i += 1
            items.append(self.parse_term())
        if len(items) == 1:
            return items[0]
        return And(tuple(x for it in items for x in (it.items if isinstance(it, And) else (it,))))

    def parse_term(self) -> QExpr:
        c = self.ws()
        if c == "(":
            self.depth += 1
            if self.depth > MAX_Q_DEPTH:
                raise InvalidRequestError(f"q is nested deeper than {MAX_Q_DEPTH} parentheses")
            self.i += 1
            node = self.parse_or()
            if self.ws() != ")":
                raise self.error("a ')' is missing")
            self.i += 1
            self.depth -= 1
            return node
        self.terms += 1
        if self.terms > MAX_Q_TERMS:
            raise InvalidRequestError(f"q has more than {MAX_Q_TERMS} query terms")
        if c == "!" and self.s[self.i + 1 : self.i + 2] not in ("=", "~"):
            self.i += 1
            self.ws()
            return Comparison(self.parse_path()[0], "!")
        path, first = self.parse_path()
        self.ws()
        op = next((o for o in _OPS if self.s.startswith(o, self.i)), None)
        if op is None:
            if self.i < self.n and self.s[self.i] not in ";|)":
                raise self.error(f"unexpected {self.s[self.i]!r} after the attribute path")
            return Comparison(path)
        self.i += len(op)
        self.ws()
        value = self.parse_regex() if op in ("~=", "!~=") else self.parse_value(op)
        if first in self.expand_values or path.attr in self.expand_values:
            value = _expand_value(value, self.expand)
        return Comparison(path, op, value)

    def parse_path(self) -> tuple[AttrPath, str]:
        names: list[str] = []
        while True:
            m = _NAME_RE.match(self.s, self.i)
            if m is None:
                raise self.error("an attribute name is expected")
            names.append(m.group())
            self.i = m.end()
            if self.i < self.n and self.s[self.i] == ".":
                self.i += 1
                continue
            break
        if self.i < self.n and self.s[self.i] == "{":
            raise self.error(
                f"'{names[-1]}{{...}}' is a Linked Entity query, which needs join/joinLevel; "
                "dosi does not support Linked Entity retrieval"
            )
        keys: list[str] = []
        while self.i < self.n and self.s[self.i] == "[":
            end = self.s.find("]", self.i + 1)
            if end < 0:
                raise self.error("a ']' is missing")
            for key in self.s[self.i + 1 : end].split("."):
                key = key.strip()
                if not key or "[" in key:
                    raise self.error(f"invalid key {key!r} in brackets")
                keys.append(key)
            self.i = end + 1
        if self.i < self.n and self.s[self.i] in ".{":
            raise self.error(f"unexpected {self.s[self.i]!r} after ']'")
        last = len(names) - 1
        sub = tuple(
            n if i == last and n in CORE_MEMBERS else self.expand(n)
            for i, n in enumerate(names[1:], start=1)
        )
        return AttrPath(self.expand(names[0]), sub, tuple(keys)), names[0]

    def parse_value(self, op: str) -> Any:
        kind, first = self.parse_item()
        value: Any
        if kind == "range":
            value = first
        elif kind == "lowrange":  # bare token 'low..' followed by a quoted high bound
            hk, high = self.parse_item()
            value = self.make_range(first[0], first[1], hk, high)
        elif self.ws() == ",":
            items = [first]
            while self.ws() == ",":
                self.i += 1
                self.ws()
                k, item = self.parse_item()
                if k in ("range", "lowrange"):
                    raise self.error("a range cannot be part of a value list")
                items.append(item)
            value = tuple(items)
        elif self.s.startswith("..", self.i):
            self.i += 2
            self.ws()
            hk, high = self.parse_item()
            if hk in ("range", "lowrange"):
                raise self.error("a range has exactly two bounds")
            value = self.make_range(kind, first, hk, high)
        else:
            value = first
            if kind == "boolean" and op not in ("==", "!="):
                raise self.error(
                    f"{op} needs a number, string or date/time, not {str(first).lower()}"
                )
        if not isinstance(value, (str, int, float, bool)) and op not in ("==", "!="):
            what = "ranges" if isinstance(value, Range) else "value lists"
            raise self.error(f"{what} can only be used with == and !=")
        return value

    def make_range(self, lk: str, low: Any, hk: str, high: Any) -> Range:
        if lk not in _COMPARABLE or hk not in _COMPARABLE:
            raise self.error("range bounds must be numbers, strings or dates/times")
        if (lk == "number") != (hk == "number"):
            raise self.error("range bounds must be of the same type")
        return Range(low, high)

    def parse_item(self) -> tuple[str, Any]:
        if self.i < self.n and self.s[self.i] == '"':
            return "string", self.parse_quoted()
        m = _BARE_RE.match(self.s, self.i)
        assert m is not None
        raw = m.group()
        self.i = m.end()
        dots = raw.find("..")
        if dots >= 0 and not raw[:dots].strip():
            raise self.error("the range has no lower bound")
        if dots >= 0:
            lk, low = _classify(raw[:dots].strip())
            if lk in ("number", "datetime"):
                rest = raw[dots + 2 :].strip()
                if not rest:
                    if self.i < self.n and self.s[self.i] == '"':
                        return "lowrange", (lk, low)
                    raise self.error("the range has no upper bound")
                hk, high = _classify(rest)
                return "range", self.make_range(lk, low, hk, high)
        raw = raw.strip()
        if not raw:
            raise self.error("a value is expected")
        kind, value = _classify(raw)
        if kind == "invalid":
            raise self.error(value)
        return kind, value

    def parse_quoted(self) -> str:
        out: list[str] = []
        i = self.i + 1
        while i < self.n:
            c = self.s[i]
            if c == "\\" and i + 1 < self.n:
                nxt = self.s[i + 1]
                out.append(nxt if nxt in '"\\' else c + nxt)
                i += 2
            elif c == '"':
                self.i = i + 1
                return "".join(out)
            else:
                out.append(c)
                i += 1
        raise self.error("a string is not terminated by '\"'")

    def parse_regex(self) -> str:
        if self.i < self.n and self.s[self.i] == '"':
            pattern = self.parse_quoted()
        else:
            start, depth, in_class = self.i, 0, False
            while self.i < self.n:
                c = self.s[self.i]
                if c == "\\":
                    self.i += 2
                    continue
                if in_class:
                    in_class = c != "]"
                elif c == "[":
                    in_class = True
                elif c == "(":
                    depth += 1
                elif c == ")":
                    if depth == 0:
                        break
                    depth -= 1
                elif c in ";|" and depth == 0:
                    break
                self.i += 1
            self.i = min(self.i, self.n)
            pattern = self.s[start : self.i].strip()
        if not pattern:
            raise self.error("a regular expression is expected")
        try:
            re.compile(pattern)
        except Exception as exc:  # noqa: BLE001 - re.error, OverflowError, RecursionError
            raise self.error(f"invalid regular expression {pattern!r}: {exc}") from None
        return pattern


def _classify(raw: str) -> tuple[str, Any]:
    """The kind and Python value of a bare (unquoted) value token."""
    if not raw:
        return "invalid", "a value is expected"
    if raw in ("true", "false"):
        return "boolean", raw == "true"
    if _NUMBER_RE.fullmatch(raw):
        number: int | float = int(raw) if raw.lstrip("-").isdigit() else float(raw)
        if isinstance(number, float) and not math.isfinite(number):
            return "invalid", f"number {raw!r} is out of range"
        return "number", number
    fixed = _SPACE_OFFSET_RE.sub(r"\1+\2", raw)
    if DATETIME_RE.fullmatch(fixed):
        try:
            datetime.fromisoformat(fixed)
        except ValueError:
            return "invalid", f"{raw!r} is not a valid DateTime"
        return "datetime", fixed
    if _DATE_RE.fullmatch(raw) or _TIME_RE.fullmatch(raw):
        return "datetime", raw
    if raw[0] in "=<>~!" or any(c in raw for c in "()[]{}<>\\ \t"):
        return "invalid", f"unexpected characters in value {raw!r} (quote strings)"
    return "string", raw  # a URI, or a bare word taken as a string


def _expand_value(value: Any, expand: Callable[[str], str]) -> Any:
    """``expandValues``: expand string values as terms against the @context (EXAMPLE 12)."""
    if isinstance(value, str):
        return expand(value)
    if isinstance(value, tuple):
        return tuple(expand(v) if isinstance(v, str) else v for v in value)
    if isinstance(value, Range) and isinstance(value.low, str):
        return Range(expand(value.low), expand(value.high))
    return value


def parse_q(text: str, expand: Callable[[str], str], expand_values: Collection[str] = ()) -> QExpr:
    """Parse an NGSI-LD ``q`` (already URL-decoded) into an AST with expanded names.

    ``expand_values`` holds the attribute names of the ``expandValues`` parameter
    (compact or expanded): their string query values are expanded as terms.
    """
    if not isinstance(text, str):
        raise BadRequestDataError("q must be a string")
    if len(text) > MAX_Q_LENGTH:
        raise InvalidRequestError(f"q is longer than {MAX_Q_LENGTH} characters")
    return _Parser(text, expand, frozenset(expand_values)).parse()


def attr_names(expr: QExpr) -> set[str]:
    """The top-level attribute IRIs a q refers to (for the 'too wide query' check)."""
    if isinstance(expr, Comparison):
        return {expr.path.attr}
    return set().union(*(attr_names(item) for item in expr.items))
