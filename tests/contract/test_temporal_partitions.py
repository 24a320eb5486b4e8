"""PostgreSQL history partitions: month partitions appear for late data (moved out of
the default partition), and retention drops whole months."""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg
import pytest

from dosi.storage.base import HistoryQuery, RetentionRule, WriteOp, open_store
from tests.contract.support import entity, prop, urn
from tests.pg import fresh_pg

pytestmark = pytest.mark.postgres
EX = "https://example.org/"


async def partitions(url: str) -> dict[str, int]:
    async with await psycopg.AsyncConnection.connect(url) as conn:
        cur = await conn.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = 'attr_history'::regclass"
        )
        out = {}
        for (name,) in await cur.fetchall():
            n = await (await conn.execute(f"SELECT count(*) FROM {name}")).fetchone()
            out[name] = n[0] if n else 0
        return out


async def test_late_data_gets_its_month_and_retention_drops_it() -> None:
    url = await fresh_pg()
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute("DROP TABLE IF EXISTS attr_history_p199903")
    store: Any = await open_store(url)
    try:
        eid = urn("old")
        e = entity(eid, speed=prop(1, observedAt="1999-03-10T00:00:00Z"))
        [r] = await store.write("", [WriteOp(eid, lambda cur: e)])
        assert r.ok
        await asyncio.gather(*list(store._maintenance))  # the month appears after the write
        parts = await partitions(url)
        assert parts.get("attr_history_p199903") == 1 and parts["attr_history_default"] == 0
        h = await store.history("", [eid], HistoryQuery())
        assert [i.doc["value"] for i in h[eid].instances] == [1]
        now = 1_000_000_000_000  # 2001-09-09
        removed = await store.enforce_retention([RetentionRule(365 * 86_400_000)], now, 100)
        assert removed == 1
        assert "attr_history_p199903" not in await partitions(url)
        assert await store.history("", [eid], HistoryQuery()) == {}
    finally:
        await store.close()
