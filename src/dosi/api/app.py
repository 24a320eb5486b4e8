"""The ASGI application: ``create_app(settings)`` wires store, services and routers."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response

from dosi import __version__
from dosi.api import batch, contexts, discovery, entities, stream, subscriptions, temporal
from dosi.api import datasets as datasets_api
from dosi.api import ingest as ingest_api
from dosi.api import models as models_api
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


async def build_hub(settings: Settings, store: Store | None = None) -> Hub:
    store = store or await open_store(settings.store_url, history=history_policy(settings))
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
        ),
        catalog=catalog,
        ingest=IngestService(store, pipeline, catalog),
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


def create_app(settings: Settings | None = None, store: Store | None = None) -> FastAPI:
    """The hub as an ASGI app. The store opens at start-up (lifespan), not at import."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        hub = await build_hub(settings, store)
        app.state.hub = hub
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
    app.add_middleware(NormalizePathMiddleware)
    for module in (entities, batch, discovery, contexts, temporal, subscriptions, stream,
                   datasets_api, models_api, ingest_api):
        app.include_router(module.router)

    @app.get("/health", tags=["ops"], summary="Liveness")
    async def health() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    # the documentation routes go last: every request walks the route list in order
    app.openapi_url = "/openapi.json"
    app.docs_url = "/docs"
    app.setup()
    return app
