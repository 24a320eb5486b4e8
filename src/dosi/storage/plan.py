"""Running write ops against the current entities: the part of ``write()`` both
backends share (every write route ends here through ``EntityStore.write``).

Write functions are pure, so a store reads the current documents of a call's entities
(locked), runs the ops here in Python, one after the other, and then applies only the
net change per entity to the database in bulk. An op whose function raises
``DosiError`` changes nothing and gets the error in its ``OpResult``: that is exactly
what rolling back a per-op savepoint would give, without a database round trip per op.
Database-side failures while applying are isolated per entity by the backends with
real savepoints (their ``_apply_isolated``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from dosi.errors import BadRequestDataError, DosiError, InternalError
from dosi.storage.base import UNCHANGED, Entity, OpResult, WriteOp
from dosi.storage.rows import IndexRows, index_rows


@dataclass
class Change:
    """The net effect of one write() call on one entity."""

    entity_id: str
    rid: int | None  # row id when the entity was stored before the call
    before: Entity | None  # as stored when the call started
    after: Entity | None  # final state (None: absent)
    after_json: str | None = None  # serialised ``after``
    op_indexes: list[int] = field(default_factory=list)  # ops that touched it

    @property
    def changed(self) -> bool:
        return self.after is not self.before

    def rows(self) -> tuple[IndexRows, IndexRows]:
        """Side-table rows before and after."""
        return index_rows(self.before), index_rows(self.after)


def run_ops(
    ops: Sequence[WriteOp], current: dict[str, tuple[int, Entity] | None]
) -> tuple[list[OpResult], dict[str, Change]]:
    """Apply ``ops`` in order to ``current`` (entity id -> (row id, doc) or None).

    Returns one OpResult per op and the net Change per entity touched. Exceptions
    other than DosiError propagate: they are bugs, and fail the whole call."""
    results: list[OpResult] = []
    changes: dict[str, Change] = {}
    for i, op in enumerate(ops):
        change = changes.get(op.entity_id)
        if change is None:
            stored = current.get(op.entity_id)
            rid, doc = stored if stored is not None else (None, None)
            change = changes[op.entity_id] = Change(op.entity_id, rid, doc, doc)
        cur = change.after
        try:
            new = op.fn(cur)
            if new is UNCHANGED:
                results.append(OpResult(op.entity_id, cur, cur))
                continue
            text = _check(op.entity_id, new)
        except DosiError as exc:
            results.append(OpResult(op.entity_id, cur, cur, error=exc))
            continue
        change.op_indexes.append(i)
        if new is None and cur is None:
            results.append(OpResult(op.entity_id, None, None))
            continue
        change.after = new
        change.after_json = text
        results.append(OpResult(op.entity_id, cur, new))
    return results, changes


def _check(entity_id: str, new: Entity | None) -> str | None:
    if new is None:
        return None
    if not isinstance(new, dict) or new.get("id") != entity_id:
        raise InternalError(f"write function for {entity_id} returned another entity")
    if not isinstance(new.get("createdAt"), str) or not new.get("type"):
        raise InternalError(f"write function for {entity_id} returned no createdAt or type")
    try:
        return orjson.dumps(new).decode()
    except TypeError as exc:
        raise InternalError(f"entity {entity_id} is not JSON-serialisable: {exc}") from exc


def fail_change(results: list[OpResult], change: Change, error: DosiError) -> None:
    """Mark every op that changed ``change``'s entity as failed with ``error`` (the
    database refused the result); the entity stays as it was stored."""
    for i in change.op_indexes:
        r = results[i]
        results[i] = OpResult(r.entity_id, r.before, r.before, error=error)
    change.after = change.before
    change.after_json = None


def db_error(exc: Exception) -> DosiError:
    """The op error for a database refusal of one entity's new state."""
    return BadRequestDataError(f"the store refused the entity: {str(exc).splitlines()[0]}")


def decode(raw: Any) -> Entity:
    """A stored document (text, bytes or already decoded) as an entity dict."""
    if isinstance(raw, dict):
        return raw
    return orjson.loads(raw)  # type: ignore[no-any-return]
