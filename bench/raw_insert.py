"""The ceiling for batch upsert: the database's own bulk insert of the same entities.

usage: python bench/raw_insert.py STORE_URL N      -> prints rows/s on the last line
       python bench/raw_insert.py PG_URL reset     -> (re)creates an empty PostgreSQL database

Each entity (the same JSON document the hub benchmark upserts) becomes one row
(tenant, id, type, document), bulk-inserted in transactions of 1,000 rows (SQLite:
executemany; PostgreSQL: COPY, its fastest path),
with a primary key on (tenant, id) and the same durability settings as the hub
(SQLite: WAL, synchronous=NORMAL; PostgreSQL: default). No parsing, no side indexes:
what the database alone can absorb, so the hub's figure reads as a fraction of it.
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import entity  # noqa: E402

BATCH = 1000
DDL = ("CREATE TABLE raw_entity (tenant TEXT NOT NULL, id TEXT NOT NULL, type TEXT NOT NULL, "
       "doc {doc} NOT NULL, PRIMARY KEY (tenant, id))")


def rows(n: int) -> list[tuple[str, str, str, str]]:
    out = []
    for i in range(n):
        e = entity(i)
        out.append(("", e["id"], e["type"], json.dumps(e)))
    return out


def sqlite_rate(n: int) -> float:
    data = rows(n)
    with tempfile.TemporaryDirectory() as tmp:
        conn = sqlite3.connect(os.path.join(tmp, "raw.db"), isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute(DDL.format(doc="TEXT"))
        t0 = time.perf_counter()
        for i in range(0, n, BATCH):
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany("INSERT INTO raw_entity VALUES (?, ?, ?, ?)", data[i:i + BATCH])
            conn.execute("COMMIT")
        elapsed = time.perf_counter() - t0
        conn.close()
    return n / elapsed


def pg_rate(url: str, n: int) -> float:
    import psycopg

    data = rows(n)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS raw_entity")
        conn.execute(DDL.format(doc="jsonb"))
        t0 = time.perf_counter()
        for i in range(0, n, BATCH):
            with conn.transaction(), conn.cursor() as cur:
                with cur.copy("COPY raw_entity FROM STDIN") as copy:
                    for row in data[i:i + BATCH]:
                        copy.write_row(row)
        elapsed = time.perf_counter() - t0
        conn.execute("DROP TABLE raw_entity")
    return n / elapsed


def reset(url: str) -> None:
    import psycopg
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    name = conninfo_to_dict(url)["dbname"]
    with psycopg.connect(make_conninfo(url, dbname="postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")


def main() -> int:
    url, arg = sys.argv[1], sys.argv[2]
    if arg == "reset":
        reset(url)
        return 0
    n = int(arg)
    rate = sqlite_rate(n) if url.startswith("sqlite:") else pg_rate(url, n)
    print(f"{rate:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
