"""Per-request helpers shared by the routers: the hub's services, tenant, @context."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starlette.requests import Request

from dosi.api.media import RequestContext, context_items_of_body, parse_link_context, read_json
from dosi.errors import BadRequestDataError, ResourceNotFoundError
from dosi.services.batch import BatchService
from dosi.services.catalog import CatalogService
from dosi.services.contexts import ContextService
from dosi.services.discovery import DiscoveryService
from dosi.services.entities import EntityService
from dosi.services.ingest import IngestService
from dosi.services.subscriptions import SubscriptionService
from dosi.services.temporal import TemporalService
from dosi.settings import Settings
from dosi.storage.base import Store

if TYPE_CHECKING:
    from dosi.security.audit import AuditLog
    from dosi.security.ratelimit import RateLimiter
    from dosi.security.service import SecurityService

TENANT_HEADER = "ngsild-tenant"


@dataclass
class Hub:
    """What the routers use, built once by ``create_app``."""

    settings: Settings
    store: Store
    contexts: ContextService
    entities: EntityService
    batch: BatchService
    discovery: DiscoveryService
    temporal: TemporalService
    subscriptions: SubscriptionService
    catalog: CatalogService | None = None  # datasets, models, API keys (issue 5)
    ingest: IngestService | None = None  # push, dead letters, quality (issue 5)
    security: SecurityService | None = None
    audit: AuditLog | None = None
    rate_limiter: RateLimiter | None = None

    def audit_log(self) -> AuditLog:
        """The running audit log, or a reader of the stored one (auth off)."""
        from dosi.security.audit import AuditLog

        assert self.security is not None
        return self.audit or AuditLog(self.security.store)


def hub(request: Request) -> Hub:
    return request.app.state.hub


def tenant_of(request: Request) -> str:
    tenant = request.headers.get(TENANT_HEADER, "")
    if tenant and (len(tenant) > 128 or any(c in tenant for c in " <>\"'\\")):
        raise BadRequestDataError(f"invalid tenant {tenant!r}")
    return tenant


async def read_tenant(request: Request) -> str:
    """The tenant of a read; an unknown tenant is 404 as the spec says."""
    tenant = tenant_of(request)
    if tenant and not await hub(request).store.tenant_exists(tenant):
        raise ResourceNotFoundError(f"tenant {tenant} does not exist")
    return tenant


async def get_context(request: Request) -> RequestContext:
    """The @context of a request without a body (Link header or core)."""
    items = parse_link_context(request.headers.get("link"))
    return RequestContext(items, await hub(request).contexts.resolve(items))


async def body_and_context(
    request: Request, allow_merge_patch: bool = False
) -> tuple[Any, RequestContext]:
    h = hub(request)
    body = await read_json(request, h.settings.max_body_bytes, allow_merge_patch)
    items = context_items_of_body(request, body)
    return body, RequestContext(items, await h.contexts.resolve(items))
