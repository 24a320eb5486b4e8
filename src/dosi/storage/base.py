"""The storage contract. Services depend on these Protocols only; ``open_store`` picks
the backend from the store URL (``sqlite:///path.db`` or ``postgresql://...``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from dosi.errors import DosiError
from dosi.ngsild.query.ast import EntityQuery
from dosi.storage.temporal_base import (  # noqa: F401 - the temporal contract, re-exported
    AggregateQuery,
    AggregateSeries,
    EntityHistory,
    HistoryQuery,
    RetentionRule,
    StoredInstance,
    TemporalStore,
)
from dosi.storage.ingest_base import IngestStore  # noqa: F401 - the ingest contract
from dosi.storage.subscription_base import (  # noqa: F401 - the subscription contract
    ChangeHook,
    Notice,
    SubscriptionRecord,
    SubscriptionStore,
)

Entity = dict[str, Any]
"""An entity in expanded normalized form (docs/design/internals.md)."""


class _Unchanged:
    def __repr__(self) -> str:
        return "UNCHANGED"


UNCHANGED: Any = _Unchanged()
"""Returned by a write function to leave the stored entity as it is."""

WriteFn = Callable[[Entity | None], "Entity | None"]
"""Pure function from the current entity (None: absent) to the new one (None: delete)
or UNCHANGED. Raises DosiError to fail its op."""


@dataclass
class WriteOp:
    entity_id: str
    fn: WriteFn
    history: list[tuple[str, dict[str, Any]]] | None = None
    """Temporal API writes: the (attribute IRI, instance) pairs to record in history
    instead of the instances that changed (``storage.history``)."""


@dataclass
class OpResult:
    entity_id: str
    before: Entity | None = None
    after: Entity | None = None
    error: DosiError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class QueryResult:
    entities: list[Entity]
    count: int | None = None  # total matches when EntityQuery.count is set


@dataclass
class TypeInfo:
    """One entity type: how many entities have it, and the attribute IRIs they carry
    with the attribute kinds (``Property``...) seen for each."""

    type: str
    entity_count: int
    attributes: dict[str, set[str]]


@dataclass
class AttributeInfo:
    """One attribute IRI: the entity types carrying it, its kinds, and how many
    attribute instances exist."""

    attribute: str
    type_names: set[str]
    attribute_types: set[str]
    count: int


class EntityStore(Protocol):
    """Current context state, per tenant. Tenant ``""`` is the default tenant."""

    async def write(self, tenant: str, ops: Sequence[WriteOp]) -> list[OpResult]:
        """Apply ops in one transaction, a savepoint per op (every write route).

        Ops run in order; an op sees the result of earlier ops on the same entity. A
        ``DosiError`` from an op's function fails that op only; any other exception is
        a bug: nothing of the call is applied and the exception propagates. Functions
        must not mutate the entity they are given."""
        ...

    async def get(self, tenant: str, entity_id: str) -> Entity | None:
        """One entity by id (GET /entities/{entityId})."""
        ...

    async def query(self, tenant: str, query: EntityQuery) -> QueryResult:
        """Entities matching the query, ordered by (createdAt, id) (GET /entities)."""
        ...

    async def purge(self, tenant: str, query: EntityQuery) -> int:
        """Delete every entity matching the query (limit, offset and count ignored);
        returns how many (DELETE /entities)."""
        ...

    async def types(self, tenant: str) -> list[TypeInfo]:
        """Discovery of entity types (GET /types)."""
        ...

    async def attributes(self, tenant: str) -> list[AttributeInfo]:
        """Discovery of attributes (GET /attributes)."""
        ...

    async def tenant_exists(self, tenant: str) -> bool:
        """Whether the tenant has ever been written to (reads of an unknown tenant are 404)."""
        ...

    async def close(self) -> None: ...


class ContextStore(Protocol):
    """User @contexts kept by the broker (/jsonldContexts) and the cache of remote ones."""

    async def put_context(self, ctx_id: str, url: str, kind: str, body: Any) -> None:
        """Store a context; kind is Hosted, Cached or ImplicitlyCreated."""
        ...

    async def get_context(self, ctx_id_or_url: str) -> dict[str, Any] | None:
        """A stored context record {id, url, kind, body, createdAt, lastUsedAt, numberOfHits}."""
        ...

    async def list_contexts(self, kind: str | None = None) -> list[dict[str, Any]]: ...

    async def delete_context(self, ctx_id_or_url: str) -> bool: ...

    async def touch_context(self, ctx_id_or_url: str) -> None:
        """Count a use of a stored context."""
        ...


class Store(EntityStore, ContextStore, SubscriptionStore, IngestStore, Protocol):
    """Everything a backend provides."""


class HistoryStore(Store, TemporalStore, Protocol):
    """A backend that also keeps history (both backends do)."""


async def open_store(url: str, **options: Any) -> Store:
    """Open the backend named by the URL scheme and make its schema ready."""
    if url.startswith("sqlite:"):
        from dosi.storage.sqlite import SqliteStore

        return await SqliteStore.open(url, **options)
    if url.startswith(("postgresql:", "postgres:")):
        from dosi.storage.postgres import PostgresStore

        return await PostgresStore.open(url, **options)
    raise ValueError(f"unsupported store URL {url!r}: use sqlite:///path.db or postgresql://...")
