"""HTTP tests: the ASGI app in-process (httpx ASGITransport), each test on a fresh
SQLite file and on a fresh PostgreSQL/PostGIS database."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from dosi.api.app import create_app
from dosi.settings import Settings
from tests.pg import fresh_pg

CORE = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.9.jsonld"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
async def client(tmp_path, backend: str) -> AsyncIterator[httpx.AsyncClient]:
    if backend == "postgres":
        url = await fresh_pg()
    else:
        url = f"sqlite:///{tmp_path}/hub.db"
    settings = Settings(auth=False, store_url=url, max_body_bytes=200_000, max_limit=100)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub") as c:
            yield c
