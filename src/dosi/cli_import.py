"""``dosi import FILE --dataset D [--mapping M]``: CSV, JSON, JSON Lines or GeoJSON
into a dataset through the ingest pipeline, with a progress bar; resumable (a second
run continues after the last committed row; ``--restart`` starts over)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from dosi.cli_ingest import add_store_arg, read_doc, run_async, services


def add_parser(sub: Any) -> None:
    p = sub.add_parser("import", help="import a CSV/JSON/GeoJSON file into a dataset")
    p.add_argument("file")
    p.add_argument("--dataset", required=True, help="dataset id (dosi datasets list)")
    p.add_argument("--mapping", default=None,
                   help="mapping file (YAML/JSON); default: the dataset's mapping")
    p.add_argument("--format", choices=("csv", "json", "jsonl", "geojson"), default=None)
    p.add_argument("--batch", type=int, default=500, help="records per pipeline call")
    p.add_argument("--encoding", default="utf-8-sig", help="e.g. cp949 for older Korean files")
    p.add_argument("--delimiter", default=",")
    p.add_argument("--restart", action="store_true", help="ignore the checkpoint")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_store_arg(p)


def run(args: argparse.Namespace) -> int:
    async def main() -> int:
        from tqdm import tqdm

        from dosi.ingest.adapters.files.reader import count_rows, detect_format, import_file
        from dosi.ingest.mapping import Mapping, auto_mapper
        from dosi.ingest.models import sdm_context

        fmt = args.format or detect_format(args.file)
        async with services(args.store) as s:
            ds = await s.catalog.get_dataset(args.dataset)
            if args.mapping:
                spec = read_doc(args.mapping)
                if not isinstance(spec, dict):
                    raise ValueError(f"{args.mapping}: a mapping is an object")
                ctx = ds.get("context") or sdm_context(str(spec.get("type", "")))
                try:
                    mapping = Mapping(spec, default_context=ctx)
                except ValueError as exc:
                    raise ValueError(f"{args.mapping}: {exc}") from None
                s.pipeline.register_mapper(args.dataset, auto_mapper(mapping, ctx))
            elif not ds.get("mapping"):
                print(f"dosi: dataset {args.dataset} has no mapping: rows must be NGSI-LD "
                      "entities (or give --mapping)", file=sys.stderr)
            bar = tqdm(total=count_rows(args.file, fmt), unit="row", disable=args.quiet,
                       desc=args.dataset)
            try:
                report = await import_file(
                    args.file, args.dataset, s.pipeline.submit, s.store, fmt=fmt,
                    batch=args.batch, restart=args.restart, encoding=args.encoding,
                    delimiter=args.delimiter, progress=bar)
            finally:
                bar.close()
        c = report.counts
        print(f"{args.file}: {report.rows} rows imported"
              + (f" ({report.skipped} done before, skipped)" if report.skipped else "")
              + f": {c['accepted']} accepted, {c['flagged']} flagged, {c['rejected']} rejected")
        for reason, n in sorted(report.reasons.items(), key=lambda x: -x[1])[:5]:
            print(f"  {n} x {reason}")
        if c["rejected"]:
            print(f"rejected rows are in the dead-letter store: dosi ingest deadletters "
                  f"{args.dataset}")
        return 0

    return run_async(main)
