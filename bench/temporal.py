"""History benchmarks (issue 3), on each store, in-process (no HTTP):

1. ingest: batch upserts of attribute instances through ``EntityStore.write``, history
   on vs off in the same run (the cost of keeping history);
2. temporal query latency: one entity's 1-day, 30-day and 1-year history at 5-minute
   resolution, read and rendered to JSON (the work of GET /temporal/entities/{id});
3. aggregation: hourly avg over 30 days for 1,000 entities with 5-minute data
   (8.64 million instances), computed by the database.

Bulk history for 2 and 3 is loaded with SQL (generated rows), not through the API.
Not a test: nothing asserts timing. usage:
    python bench/temporal.py [--stores sqlite,postgres] [--entities 1000] [--out FILE]
        [--ingest-only]  (the cost of history only: no reads, no bulk load)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import orjson

from dosi.ngsild.context import build_context
from dosi.ngsild.temporal import Duration, TimeFilter, to_ms
from dosi.ngsild.temporal_render import TemporalView, render_aggregated, render_temporal
from dosi.storage.base import AggregateQuery, HistoryQuery, WriteOp, open_store
from dosi.storage.history import HistoryPolicy

EX = "https://example.org/"
PG_ADMIN = os.environ.get("DOSI_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
PG_DB = "dosi_bench_temporal"
STEP = 300_000  # 5 minutes in ms
DAY = 86_400_000
START = to_ms("2026-01-01T00:00:00Z")
ATTRS = ("speed", "occupancy", "flow")


def car(i: int, t: int, round_: int) -> dict[str, Any]:
    ts = datetime.fromtimestamp(t / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    attrs = {
        EX + a: [{"type": "Property", "value": (i * 7 + round_ * 3 + k) % 120, "observedAt": ts}]
        for k, a in enumerate(ATTRS)
    }
    return {
        "id": f"urn:ngsi-ld:Road:{i}",
        "type": [EX + "Road"],
        "createdAt": ts,
        "modifiedAt": ts,
        "attrs": attrs,
    }


async def ingest(store: Any, tenant: str, entities: int, rounds: int) -> float:
    """Instances per second written by batch upserts of ``entities`` per call; each
    round a new observedAt, one second apart, in the last minutes (live data)."""
    base = int(time.time() * 1000) - 600_000
    t0 = time.perf_counter()
    for r in range(rounds):
        t = base + r * 1000
        ops = [
            WriteOp(f"urn:ngsi-ld:Road:{i}", lambda cur, i=i, t=t, r=r: car(i, t, r))
            for i in range(entities)
        ]
        results = await store.write(tenant, ops)
        assert all(x.ok for x in results)
    return entities * len(ATTRS) * rounds / (time.perf_counter() - t0)


async def fresh(kind: str, tmp: str) -> str:
    if kind == "sqlite":
        return f"sqlite:///{tmp}/bench.db"
    import psycopg

    async with await psycopg.AsyncConnection.connect(PG_ADMIN, autocommit=True) as conn:
        await conn.execute(f"DROP DATABASE IF EXISTS {PG_DB}")
        await conn.execute(f"CREATE DATABASE {PG_DB}")
    url = PG_ADMIN.rsplit("/", 1)[0] + f"/{PG_DB}"
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    return url


async def load_sqlite(store: Any, ids: list[str], points: int) -> None:
    def job(conn: Any) -> None:
        conn.executemany(
            "INSERT OR IGNORE INTO temporal_entity (tenant, id, types) VALUES ('bulk', ?, ?)",
            [(i, f'["{EX}Road"]') for i in ids],
        )
        conn.execute("INSERT OR IGNORE INTO temporal_attr (iri) VALUES (?)", (EX + "speed",))
        (aid,) = conn.execute(
            "SELECT aid FROM temporal_attr WHERE iri = ?", (EX + "speed",)
        ).fetchone()
        tids = dict(conn.execute("SELECT id, tid FROM temporal_entity WHERE tenant = 'bulk'"))
        for eid in ids:
            conn.executemany(
                "INSERT INTO attr_history (tid, aid, dataset, instance, ts, observed_at, "
                "created_at, modified_at, num, doc) VALUES (?, ?, '', ?, ?, ?, ?, ?, ?, ?)",
                (
                    (
                        tids[eid],
                        aid,
                        uuid.uuid4().bytes,
                        START + k * STEP,
                        START + k * STEP,
                        START + k * STEP,
                        START + k * STEP,
                        float((k + tids[eid]) % 97),
                        '{"type":"Property","value":%d}' % ((k + tids[eid]) % 97),
                    )
                    for k in range(points)
                ),
            )
        conn.execute("ANALYZE")

    await store._writer.run(job)


async def load_postgres(store: Any, ids: list[str], points: int) -> None:
    from dosi.storage.temporal_pg_partitions import dt

    end = START + (points - 1) * STEP
    await store.prepare_history([START, end])
    async with store._pool.connection() as conn:
        await conn.execute(
            "INSERT INTO temporal_entity (tenant, id, types) SELECT 'bulk', i, %s::jsonb "
            "FROM unnest(%s::text[]) i ON CONFLICT DO NOTHING",
            (f'["{EX}Road"]', ids),
        )
        await conn.execute(
            "INSERT INTO temporal_attr (iri) VALUES (%s) ON CONFLICT DO NOTHING", (EX + "speed",)
        )
        for chunk in range(0, len(ids), 50):
            await conn.execute(
                "INSERT INTO attr_history (tid, aid, dataset, instance, ts, observed_at, "
                "created_at, modified_at, num, doc) SELECT te.tid, ta.aid, '', gen_random_uuid(),"
                " t, t, t, t, ((k + te.tid) %% 97)::float8, jsonb_build_object('type', "
                "'Property', 'value', (k + te.tid) %% 97) FROM temporal_entity te, temporal_attr ta, "
                "generate_series(0, %s) k, LATERAL (SELECT %s::timestamptz + k * "
                "interval '5 minutes' AS t) x WHERE te.tenant = 'bulk' AND te.id = ANY(%s) "
                "AND ta.iri = %s",
                (points - 1, dt(START), ids[chunk : chunk + 50], EX + "speed"),
            )
        await conn.execute("VACUUM ANALYZE attr_history")


async def timed(fn: Any, runs: int) -> float:
    """Median seconds of ``runs`` calls (after one warm-up)."""
    await fn()
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        await fn()
        out.append(time.perf_counter() - t0)
    return statistics.median(out)


async def bench_store(kind: str, entities: int, ingest_only: bool = False) -> dict[str, Any]:
    res: dict[str, Any] = {"store": kind}
    with tempfile.TemporaryDirectory() as tmp:
        url = await fresh(kind, tmp)
        store: Any = await open_store(url, pool_max=4)
        try:
            await ingest(store, "warm", entities, 3)
            on, off = [], []
            for i in range(3):  # interleaved, medians: the machine is shared and noisy
                store.history_policy = HistoryPolicy(enabled=True)
                on.append(await ingest(store, f"on{i}", entities, 10))
                store.history_policy = HistoryPolicy(enabled=False)
                off.append(await ingest(store, f"off{i}", entities, 10))
            store.history_policy = HistoryPolicy(enabled=True)
            res["ingest_on"] = statistics.median(on)
            res["ingest_off"] = statistics.median(off)
            if ingest_only:
                return res
            one = "urn:ngsi-ld:Road:year"
            loader = load_sqlite if kind == "sqlite" else load_postgres
            await loader(store, [one], 365 * DAY // STEP)
            ctx = build_context({})
            for label, days in (("1 day", 1), ("30 days", 30), ("1 year", 365)):
                tf = TimeFilter("between", START, START + days * DAY)
                q = HistoryQuery(time=tf, limit=200_000)

                async def read(q: HistoryQuery = q) -> None:
                    h = (await store.history("bulk", [one], q))[one]
                    body = render_temporal(one, h.types, h.instances, ctx, TemporalView())
                    orjson.dumps(body)

                res[f"read {label}"] = await timed(read, 5)
            ids = [f"urn:ngsi-ld:Road:{i}" for i in range(entities)]
            t0 = time.perf_counter()
            await loader(store, ids, 30 * DAY // STEP)
            res["load_s"] = time.perf_counter() - t0
            month = TimeFilter("between", START, START + 30 * DAY)
            hourly = AggregateQuery(
                time=month, methods=("avg",), period=Duration(ms=3_600_000), origin=START
            )
            daily = AggregateQuery(
                time=month, methods=("avg", "min", "max"), period=Duration(ms=DAY), origin=START
            )

            def agg(q: AggregateQuery) -> Any:
                async def run() -> None:
                    out = await store.aggregate("bulk", ids, q)
                    assert len(out) == entities

                return run

            res["aggregate raw"] = await timed(agg(hourly), 3)
            t0 = time.perf_counter()
            await store.maintain_history(int(time.time() * 1000))
            res["rollup_s"] = time.perf_counter() - t0
            res["aggregate"] = await timed(agg(hourly), 3)
            res["aggregate daily"] = await timed(agg(daily), 3)

            async def rendered() -> None:  # the answer's JSON, as the API renders it
                out = await store.aggregate("bulk", ids, hourly)
                view = TemporalView("aggregatedValues")
                bodies = [render_aggregated(e, [EX + "Road"], s, ctx, view) for e, s in out.items()]
                orjson.dumps(bodies)

            res["aggregate json"] = await timed(rendered, 3)
        finally:
            await store.close()
    return res


def report(results: list[dict[str, Any]], entities: int) -> str:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "## History (issue 3)",
        "",
        f"Measured {when} on {os.cpu_count()} cores ({platform.processor() or 'x86_64'}), "
        f"Python {platform.python_version()}, in-process (no HTTP), `bench/temporal.py`. "
        f"Ingest: batch upserts of {entities:,} entities x {len(ATTRS)} numeric attributes "
        "with a new observedAt per round, live (the last minutes; 10 rounds per figure), history on and off "
        "interleaved three times in the same run (medians). Reads: one entity's 5-minute history, read and rendered to JSON "
        "(median of 5). Aggregation: hourly avg over 30 days for "
        f"{entities:,} entities of 5-minute data ({entities * 8640:,} instances), median of 3, "
        "as returned by the store (PostgreSQL: from hourly rollups once the background step "
        "has run; the first-run column is the same query on raw rows); with JSON: the same "
        f"answer rendered as the API does (aggregatedValues of {entities:,} entities) and serialised.",
        "",
        "| store | ingest, history on (instances/s) | history off | cost of history | "
        "1-day read (288) | 30-day read (8,640) | 1-year read (105,120) | 30-day hourly avg, "
        f"{entities:,} entities ({entities * 720:,} values) | same, with JSON | "
        "same, first run (no rollups) | 30-day daily avg/min/max |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        on = r["ingest_on"]
        cost = 1 - on / r["ingest_off"]
        if "aggregate" not in r:  # --ingest-only
            lines.append(f"| {r['store']} | {on:,.0f} | {r['ingest_off']:,.0f} | {cost:.0%} |")
            continue
        lines.append(
            f"| {r['store']} | {on:,.0f} | {r['ingest_off']:,.0f} | {cost:.0%} | "
            f"{r['read 1 day'] * 1000:.1f} ms | {r['read 30 days'] * 1000:.0f} ms | "
            f"{r['read 1 year'] * 1000:.0f} ms | {r['aggregate'] * 1000:.0f} ms | "
            f"{r['aggregate json'] * 1000:,.0f} ms | "
            f"{r['aggregate raw'] * 1000:.0f} ms | {r['aggregate daily'] * 1000:.0f} ms |"
        )
    return "\n".join(lines) + "\n"


async def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--stores", default="sqlite,postgres")
    p.add_argument("--entities", type=int, default=1000)
    p.add_argument("--out", default=None, help="append the table to this file")
    p.add_argument(
        "--ingest-only",
        action="store_true",
        help="only the cost of history (no reads, no bulk load)",
    )
    args = p.parse_args()
    results = []
    for kind in args.stores.split(","):
        r = await bench_store(kind, args.entities, args.ingest_only)
        print(r, file=sys.stderr, flush=True)
        results.append(r)
    text = report(results, args.entities)
    print(text)
    if args.out:
        with open(args.out, "a", encoding="utf-8") as f:
            f.write("\n" + text)


if __name__ == "__main__":
    asyncio.run(main())
