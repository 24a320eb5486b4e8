"""The ASGI application: ``create_app(settings)`` wires store, services and routers."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response

from dosi import __version__
from dosi.api import batch, contexts, discovery, entities, temporal
from dosi.api.deps import Hub
from dosi.api.paths import NormalizePathMiddleware
from dosi.api.problem import dosi_error_handler, problem_response, unexpected_error_handler
from dosi.errors import BadRequestDataError, DosiError, InvalidRequestError, ResourceNotFoundError
from dosi.services.batch import BatchService
from dosi.services.contexts import ContextService
from dosi.services.discovery import DiscoveryService
from dosi.services.entities import EntityService
from dosi.services.retention import history_policy, run_retention
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
    return Hub(
        settings=settings,
        store=store,
        contexts=ctx,
        entities=entity_service,
        batch=BatchService(store, settings.max_batch_size),
        discovery=DiscoveryService(store),
        temporal=TemporalService(store, entity_service,  # type: ignore[arg-type]
                                 settings.temporal_max_instances),
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
        retention = run_retention(hub.store, settings)  # type: ignore[arg-type]
        try:
            yield
        finally:
            if retention is not None:
                retention.cancel()
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
    for module in (entities, batch, discovery, contexts, temporal):
        app.include_router(module.router)

    @app.get("/health", tags=["ops"], summary="Liveness")
    async def health() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    # the documentation routes go last: every request walks the route list in order
    app.openapi_url = "/openapi.json"
    app.docs_url = "/docs"
    app.setup()
    return app
