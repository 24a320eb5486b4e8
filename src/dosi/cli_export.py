"""``dosi export``: history of a query to Parquet or CSV, with a progress bar.

    dosi export --store postgresql://... --type https://smartdatamodels.org/AirQualityObserved \\
        --attrs https://smartdatamodels.org/NO2 --from 2026-01-01T00:00:00Z --to 2026-02-01T00:00:00Z \\
        --output no2-january.parquet

Names are expanded with the core @context unless ``--context`` names a local JSON-LD
context file; full IRIs are taken as they are.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any


def add_parser(sub: Any) -> None:
    p = sub.add_parser("export", help="write the history of a query to Parquet or CSV")
    p.add_argument("--store", required=True, help="sqlite:///path.db or postgresql://...")
    p.add_argument("--output", "-o", required=True, help="file to write (.parquet or .csv)")
    p.add_argument(
        "--format",
        choices=("parquet", "csv"),
        default=None,
        help="default: from the output file name (parquet otherwise)",
    )
    p.add_argument("--type", default=None, help="entity type expression (as in ?type=)")
    p.add_argument("--id", default=None, help="entity ids, comma-separated")
    p.add_argument("--q", default=None, help="NGSI-LD query on the current state (as in ?q=)")
    p.add_argument("--attrs", default=None, help="attributes, comma-separated (default: all)")
    p.add_argument("--from", dest="start", default=None, help="instances at or after this time")
    p.add_argument("--to", dest="end", default=None, help="instances before this time")
    p.add_argument(
        "--timeproperty", default="observedAt", choices=("observedAt", "createdAt", "modifiedAt")
    )
    p.add_argument("--tenant", default="", help="NGSILD-Tenant (default tenant if omitted)")
    p.add_argument("--context", default=None, help="local JSON-LD @context file for names")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def _params(args: argparse.Namespace) -> dict[str, str]:
    params: dict[str, str] = {"local": "true"}
    for key, value in (("type", args.type), ("id", args.id), ("q", args.q), ("attrs", args.attrs)):
        if value:
            params[key] = value
    if args.start and args.end:
        params.update(timerel="between", timeAt=args.start, endTimeAt=args.end)
    elif args.start:
        params.update(timerel="after", timeAt=args.start)
    elif args.end:
        params.update(timerel="before", timeAt=args.end)
    params["timeproperty"] = args.timeproperty
    return params


async def _run(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from dosi.api.params import entity_query, split_list
    from dosi.ngsild.context import build_context, core_context
    from dosi.ngsild.temporal import parse_time_filter
    from dosi.services.export import count_entities, export_history, open_writer
    from dosi.storage.base import HistoryQuery, open_store

    ctx = core_context()
    if args.context:
        doc = json.loads(await asyncio.to_thread(_read_text, args.context))
        ctx = build_context(doc.get("@context", doc))
    params = _params(args)
    query = entity_query(params, ctx, 1, 1 << 30, require_filter=False)
    tf = parse_time_filter(params)
    if tf.timerel == "after" and tf.time_at is not None:  # 'after' excludes timeAt; --from not
        tf = replace(tf, time_at=tf.time_at - 1)
    attrs = split_list(args.attrs)
    hq = HistoryQuery(attrs=tuple(ctx.expand(a) for a in attrs) if attrs else None, time=tf)
    fmt = args.format or ("csv" if args.output.endswith(".csv") else "parquet")
    store = await open_store(args.store)
    try:
        total = await count_entities(store, args.tenant, query)  # type: ignore[arg-type]
        bar = None
        if not args.no_progress:
            from tqdm import tqdm

            bar = tqdm(total=total, unit="entity", file=sys.stderr)

        def progress(entities: int, rows: int) -> None:
            if bar is not None:
                bar.update(entities)
                bar.set_postfix(instances=rows)

        writer = open_writer(args.output, fmt)
        try:
            rows = await export_history(
                store,
                args.tenant,
                query,
                hq,
                writer,  # type: ignore[arg-type]
                progress,
            )
        finally:
            writer.close()
            if bar is not None:
                bar.close()
    finally:
        await store.close()
    print(f"dosi: {rows} instances of {total} entities written to {args.output}", file=sys.stderr)
    return 0


def _read_text(path: str) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read()


def run(args: argparse.Namespace) -> int:
    from dosi.errors import DosiError

    try:
        return asyncio.run(_run(args))
    except (DosiError, ValueError, OSError) as exc:
        print(f"dosi: {getattr(exc, 'detail', exc)}", file=sys.stderr)
        return 2
