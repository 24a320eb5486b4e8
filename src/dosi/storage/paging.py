"""Finishing a query in Python when SQL could only narrow the candidates.

The stores stream candidate documents in (createdAt, id) order; ``Pager`` runs the
evaluator on each and keeps offset, limit and count right (GET /entities,
POST /entityOperations/query, DELETE /entities).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from dosi.errors import InternalError
from dosi.ngsild.query.ast import EntityQuery
from dosi.storage.base import Entity, QueryResult
from dosi.storage.plan import decode

Matcher = Callable[[EntityQuery, Entity], bool]


def evaluator() -> Matcher:
    """The reference evaluator ``dosi.ngsild.query.evaluate.matches``."""
    try:
        from dosi.ngsild.query.evaluate import matches
    except ImportError as exc:  # pragma: no cover - the evaluator ships with the package
        raise InternalError(f"query evaluator unavailable: {exc}") from exc
    return matches  # type: ignore[no-any-return]


class Pager:
    """Feed candidate documents in order with ``feed``; ``done`` says when no more are
    needed (the page is full and no count was asked). Unpaged (purge): collects the
    row ids of every match."""

    def __init__(self, query: EntityQuery, *, paged: bool = True) -> None:
        self.query = query
        self.matches = evaluator()
        self.paged = paged
        self.skip = max(query.offset, 0) if paged else 0
        self.limit = max(query.limit, 0) if paged else None
        self.count = 0
        self.entities: list[Entity] = []
        self.rids: list[Any] = []

    @property
    def done(self) -> bool:
        return (
            self.paged
            and not self.query.count
            and self.limit is not None
            and len(self.entities) >= self.limit
        )

    def feed(self, rows: Iterable[tuple[Any, Any]]) -> None:
        """Rows of (rid, stored document)."""
        for rid, raw in rows:
            if self.done:
                return
            entity = decode(raw)
            if not self.matches(self.query, entity):
                continue
            self.count += 1
            if not self.paged:  # purge: only the row ids are needed
                self.rids.append(rid)
                continue
            if self.skip:
                self.skip -= 1
                continue
            if self.limit is None or len(self.entities) < self.limit:
                self.entities.append(entity)
                self.rids.append(rid)

    def result(self) -> QueryResult:
        return QueryResult(self.entities, self.count if self.query.count else None)
