"""File import benchmark (issue 5): rows/s of ``dosi import`` (the files adapter through
the ingest pipeline: parse, map, validate against the Smart Data Model, write with
history, account) beside the ceiling of the same run: the store writing the same
entities already parsed (``EntityStore.write``, same batch size, history on).

usage: python bench/ingest_files.py [--rows 20000] [--batch 500]
                                    [--stores sqlite,postgresql://...] [--out docs/performance.md]

Also shown: the share of time in mapping and in validation alone (no store). Not a test:
nothing here asserts timing.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dosi.ingest.adapters.files.reader import import_file, iter_rows
from dosi.ingest.mapping import Mapping
from dosi.ingest.models import ModelRegistry, sdm_context
from dosi.ingest.pipeline import IngestPipeline
from dosi.ingest.records import RawRecord
from dosi.ngsild import operations as ops
from dosi.ngsild.entity import parse_entity
from dosi.ngsild.values import now_iso
from dosi.services.contexts import ContextService
from dosi.storage.base import WriteOp, open_store

MAPPING: dict[str, Any] = {
    "type": "AirQualityObserved",
    "id": "urn:ngsi-ld:AirQualityObserved:{stationCode}",
    "observedAt": {"field": "dataTime", "format": "%Y-%m-%d %H:%M", "timezone": "Asia/Seoul"},
    "location": {"x": "dmX", "y": "dmY", "crs": "EPSG:5186"},
    "attributes": {
        "stationName": {"name": "name", "type": "string"},
        "dataTime": {"name": "dateObserved", "type": "datetime"},
        "pm10Value": {"name": "pm10", "type": "number", "unitCode": "GQ"},
        "pm25Value": {"name": "pm25", "type": "number", "unitCode": "GQ"},
        "no2Value": {"name": "no2", "type": "number", "unitCode": "59"},
        "o3Value": {"name": "o3", "type": "number", "unitCode": "59"},
    },
}


def make_csv(path: Path, rows: int, stations: int = 500) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["stationCode", "stationName", "dataTime", "pm10Value", "pm25Value",
                     "no2Value", "o3Value", "dmX", "dmY"])
        for n in range(rows):
            st, hour = n % stations, n // stations
            day, hh = divmod(hour, 24)
            w.writerow([f"S{st:04d}", f"측정소{st}", f"2026-11-{1 + day % 28:02d} {hh:02d}:00",
                        str(20 + n % 50), str(10 + n % 30), f"0.0{n % 9 + 1}",
                        f"0.0{n % 7 + 1}", str(190000 + st * 10), str(545000 + st * 10)])


async def one_store(url: str, rows: int, batch: int, tmp: Path) -> dict[str, Any]:
    path = tmp / "aq.csv"
    make_csv(path, rows)
    store = await open_store(url)
    ctx = ContextService(store, base_url="http://127.0.0.1:1")
    pipe = IngestPipeline(store, ctx)
    ds = {"id": "bench", "title": "bench", "dataModel": "AirQualityObserved",
          "mapping": MAPPING, "validation": "flag"}
    await store.put_ingest_doc("dataset", "bench", ds, "upsert")
    t0 = time.perf_counter()
    report = await import_file(str(path), "bench", pipe.submit, store, batch=batch,
                               restart=True)
    t_import = time.perf_counter() - t0
    assert report.counts["rejected"] == 0, report.reasons
    # the same rows mapped and validated without a store (CPU cost of those steps)
    m = Mapping(MAPPING, default_context=sdm_context("AirQualityObserved"))
    reg = ModelRegistry()
    now = datetime.now(UTC)
    t0 = time.perf_counter()
    entities = [e for _, p in iter_rows(str(path), "csv")
                for e in m(RawRecord("b", "s", p, now))]
    t_map = time.perf_counter() - t0
    t0 = time.perf_counter()
    for e in entities:
        reg.validate(e)
    t_validate = time.perf_counter() - t0
    # ceiling: the store writing the same entities, parsed beforehand, same batches,
    # on a fresh tenant (the import's entities exist already in the default one)
    active = await ctx.resolve(entities[0]["@context"])
    stamp = now_iso()
    parsed = [parse_entity(e, active, stamp) for e in entities]
    t0 = time.perf_counter()
    for i in range(0, len(parsed), batch):
        write_ops = [WriteOp(p["id"], lambda cur, p=p: p if cur is None else
                             ops.append_attrs(cur, p, p["id"], stamp))
                     for p in parsed[i:i + batch]]
        await store.write("ceiling", write_ops)
    t_ceiling = time.perf_counter() - t0
    await ctx.close()
    await store.close()
    return {"store": "sqlite" if url.startswith("sqlite") else "postgres",
            "import": rows / t_import, "ceiling": rows / t_ceiling,
            "map": rows / t_map, "validate": rows / t_validate}


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=20_000)
    ap.add_argument("--batch", type=int, default=500)
    pg = os.environ.get("DOSI_BENCH_PG_URL") or os.environ.get("DOSI_TEST_PG_URL")
    ap.add_argument("--stores", default="sqlite" + (f",{pg}" if pg else ""))
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    results = []
    for name in args.stores.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite:///{tmp}/bench.db" if name == "sqlite" else name
            if not url.startswith("sqlite"):
                from tests.pg import fresh_pg  # empties the database

                os.environ["DOSI_TEST_PG_URL"] = url
                url = await fresh_pg()
            r = await one_store(url, args.rows, args.batch, Path(tmp))
            print(r, flush=True)
            results.append(r)
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "", "## File import (issue 5)", "",
        (f"Measured {when} on {os.cpu_count()} cores ({platform.processor() or 'cpu'}), "
         f"Python {platform.python_version()}; `python bench/ingest_files.py --rows "
         f"{args.rows} --batch {args.batch}`. A CSV of AirKorea-like rows (500 stations x "
         "hourly rows, 6 attributes, EPSG:5186 coordinates, KST times) imported with "
         "`import_file` (what `dosi import` runs, without the progress bar) into "
         "AirQualityObserved, validated against the Smart Data Model, history on. Ceiling: "
         "the same store writing the same entities already parsed, same batches, in the "
         "same run. Mapping and validation: the same rows with no store."), "",
        "| store | import (rows/s) | ceiling: store writes (entities/s) | import vs ceiling "
        "| mapping alone (rows/s) | validation alone (rows/s) |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(f"| {r['store']} | {r['import']:,.0f} | {r['ceiling']:,.0f} | "
                     f"{100 * r['import'] / r['ceiling']:.0f}% | {r['map']:,.0f} | "
                     f"{r['validate']:,.0f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        with open(args.out, "a", encoding="utf-8") as f:
            f.write(text)


if __name__ == "__main__":
    asyncio.run(main())
