"""The ``store`` fixture: every contract test runs on SQLite and on PostgreSQL.

PostgreSQL comes from ``DOSI_TEST_PG_URL`` (``tests/pg.py``: the loopback server's
``dosi_test`` database, created if missing, emptied per test). Without a reachable
server the postgres tests are skipped locally, but fail when ``CI`` or
``DOSI_REQUIRE_PG`` is set: a missing database must never pass silently in CI.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from dosi.storage.base import Store, open_store
from tests.pg import fresh_pg


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def store_url(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    """The database of one test: a fresh SQLite file, or the emptied PostgreSQL one."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/contract.db"
    return await fresh_pg()


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[Store]:
    s = await open_store(store_url, pool_max=20)
    try:
        yield s
    finally:
        await s.close()


@pytest.fixture
async def other_store(store_url: str, store: Store) -> AsyncIterator[Store]:
    """A second store on the same database: another hub process."""
    s = await open_store(store_url)
    try:
        yield s
    finally:
        await s.close()
