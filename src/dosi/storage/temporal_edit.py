"""Editing one stored attribute instance (PATCH /temporal/entities/{id}/attrs/{attrId}/
{instanceId}): the merge both backends apply before writing the row back."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from dosi.ngsild.temporal import to_ms

_SYSTEM = frozenset({"createdAt", "modifiedAt", "observedAt", "datasetId", "instanceId"})


@dataclass
class Patched:
    doc: dict[str, Any]
    observed_at: int | None
    ts: int
    num: float | None
    modified_at: int


def patched(
    doc: dict[str, Any], patch: dict[str, Any], observed_at: int | None, ts: int, modified_at: int
) -> Patched:
    """The stored instance with the patch's members merged in (its ``observedAt``
    moves the instance in time; sub-attributes merge one level deep)."""
    new = dict(doc)
    for key, val in patch.items():
        if key in _SYSTEM:
            continue
        if key == "sub":
            new["sub"] = {**new.get("sub", {}), **val}
        else:
            new[key] = val
    obs = to_ms(patch["observedAt"]) if isinstance(patch.get("observedAt"), str) else observed_at
    now = max(int(time.time() * 1000), modified_at)
    if obs is not None:
        ts = obs
    value = new.get("value")
    num = (
        float(value)
        if new.get("type") == "Property"
        and isinstance(value, (int, float))
        and not isinstance(value, bool)
        else None
    )
    return Patched(new, obs, ts, num, now)
