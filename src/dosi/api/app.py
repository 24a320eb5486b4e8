"""The ASGI application: ``create_app(settings)`` wires store, services and routers."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response

from dosi import __version__
from dosi.api import (
    auth_routes,
    batch,
    contexts,
    discovery,
    entities,
    stream,
    subscriptions,
    temporal,
)
from dosi.api import datasets as datasets_api
from dosi.api import ingest as ingest_api
from dosi.api import models as models_api
from dosi.api.auth import AuthMiddleware
from dosi.api.deps import Hub
from dosi.api.paths import NormalizePathMiddleware
from dosi.api.problem import dosi_error_handler, problem_response, unexpected_error_handler
from dosi.errors import BadRequestDataError, DosiError, InvalidRequestError, ResourceNotFoundError
from dosi.ingest.pipeline import IngestPipeline
from dosi.services.batch import BatchService
from dosi.services.catalog import CatalogService
from dosi.services.contexts import ContextService
from dosi.services.discovery import DiscoveryService
from dosi.services.entities import EntityService
from dosi.services.ingest import IngestService
from dosi.services.retention import history_policy, run_history_upkeep
from dosi.services.subscriptions import DispatchSettings, SubscriptionService
from dosi.services.temporal import TemporalService
from dosi.settings import Settings
from dosi.storage.base import Store, open_store

log = logging.getLogger("dosi")


def _security(settings: Settings, raw: Store) -> tuple[Any, Any, Any, Any]:
    """The security service, audit log, rate limiter and guarded store of a hub."""
    from dosi.security.audit import AuditLog
    from dosi.security.guard import GuardedStore
    from dosi.security.limits import QueryLimits
    from dosi.security.ratelimit import RateLimiter
    from dosi.security.service import SecurityService
    from dosi.storage.security_base import security_store_for

    sec_store = security_store_for(raw)
    security = SecurityService(
        sec_store, issuer=settings.auth_issuer, audience=settings.auth_audience,
        token_ttl=settings.auth_token_ttl, leeway=settings.auth_clock_skew,
        external_issuer=settings.auth_external_issuer, jwks_url=settings.auth_jwks_url,
        jwks_file=settings.auth_jwks_file, roles_claim=settings.auth_roles_claim,
        tenants_claim=settings.auth_tenants_claim, cache_ttl=settings.auth_cache_ttl,
        jwks_refresh=settings.auth_jwks_refresh,
    )
    privacy = None
    if settings.privacy:
        from dosi.security.privacy import Privacy, PrivacyRule, Pseudonymiser

        privacy = Privacy([PrivacyRule(
            d.type, tuple(d.pseudonymise), d.location_grid, d.time_precision,
            tuple(d.geo_attributes), frozenset(d.clearance)) for d in settings.privacy],
            Pseudonymiser())
        security.privacy = privacy
    audit = AuditLog(sec_store) if settings.auth and settings.audit else None
    limiter = None
    if settings.rate_limit > 0:
        limiter = RateLimiter(settings.rate_limit, settings.rate_burst or 2 * settings.rate_limit)
    days = settings.temporal_max_days
    limits = QueryLimits(settings.q_max_depth, settings.q_max_terms, settings.geo_max_vertices,
                         None if days is None else int(days * 86_400_000))
    guarded = GuardedStore(raw, audit, limits, settings.audit_personal_types,
                           settings.audit_reads, privacy)
    return security, audit, limiter, guarded


async def build_hub(settings: Settings, store: Store | None = None) -> Hub:
    raw = store or await open_store(settings.store_url, history=history_policy(settings))
    security, audit, limiter, store = _security(settings, raw)
    base_url = f"http://{settings.host}:{settings.port}"
    ctx = ContextService(
        store,
        base_url=base_url,
        fetch_timeout=settings.context_fetch_timeout,
        cache_ttl=settings.context_cache_ttl,
        contexts_dir=settings.contexts_dir,
    )
    entity_service = EntityService(store)
    pipeline = IngestPipeline(store, ctx, max_record_bytes=settings.ingest_max_record_bytes)
    catalog = CatalogService(store, pipeline, ctx)
    return Hub(
        settings=settings,
        store=store,
        contexts=ctx,
        entities=entity_service,
        batch=BatchService(store, settings.max_batch_size),
        discovery=DiscoveryService(store),
        temporal=TemporalService(store, entity_service,  # type: ignore[arg-type]
                                 settings.temporal_max_instances),
        subscriptions=SubscriptionService(
            store, ctx, entity_service,
            DispatchSettings(
                poll_interval=settings.notify_poll_interval,
                lease=settings.notify_timeout * 3 + 5,
                concurrency=settings.notify_concurrency,
                retry_base=settings.notify_retry_base,
                retry_max=settings.notify_retry_max,
                max_age=settings.notify_max_age,
                linger=settings.notify_linger,
                min_claim_interval=settings.notify_claim_interval,
            ),
            send_timeout=settings.notify_timeout,
            guard=security.subscriber if settings.auth else None,
        ),
        catalog=catalog,
        ingest=IngestService(store, pipeline, catalog),
        security=security,
        audit=audit,
        rate_limiter=limiter,
    )


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 404:
        return problem_response(ResourceNotFoundError(f"no resource at {request.url.path}"))
    if exc.status_code == 405:
        resp = problem_response(BadRequestDataError(f"method {request.method} not allowed here"))
        resp.status_code = 405
        return resp
    err = InvalidRequestError(str(exc.detail))
    resp = problem_response(err)
    resp.status_code = exc.status_code
    return resp


async def _validation_error(request: Request, exc: Exception) -> Response:
    return problem_response(BadRequestDataError(str(exc)))


def _openapi_with_security(app: FastAPI) -> dict[str, Any]:
    """The OpenAPI document, declaring the bearer token and API key (the /docs page's
    Authorize button); which routes need them is in docs/security.md."""
    if app.openapi_schema is None:
        from fastapi.openapi.utils import get_openapi

        doc = get_openapi(title=app.title, version=app.version, description=app.description,
                          routes=app.routes)
        doc.setdefault("components", {})["securitySchemes"] = {
            "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
            "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
        }
        doc["security"] = [{"bearer": []}, {"apiKey": []}, {}]
        app.openapi_schema = doc
    return app.openapi_schema


def create_app(settings: Settings | None = None, store: Store | None = None) -> FastAPI:
    """The hub as an ASGI app. The store opens at start-up (lifespan), not at import."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        hub = await build_hub(settings, store)
        app.state.hub = hub
        await hub.security.start()
        if hub.audit is not None:
            hub.audit.start()
        if settings.load_sample:
            from dosi.services.sample import load_sample

            await load_sample(hub)
        adapters = None
        if settings.ingest_adapters:
            from dosi.ingest.adapters.runtime import start_adapters

            adapters = await start_adapters(hub, settings.ingest_adapters)
        upkeep = run_history_upkeep(hub.store, settings,  # type: ignore[arg-type]
                                    more_rules=hub.catalog.retention_rules)  # type: ignore[union-attr]
        worker = None
        if settings.notify and settings.notify_mode == "process":
            from dosi.notify.worker import WorkerProcess

            worker = WorkerProcess(settings)
            worker.start()
            await hub.subscriptions.start(deliver=False, wake=worker.poke)
        elif settings.notify:
            await hub.subscriptions.start(single_process=settings.store_url.startswith("sqlite:"))
        try:
            yield
        finally:
            if adapters is not None:
                await adapters.stop()
            if settings.notify:
                await hub.subscriptions.stop()
            if worker is not None:
                await asyncio.to_thread(worker.stop)
            if upkeep is not None:
                upkeep.cancel()
            if hub.audit is not None:
                await hub.audit.stop()
            await hub.contexts.close()
            await hub.store.close()

    app = FastAPI(
        title="dosi NGSI-LD API",
        version=__version__,
        description="dosi (도시): the smart-city data hub. ETSI NGSI-LD context broker.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.add_exception_handler(DosiError, dosi_error_handler)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, unexpected_error_handler)
    app.add_middleware(AuthMiddleware)
    app.add_middleware(NormalizePathMiddleware)
    for module in (entities, batch, discovery, contexts, temporal, subscriptions, stream,
                   datasets_api, models_api, ingest_api, auth_routes):
        app.include_router(module.router)

    @app.get("/health", tags=["ops"], summary="Liveness")
    async def health() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    # the documentation routes go last: every request walks the route list in order
    app.openapi = lambda: _openapi_with_security(app)  # type: ignore[method-assign]
    app.openapi_url = "/openapi.json"
    app.docs_url = "/docs"
    app.setup()
    return app
