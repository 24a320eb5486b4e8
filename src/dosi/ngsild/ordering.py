"""``orderBy``: sorting query results by entity members or attribute paths.

``orderBy=type;asc,name.subProperty;desc,name`` -> a list of (path, descending).
Entities lacking a path sort after those that have it, whatever the direction.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from dosi.errors import BadRequestDataError
from dosi.ngsild.entity import Entity, content_key

ENTITY_MEMBERS = ("id", "type", "createdAt", "modifiedAt", "scope")
INSTANCE_MEMBERS = ("createdAt", "modifiedAt", "observedAt", "unitCode", "datasetId")

OrderBy = list[tuple[tuple[str, ...], bool]]


def parse_order_by(text: str, expand: Callable[[str], str]) -> OrderBy:
    out: OrderBy = []
    for part in text.split(","):
        part = part.strip()
        name, _, direction = part.partition(";")
        direction = direction.strip().lower() or "asc"
        if not name or direction not in ("asc", "desc"):
            raise BadRequestDataError(f"invalid orderBy element {part!r}")
        steps = name.split(".")
        if any(not s for s in steps):
            raise BadRequestDataError(f"invalid orderBy path {name!r}")
        if steps[0] in ENTITY_MEMBERS and len(steps) == 1:
            path = (steps[0],)
        else:
            path = (expand(steps[0]),) + tuple(
                s if s in INSTANCE_MEMBERS else expand(s) for s in steps[1:]
            )
        out.append((path, direction == "desc"))
    return out


def _value(entity: Entity, path: tuple[str, ...]) -> Any:
    if len(path) == 1 and path[0] in ENTITY_MEMBERS:
        v = entity.get(path[0])
        return v[0] if isinstance(v, list) and v else v
    instances = entity.get("attrs", {}).get(path[0])
    if not instances:
        return None
    inst = next((i for i in instances if "datasetId" not in i), instances[0])
    for step in path[1:]:
        if step in INSTANCE_MEMBERS:
            return inst.get(step)
        inst = inst.get("sub", {}).get(step)
        if inst is None:
            return None
    return inst.get(content_key(inst.get("type", "Property")))


def _rank(v: Any) -> tuple[int, Any]:
    if isinstance(v, bool):
        return (1, v)
    if isinstance(v, (int, float)):
        return (0, v)
    if isinstance(v, str):
        return (2, v)
    return (3, str(v))


def sort_entities(entities: list[Entity], order: OrderBy) -> list[Entity]:
    def cmp(a: Entity, b: Entity) -> int:
        for path, desc in order:
            va, vb = _value(a, path), _value(b, path)
            if va is None or vb is None:
                if va is None and vb is None:
                    continue
                return 1 if va is None else -1
            ka, kb = _rank(va), _rank(vb)
            if ka == kb:
                continue
            less = ka < kb
            return (1 if less else -1) if desc else (-1 if less else 1)
        return 0

    return sorted(entities, key=functools.cmp_to_key(cmp))
