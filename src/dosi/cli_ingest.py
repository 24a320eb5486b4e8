"""``dosi ingest``: dead letters, replay and quality of datasets, straight on the store.

    dosi ingest deadletters DATASET [--limit 20]
    dosi ingest replay DATASET          # after fixing the mapping: re-submit dead letters
    dosi ingest purge DATASET           # delete the dataset's dead letters
    dosi ingest quality [DATASET]

Also the shared set-up of the ingest CLI modules (``services``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from dosi.errors import DosiError


@dataclass
class Services:
    store: Any
    contexts: Any
    pipeline: Any
    catalog: Any
    ingest: Any


def add_store_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--store", default=None,
                   help="sqlite:///path.db or postgresql://... (default: DOSI_STORE_URL)")


@asynccontextmanager
async def services(store_url: str | None) -> AsyncIterator[Services]:
    from dosi.ingest.pipeline import IngestPipeline
    from dosi.services.catalog import CatalogService
    from dosi.services.contexts import ContextService
    from dosi.services.entities import EntityService
    from dosi.services.ingest import IngestService
    from dosi.services.subscriptions import SubscriptionService
    from dosi.settings import Settings
    from dosi.storage.base import open_store

    settings = Settings(**({"store_url": store_url} if store_url else {}))
    store = await open_store(settings.store_url)
    ctx = ContextService(store, base_url=f"http://{settings.host}:{settings.port}",
                         fetch_timeout=settings.context_fetch_timeout,
                         contexts_dir=settings.contexts_dir)
    pipeline = IngestPipeline(store, ctx, max_record_bytes=settings.ingest_max_record_bytes)
    catalog = CatalogService(store, pipeline, ctx)
    # writes from the CLI notify subscribers too: their notifications go to the outbox,
    # which the hub delivers from (now if it runs, else when it starts)
    subs = SubscriptionService(store, ctx, EntityService(store))
    await subs.start(hook=True, deliver=False)
    try:
        yield Services(store, ctx, pipeline, catalog, IngestService(store, pipeline, catalog))
    finally:
        await subs.stop()
        await ctx.close()
        await store.close()


def run_async(fn: Callable[[], Awaitable[int]]) -> int:
    """Run a command; domain errors become a readable message and exit status 1."""
    try:
        return asyncio.run(fn())  # type: ignore[arg-type]
    except DosiError as exc:
        print(f"dosi: {exc.detail}", file=sys.stderr)
        return 1
    except (OSError, ValueError) as exc:
        print(f"dosi: {exc}", file=sys.stderr)
        return 1


def print_json(doc: Any) -> None:
    print(json.dumps(doc, ensure_ascii=False, indent=2))


def read_doc(path: str) -> Any:
    """A JSON or YAML document from a file ("-": standard input)."""
    import yaml

    if path == "-":
        text = sys.stdin.read()
    else:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValueError(f"{path} is neither JSON nor YAML: {exc}") from None


def add_parser(sub: Any) -> None:
    p = sub.add_parser("ingest", help="dead letters, replay and quality of datasets")
    cmds = p.add_subparsers(dest="ingest_command", required=True)
    for name, helptext in (("deadletters", "list rejected records of a dataset"),
                           ("replay", "submit a dataset's dead letters again"),
                           ("purge", "delete a dataset's dead letters"),
                           ("quality", "validity, completeness, timeliness")):
        c = cmds.add_parser(name, help=helptext)
        c.add_argument("dataset", nargs="?" if name == "quality" else None)
        add_store_arg(c)
        if name == "deadletters":
            c.add_argument("--limit", type=int, default=20)
            c.add_argument("--json", action="store_true", help="print JSON")


def run(args: argparse.Namespace) -> int:
    async def main() -> int:
        async with services(args.store) as s:
            cmd = args.ingest_command
            if cmd == "replay":
                counts = await s.ingest.replay(args.dataset)
                print(f"replayed {sum(counts.values())} dead letters of {args.dataset}: "
                      f"{counts['accepted']} accepted, {counts['flagged']} flagged, "
                      f"{counts['rejected']} still rejected")
            elif cmd == "purge":
                n = await s.ingest.delete_dead_letters(args.dataset, None)
                print(f"deleted {n} dead letters of {args.dataset}")
            elif cmd == "deadletters":
                await s.catalog.get_dataset(args.dataset)
                items, total = await s.ingest.dead_letters(args.dataset, args.limit, 0)
                if args.json:
                    print_json(items)
                else:
                    print(f"{total} dead letters in {args.dataset}")
                    for d in items:
                        payload = (d["payload"] or "<binary>")[:60]
                        print(f"  #{d['id']} {d['receivedAt']} {d['source']}: {d['reason']}"
                              f"\n      {payload}")
            elif args.dataset:
                print_json(await s.ingest.quality(args.dataset))
            else:
                print_json(await s.ingest.quality_all())
        return 0

    return run_async(main)
