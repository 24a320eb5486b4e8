"""The ``pick`` / ``omit`` projection language: ``id,name,locatedAt{id,name}``.

A projection is a dict from member name to ``None`` (the member itself) or a nested
projection applied to the entity a Relationship links to (linked entity retrieval).
"""

from __future__ import annotations

import re
from typing import Optional

from dosi.errors import BadRequestDataError

Projection = dict[str, Optional["Projection"]]
_NAME = re.compile(r"[^\s,{}<>\"'=;()\\&?]+")
MAX_LEN = 4096


def parse_projection(text: str, what: str = "pick") -> Projection:
    """Parse a pick/omit value; raises BadRequestDataError with the position of a fault."""
    if len(text) > MAX_LEN:
        raise BadRequestDataError(f"{what} is too long")
    proj, pos = _list(text, 0, what, 0)
    if pos != len(text):
        raise BadRequestDataError(f"{what}: unexpected {text[pos]!r} at {pos}")
    return proj


def _list(text: str, pos: int, what: str, depth: int) -> tuple[Projection, int]:
    if depth > 8:
        raise BadRequestDataError(f"{what} nests too deep")
    out: Projection = {}
    while True:
        m = _NAME.match(text, pos)
        if not m:
            where = repr(text[pos]) if pos < len(text) else "end"
            raise BadRequestDataError(f"{what}: a name is missing before {where} at {pos}")
        name, pos = m.group(0), m.end()
        sub: Projection | None = None
        if pos < len(text) and text[pos] == "{":
            sub, pos = _list(text, pos + 1, what, depth + 1)
            if pos >= len(text) or text[pos] != "}":
                raise BadRequestDataError(f"{what}: unclosed '{{' after {name!r}")
            pos += 1
        if name in out:
            raise BadRequestDataError(f"{what}: {name!r} is given twice")
        out[name] = sub
        if pos < len(text) and text[pos] == ",":
            pos += 1
            continue
        return out, pos


def expand_projection(proj: Projection, expand) -> Projection:
    """Add the expanded IRI of every attribute name (keeping the names as given)."""
    out: Projection = {}
    for name, sub in proj.items():
        esub = expand_projection(sub, expand) if sub is not None else None
        out[name] = esub
        if name not in ("id", "type", "scope"):
            out[expand(name)] = esub
    return out


def overlap(a: Projection, b: Projection) -> list[str]:
    """Names that a pick and an omit both name at the top level."""
    return [n for n in a if n in b]
