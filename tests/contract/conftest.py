"""The ``store`` fixture: every contract test runs on SQLite and on PostgreSQL.

PostgreSQL comes from ``DOSI_TEST_PG_URL`` (default: the loopback server's
``dosi_test`` database, created if missing). Without a reachable server the postgres
tests are skipped locally, but fail when ``CI`` or ``DOSI_REQUIRE_PG`` is set: a
missing database must never pass silently in CI.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Any

import pytest

from dosi.storage.base import Store, open_store

PG_URL = os.environ.get("DOSI_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/dosi_test")
PG_TABLES = "entity, entity_attr, entity_scope, entity_geo, tenant, context"
_pg_state: dict[str, Any] = {}


def _pg_required() -> bool:
    return bool(os.environ.get("CI") or os.environ.get("DOSI_REQUIRE_PG"))


async def _ensure_pg_database() -> str | None:
    """None when the server is usable (creating the database if needed), else why not."""
    import psycopg
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    params = conninfo_to_dict(PG_URL)
    try:
        conn = await psycopg.AsyncConnection.connect(PG_URL, connect_timeout=3)
        await conn.close()
        return None
    except psycopg.OperationalError as exc:
        if "does not exist" not in str(exc):
            return str(exc).strip()
    admin = make_conninfo(PG_URL, dbname="postgres")
    try:
        async with await psycopg.AsyncConnection.connect(
                admin, autocommit=True, connect_timeout=3) as conn:
            await conn.execute(f'CREATE DATABASE "{params["dbname"]}"')
    except psycopg.Error as exc:
        return str(exc).strip()
    return None


async def _open_pg() -> Store:
    if "error" not in _pg_state:
        _pg_state["error"] = await _ensure_pg_database()
    if _pg_state["error"] is not None:
        message = f"PostgreSQL at {PG_URL} unusable: {_pg_state['error']}"
        if _pg_required():
            pytest.fail(message)
        pytest.skip(message)
    store = await open_store(PG_URL, pool_max=20)
    async with store._pool.connection() as conn:  # type: ignore[attr-defined]
        await conn.execute(f"TRUNCATE {PG_TABLES}")
    return store


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def store(request: pytest.FixtureRequest, tmp_path: Any) -> AsyncIterator[Store]:
    if request.param == "sqlite":
        s = await open_store(f"sqlite:///{tmp_path}/contract.db")
    else:
        s = await _open_pg()
    try:
        yield s
    finally:
        await s.close()


@pytest.fixture
def backend(store: Store) -> str:
    return type(store).__name__
