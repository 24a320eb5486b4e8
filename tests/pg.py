"""PostgreSQL for tests: the URL, whether it is required, and a clean database."""

from __future__ import annotations

import os

import pytest

PG_URL = os.environ.get("DOSI_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/dosi_test")


def pg_required() -> bool:
    """In CI (or with DOSI_REQUIRE_PG) a missing PostgreSQL fails instead of skipping."""
    return bool(os.environ.get("CI") or os.environ.get("DOSI_REQUIRE_PG"))


async def ensure_pg_database() -> str | None:
    """None when the server is usable (creating the database if needed), else why not."""
    import psycopg
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

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
            await conn.execute(f'CREATE DATABASE "{conninfo_to_dict(PG_URL)["dbname"]}"')
    except psycopg.Error as exc:
        return str(exc).strip()
    return None


async def fresh_pg() -> str:
    """The test database emptied of dosi's tables; skips (or fails in CI) without a server."""
    import psycopg

    error = await ensure_pg_database()
    if error is not None:
        message = f"PostgreSQL at {PG_URL} unusable: {error}"
        if pg_required():
            pytest.fail(message)
        pytest.skip(message)
    async with await psycopg.AsyncConnection.connect(PG_URL, autocommit=True) as conn:
        cur = await conn.execute(
            "select tablename from pg_tables where schemaname = 'public' "
            "and tablename <> 'spatial_ref_sys'"
        )
        names = [r[0] for r in await cur.fetchall()]
        if names:
            await conn.execute("TRUNCATE " + ", ".join(f'"{n}"' for n in names))
    return PG_URL
