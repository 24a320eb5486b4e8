"""The temporal storage contract (re-exported by ``storage.base``): what the temporal
routes (/ngsi-ld/v1/temporal/...) and the retention task ask of a backend.

History is written by ``EntityStore.write`` itself (``storage.history``); this
interface reads it, edits single instances and deletes. Times are epoch ms, UTC.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from dosi.ngsild.temporal import Duration, TimeFilter


@dataclass(frozen=True)
class HistoryQuery:
    """Which instances: attributes (IRIs; None for all), datasetIds ("" is the default
    instance; None for all), a time filter, ``lastN`` per attribute instance stream,
    and at most ``limit`` instances per entity (more: the result is truncated)."""

    attrs: tuple[str, ...] | None = None
    datasets: frozenset[str] | None = None
    time: TimeFilter = field(default_factory=TimeFilter)
    last_n: int | None = None
    limit: int = 1000


@dataclass
class StoredInstance:
    """One attribute instance from history; ``t`` is the value of the queried time
    property, ``doc`` the instance without its system members."""

    attr: str
    dataset: str
    instance_id: str
    t: int
    observed_at: int | None
    created_at: int
    modified_at: int
    deleted_at: int | None
    doc: dict[str, Any]


@dataclass
class EntityHistory:
    """The instances of one entity, in time order (most recent first with ``lastN``)."""

    entity_id: str
    types: list[str]
    instances: list[StoredInstance]
    truncated: bool = False


@dataclass(frozen=True)
class AggregateQuery:
    """``aggregatedValues``: methods per period (None: one period over everything),
    periods counted from ``origin`` (None: the earliest matching instance)."""

    attrs: tuple[str, ...] | None = None
    datasets: frozenset[str] | None = None
    time: TimeFilter = field(default_factory=TimeFilter)
    methods: tuple[str, ...] = ("avg",)
    period: Duration | None = None
    origin: int | None = None


@dataclass
class AggregateSeries:
    """The aggregates of one attribute instance stream, by column: period ``i`` is
    [``starts[i]``, ``ends[i]``) and ``columns[j][i]`` the value of ``methods[j]`` there
    (None where a method does not apply, e.g. the sum of strings). Columns, not a
    tuple per period: a series can have thousands of periods and a query thousands of
    series, and building them one by one in Python would cost more than the query."""

    attr: str
    dataset: str
    kind: str
    methods: tuple[str, ...]
    starts: list[int]
    ends: list[int]
    columns: list[list[Any]]

    @classmethod
    def of_buckets(
        cls,
        attr: str,
        dataset: str,
        kind: str,
        methods: tuple[str, ...],
        buckets: Sequence[tuple[int, int, tuple[Any, ...]]],
    ) -> AggregateSeries:
        columns = [[v[j] for _, _, v in buckets] for j in range(len(methods))]
        return cls(
            attr, dataset, kind, methods, [b[0] for b in buckets], [b[1] for b in buckets], columns
        )

    @property
    def buckets(self) -> list[tuple[int, int, tuple[Any, ...]]]:
        return list(zip(self.starts, self.ends, zip(*self.columns, strict=True), strict=True))

    def as_dicts(self) -> list[tuple[int, int, dict[str, Any]]]:
        return [(s, e, dict(zip(self.methods, v, strict=True))) for s, e, v in self.buckets]


@dataclass(frozen=True)
class RetentionRule:
    """Keep history for ``keep_ms``; a rule names a tenant, a type IRI, both or neither."""

    keep_ms: int
    tenant: str | None = None
    type: str | None = None


class TemporalStore(Protocol):
    """History per tenant (the temporal API and the retention task)."""

    async def history(
        self, tenant: str, entity_ids: Sequence[str], query: HistoryQuery
    ) -> dict[str, EntityHistory]:
        """Instances of these entities (GET /temporal/entities, /temporal/entities/{id});
        entities without history are left out."""
        ...

    async def aggregate(
        self, tenant: str, entity_ids: Sequence[str], query: AggregateQuery
    ) -> dict[str, list[AggregateSeries]]:
        """Aggregates computed by the database (``options=aggregatedValues``)."""
        ...

    async def history_types(self, tenant: str, entity_id: str) -> list[str] | None:
        """The entity types recorded with an entity's history (None: no history kept)."""
        ...

    async def update_instance(
        self, tenant: str, entity_id: str, attr: str, instance_id: str, patch: dict[str, Any]
    ) -> bool:
        """PATCH /temporal/entities/{id}/attrs/{attrId}/{instanceId}: merge members."""
        ...

    async def delete_instance(
        self, tenant: str, entity_id: str, attr: str, instance_id: str
    ) -> bool:
        """DELETE /temporal/entities/{id}/attrs/{attrId}/{instanceId}."""
        ...

    async def delete_attr_history(
        self, tenant: str, entity_id: str, attr: str, dataset: str | None, delete_all: bool
    ) -> int:
        """DELETE /temporal/entities/{id}/attrs/{attrId}: the default instance's history,
        one datasetId's, or every instance's (``deleteAll``). Returns rows deleted."""
        ...

    async def delete_history(self, tenant: str, entity_id: str) -> int:
        """DELETE /temporal/entities/{id}: every instance of the entity."""
        ...

    async def prepare_history(self, times: Sequence[int]) -> None:
        """Make room for instances at these times before a write (time partitions)."""
        ...

    async def maintain_history(self, now: int) -> None:
        """Background upkeep between requests (hourly rollups on PostgreSQL; nothing to
        do on SQLite); answers never depend on it having run."""
        ...

    async def enforce_retention(self, rules: Sequence[RetentionRule], now: int, batch: int) -> int:
        """Delete history older than the rules allow (the retention task); returns rows."""
        ...

    def export(
        self, tenant: str, entity_ids: Sequence[str], query: HistoryQuery
    ) -> AsyncIterator[tuple[str, StoredInstance]]:
        """Every matching instance, entity by entity in time order (``dosi export``)."""
        ...
