"""HTTP tests: the ASGI app in-process, on a temporary SQLite store (and PostgreSQL
for the tests parametrised with ``backend``)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import httpx
import pytest

from dosi.api.app import create_app
from dosi.settings import Settings

CORE = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.9.jsonld"


def pg_url() -> str:
    return os.environ.get("DOSI_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/dosi_test")


async def _reset_pg(url: str) -> None:
    import psycopg

    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        rows = await conn.execute(
            "select tablename from pg_tables where schemaname='public' "
            "and tablename not like 'spatial_ref_sys'"
        )
        for (name,) in await rows.fetchall():
            await conn.execute(f'drop table if exists "{name}" cascade')


@pytest.fixture(params=["sqlite"])
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
async def client(tmp_path, backend: str) -> AsyncIterator[httpx.AsyncClient]:
    if backend == "postgres":
        url = pg_url()
        await _reset_pg(url)
    else:
        url = f"sqlite:///{tmp_path}/hub.db"
    settings = Settings(store_url=url, max_body_bytes=200_000, max_limit=100)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub") as c:
            yield c
