"""Read CSV, JSON, JSON Lines and GeoJSON files as raw records, and import them through
the pipeline in batches, resumably.

Each row (CSV row as a JSON object of header -> text, JSON array element, JSON Lines
line, GeoJSON Feature) becomes one ``RawRecord`` with the idempotency key
``file:<fingerprint>:<row>``; the fingerprint is a hash of the file's size and first
megabyte. After each batch is committed the row number is saved as a checkpoint
(``ingest_doc`` kind ``checkpoint``), so an interrupted import started again skips what
was done; a crash between a batch's commit and its checkpoint is covered by the keys
(the rows are seen again and change nothing).
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from dosi.ingest.records import RawRecord, Verdict

FORMATS = ("csv", "json", "jsonl", "geojson")
Submit = Callable[[Sequence[RawRecord]], Awaitable[list[Verdict]]]


def detect_format(path: str) -> str:
    ext = os.path.splitext(path)[1].lower().lstrip(".")
    if ext in ("ndjson", "jsonl"):
        return "jsonl"
    if ext in FORMATS:
        return ext
    if ext in ("tsv", "txt"):
        return "csv"
    raise ValueError(f"cannot tell the format of {path} from its name: use --format")


def fingerprint(path: str) -> str:
    h = hashlib.sha256()
    h.update(str(os.path.getsize(path)).encode())
    with open(path, "rb") as f:
        h.update(f.read(1 << 20))
    return h.hexdigest()[:20]


def count_rows(path: str, fmt: str) -> int | None:
    """Rows in the file for the progress bar (None when it would mean parsing it twice)."""
    if fmt in ("csv", "jsonl"):
        with open(path, "rb") as f:
            n = sum(1 for line in f if line.strip())
        return max(n - 1, 0) if fmt == "csv" else n
    return None


def _dump(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


def iter_rows(path: str, fmt: str, encoding: str = "utf-8-sig",
              delimiter: str = ",") -> Iterator[tuple[int, bytes]]:
    """(row number from 1, raw payload) for each record of the file, streaming CSV and
    JSON Lines. A JSON Lines line that is not JSON is passed on as it is (the pipeline
    rejects it into the dead-letter store)."""
    if fmt == "csv":
        with open(path, newline="", encoding=encoding, errors="replace") as f:
            for n, row in enumerate(csv.DictReader(f, delimiter=delimiter), 1):
                extra = row.pop(None, None)  # type: ignore[call-overload]
                if extra:
                    row["_extra"] = extra
                yield n, _dump(row)
        return
    if fmt == "jsonl":
        with open(path, "rb") as f:
            n = 0
            for line in f:
                if line.strip():
                    n += 1
                    yield n, line.rstrip(b"\r\n")
        return
    with open(path, "rb") as f:
        doc = json.loads(f.read().decode(encoding))
    if isinstance(doc, dict) and doc.get("type") == "FeatureCollection":
        items = doc.get("features") or []
    elif isinstance(doc, list):
        items = doc
    else:
        items = [doc]
    for n, item in enumerate(items, 1):
        yield n, _dump(item)


@dataclass
class ImportReport:
    rows: int = 0  # rows submitted in this run
    skipped: int = 0  # rows before the checkpoint (done by an earlier run)
    counts: dict[str, int] = field(
        default_factory=lambda: {"accepted": 0, "flagged": 0, "rejected": 0})
    reasons: dict[str, int] = field(default_factory=dict)


async def import_file(
    path: str,
    dataset: str,
    submit: Submit,
    store: Any,
    *,
    fmt: str | None = None,
    batch: int = 500,
    restart: bool = False,
    encoding: str = "utf-8-sig",
    delimiter: str = ",",
    progress: Any = None,
) -> ImportReport:
    """Import a file into a dataset through ``submit`` (``IngestPipeline.submit``);
    ``store`` keeps the checkpoint. ``progress``: a tqdm-like bar (update(n))."""
    fmt = fmt or detect_format(path)
    fp = fingerprint(path)
    ck_id = f"file:{dataset}:{fp}"
    done = 0
    if not restart:
        ck = await store.get_ingest_doc("checkpoint", ck_id)
        done = int(ck["row"]) if ck else 0
    report = ImportReport(skipped=done)
    if progress is not None and done:
        progress.update(done)
    source = f"file:{os.path.basename(path)}"
    pending: list[RawRecord] = []
    last = done

    async def flush() -> None:
        nonlocal pending
        if not pending:
            return
        verdicts = await submit(pending)
        for v in verdicts:
            report.counts[v.status] += 1
            if v.status != "accepted" and v.reason:
                short = f"{v.status}: {v.reason[:80]}"
                report.reasons[short] = report.reasons.get(short, 0) + 1
        report.rows += len(pending)
        await store.put_ingest_doc("checkpoint", ck_id, {
            "id": ck_id, "path": os.path.abspath(path), "dataset": dataset, "row": last,
            "at": datetime.now(UTC).isoformat()}, "upsert")
        if progress is not None:
            progress.update(len(pending))
        pending = []

    for n, payload in iter_rows(path, fmt, encoding, delimiter):
        if n <= done:
            continue
        pending.append(RawRecord(dataset, source, payload, datetime.now(UTC),
                                 key=f"file:{fp}:{n}", meta={"row": n}))
        last = n
        if len(pending) >= batch:
            await flush()
    await flush()
    return report
