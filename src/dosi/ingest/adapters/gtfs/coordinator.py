"""Reads a GTFS static feed (a zip) and submits its rows in batches, file by file.

Agencies, stops and routes go first so that trips and stop times refer to entities
that exist. A feed that cannot be read at all (not a zip, a required file missing)
becomes one rejected record with the reason.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic_settings import BaseSettings, SettingsConfigDict

from dosi.ingest.adapters.gtfs.mapping import DATASET, EXTRA, FILES, mapper
from dosi.ingest.adapters.opendata import Submit
from dosi.ingest.records import RawRecord, Verdict

REQUIRED = ("agency.txt", "stops.txt", "routes.txt", "trips.txt", "stop_times.txt")


class GtfsFeed(BaseModel):
    id: str
    path: str


class GtfsSettings(BaseSettings):
    """``DOSI_GTFS_FEEDS``: ``[{"id": "seoul-bus", "path": "/data/gtfs.zip"}]``."""

    model_config = SettingsConfigDict(env_prefix="DOSI_GTFS_", extra="ignore")
    feeds: list[GtfsFeed] = []
    batch: int = 500


def feed_records(feed_id: str, path: str | Path) -> list[RawRecord]:
    """Every row of the feed as a record (rows of one file keep the file's order)."""
    now = datetime.now(UTC)
    source = f"gtfs:{feed_id}"
    try:
        zf = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        return [RawRecord(DATASET, source, str(path).encode(), now, None,
                          {"kind": "feed", "feed": feed_id, "error": f"not a GTFS zip: {exc}"})]
    with zf:
        names = {Path(n).name: n for n in zf.namelist()}
        missing = [f for f in REQUIRED if f not in names]
        if missing:
            return [RawRecord(DATASET, source, str(path).encode(), now, None, {
                "kind": "feed", "feed": feed_id,
                "error": f"feed lacks required file(s): {', '.join(missing)}"})]
        out: list[RawRecord] = []
        for file in FILES:
            text = zf.read(names[file]).decode("utf-8-sig", errors="replace")
            for n, row in enumerate(csv.DictReader(io.StringIO(text)), start=2):
                clean = {k.strip(): (v or "").strip() for k, v in row.items() if k is not None}
                if None in row:  # more fields than the header: kept for the reason
                    clean[EXTRA] = row[None]
                out.append(RawRecord(
                    DATASET, source, json.dumps(clean, ensure_ascii=False).encode(), now,
                    f"{feed_id}/{file}:{n}", {"kind": "row", "feed": feed_id, "file": file,
                                              "line": n}))
        return out


async def import_feed(feed_id: str, path: str | Path, submit: Submit, batch: int = 500
                      ) -> list[Verdict]:
    records = feed_records(feed_id, path)
    verdicts: list[Verdict] = []
    for i in range(0, len(records), batch):
        verdicts += await submit(records[i : i + batch])
    return verdicts


class GtfsAdapter:
    name = "gtfs"

    def __init__(self, **options: Any) -> None:
        self.settings = GtfsSettings(**options)
        self.last: dict[str, list[Verdict]] = {}
        self._task: asyncio.Task[None] | None = None

    def mappers(self) -> dict[str, Any]:
        return {DATASET: mapper}

    async def import_all(self, submit: Submit) -> None:
        for feed in self.settings.feeds:
            self.last[feed.id] = await import_feed(feed.id, feed.path, submit,
                                                   self.settings.batch)

    async def start(self, submit: Submit, hub: Any = None) -> None:
        """Import the configured feeds in the background (the hub serves meanwhile)."""
        self._task = asyncio.create_task(self.import_all(submit), name="ingest-gtfs")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
