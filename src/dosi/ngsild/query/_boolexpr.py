"""A small parser for the "atoms with ``,``/``|`` (or), ``;`` (and), parentheses" languages.

Entity type selection (clause 4.17) and scopeQ (clause 4.19) share this shape, so they
share this parser; each supplies how one atom is turned into an AST node. ``;`` binds
tighter than ``,`` and ``|``. Whitespace around tokens is ignored.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from dosi.errors import BadRequestDataError, InvalidRequestError

T = TypeVar("T")

MAX_LENGTH = 8192
MAX_DEPTH = 16
MAX_ATOMS = 512

_TOKEN_RE = re.compile(r"\s*(?:([(),;|])|([^\s(),;|]+))")


class _Parser(Generic[T]):
    def __init__(
        self,
        text: str,
        what: str,
        atom: Callable[[str], T],
        make_and: Callable[[tuple[T, ...]], T],
        make_or: Callable[[tuple[T, ...]], T],
    ) -> None:
        self.text = text
        self.what = what
        self.atom = atom
        self.make_and = make_and
        self.make_or = make_or
        self.tokens: list[tuple[str, str, int]] = []  # (kind, text, position)
        pos = 0
        while pos < len(text):
            m = _TOKEN_RE.match(text, pos)
            if m is None:  # only trailing whitespace is left
                break
            if m.group(1):
                self.tokens.append(("op", m.group(1), m.start(1)))
            elif m.group(2):
                self.tokens.append(("atom", m.group(2), m.start(2)))
            pos = m.end()
        self.i = 0
        self.depth = 0
        self.atoms = 0

    def error(self, message: str) -> BadRequestDataError:
        return BadRequestDataError(f"invalid {self.what} {self.text!r}: {message}")

    def peek(self) -> tuple[str, str, int] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def parse(self) -> T:
        if not self.tokens:
            raise self.error("it is empty")
        node = self.parse_or()
        tok = self.peek()
        if tok is not None:
            raise self.error(f"unexpected {tok[1]!r} at position {tok[2]}")
        return node

    def parse_or(self) -> T:
        items = [self.parse_and()]
        while (tok := self.peek()) is not None and tok[1] in (",", "|"):
            self.i += 1
            items.append(self.parse_and())
        return items[0] if len(items) == 1 else self.make_or(tuple(items))

    def parse_and(self) -> T:
        items = [self.parse_primary()]
        while (tok := self.peek()) is not None and tok[1] == ";":
            self.i += 1
            items.append(self.parse_primary())
        return items[0] if len(items) == 1 else self.make_and(tuple(items))

    def parse_primary(self) -> T:
        tok = self.peek()
        if tok is None:
            raise self.error("it ends where a term is expected")
        kind, value, pos = tok
        if value == "(":
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise InvalidRequestError(
                    f"{self.what} is nested deeper than {MAX_DEPTH} parentheses"
                )
            self.i += 1
            node = self.parse_or()
            close = self.peek()
            if close is None or close[1] != ")":
                raise self.error(f"the '(' at position {pos} is not closed")
            self.i += 1
            self.depth -= 1
            return node
        if kind != "atom":
            raise self.error(f"a term is expected at position {pos}, not {value!r}")
        self.i += 1
        self.atoms += 1
        if self.atoms > MAX_ATOMS:
            raise InvalidRequestError(f"{self.what} has more than {MAX_ATOMS} terms")
        nxt = self.peek()
        if nxt is not None and nxt[0] == "atom":
            raise self.error(f"an operator is missing before {nxt[1]!r} at position {nxt[2]}")
        return self.atom(value)


def parse_bool_expr(
    text: str,
    what: str,
    atom: Callable[[str], T],
    make_and: Callable[[tuple[T, ...]], T],
    make_or: Callable[[tuple[T, ...]], T],
) -> T:
    """Parse ``text``; ``atom`` turns one term into a node (and may raise DosiError)."""
    if not isinstance(text, str):
        raise BadRequestDataError(f"{what} must be a string")
    if len(text) > MAX_LENGTH:
        raise InvalidRequestError(f"{what} is longer than {MAX_LENGTH} characters")
    return _Parser[T](text, what, atom, make_and, make_or).parse()


def flatten(items: Sequence[T], cls: type) -> tuple[T, ...]:
    """Merge directly nested nodes of the same kind: ``And(a, And(b, c))`` -> ``(a, b, c)``."""
    out: list[T] = []
    for item in items:
        if isinstance(item, cls):
            out.extend(item.items)  # type: ignore[attr-defined]
        else:
            out.append(item)
    return tuple(out)
