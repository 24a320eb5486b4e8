"""``dosi export``: the history of a query written to Parquet or CSV, streaming, for
pandas / polars / DuckDB users working offline.

Entities are selected page by page with the core query (type, q, ...); each entity's
instances are read in keyset-paged batches (``TemporalStore.export``) and written as
they come, so memory stays flat whatever the size of the history.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Protocol

import orjson

from dosi.ngsild.entity import CONTENT_KEYS
from dosi.ngsild.query.ast import EntityQuery
from dosi.ngsild.temporal import iso
from dosi.storage.base import HistoryQuery, HistoryStore, StoredInstance

COLUMNS = (
    "entity_id",
    "entity_type",
    "attribute",
    "dataset_id",
    "instance_id",
    "kind",
    "observed_at",
    "created_at",
    "modified_at",
    "number",
    "value",
    "unit_code",
)
_PAGE = 200  # entities per query page
_BATCH = 5_000  # rows per written batch


@dataclass
class Row:
    """One exported instance; times are epoch ms, ``value`` the content as JSON text."""

    entity_id: str
    entity_type: str
    attribute: str
    dataset_id: str | None
    instance_id: str
    kind: str
    observed_at: int | None
    created_at: int
    modified_at: int
    number: float | None
    value: str
    unit_code: str | None


def row_of(entity_id: str, entity_type: str, inst: StoredInstance) -> Row:
    doc = inst.doc
    content = next((doc[k] for k in CONTENT_KEYS if k in doc), None)
    number = (
        float(content)
        if isinstance(content, (int, float)) and not isinstance(content, bool)
        else None
    )
    return Row(
        entity_id,
        entity_type,
        inst.attr,
        inst.dataset or None,
        inst.instance_id,
        doc.get("type", "Property"),
        inst.observed_at,
        inst.created_at,
        inst.modified_at,
        number,
        orjson.dumps(content).decode(),
        doc.get("unitCode"),
    )


class RowWriter(Protocol):
    def write(self, rows: list[Row]) -> None: ...

    def close(self) -> None: ...


class CsvWriter:
    """CSV with a header line; times as ISO 8601 UTC."""

    def __init__(self, path: str) -> None:
        self._file = open(path, "w", newline="", encoding="utf-8")  # noqa: SIM115
        self._csv = csv.writer(self._file)
        self._csv.writerow(COLUMNS)

    def write(self, rows: list[Row]) -> None:
        for r in rows:
            self._csv.writerow(
                [
                    r.entity_id,
                    r.entity_type,
                    r.attribute,
                    r.dataset_id or "",
                    r.instance_id,
                    r.kind,
                    iso(r.observed_at) if r.observed_at is not None else "",
                    iso(r.created_at),
                    iso(r.modified_at),
                    "" if r.number is None else repr(r.number),
                    r.value,
                    r.unit_code or "",
                ]
            )

    def close(self) -> None:
        self._file.close()


class ParquetWriter:
    """Parquet (pyarrow), one row group per batch; times as UTC millisecond timestamps."""

    def __init__(self, path: str) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        ts = pa.timestamp("ms", tz="UTC")
        self._pa = pa
        self._schema = pa.schema(
            [
                ("entity_id", pa.string()),
                ("entity_type", pa.string()),
                ("attribute", pa.string()),
                ("dataset_id", pa.string()),
                ("instance_id", pa.string()),
                ("kind", pa.string()),
                ("observed_at", ts),
                ("created_at", ts),
                ("modified_at", ts),
                ("number", pa.float64()),
                ("value", pa.string()),
                ("unit_code", pa.string()),
            ]
        )
        self._writer = pq.ParquetWriter(path, self._schema, compression="zstd")

    def write(self, rows: list[Row]) -> None:
        cols = {name: [getattr(r, name) for r in rows] for name in COLUMNS}
        self._writer.write_table(self._pa.Table.from_pydict(cols, schema=self._schema))

    def close(self) -> None:
        self._writer.close()


def open_writer(path: str, fmt: str) -> RowWriter:
    if fmt == "csv":
        return CsvWriter(path)
    if fmt == "parquet":
        return ParquetWriter(path)
    raise ValueError(f"unknown export format {fmt!r}: use parquet or csv")


async def count_entities(store: HistoryStore, tenant: str, query: EntityQuery) -> int:
    result = await store.query(tenant, replace(query, limit=1, offset=0, count=True))
    return result.count or 0


async def export_history(
    store: HistoryStore,
    tenant: str,
    query: EntityQuery,
    hq: HistoryQuery,
    writer: RowWriter,
    progress: Callable[[int, int], Any] = lambda entities, rows: None,
) -> int:
    """Write the history of every entity ``query`` selects; returns the rows written.
    ``progress(entities, rows_done)`` is called after each page of entities."""
    hq = replace(hq, limit=_BATCH)
    offset = rows = 0
    batch: list[Row] = []
    while True:
        page = await store.query(tenant, replace(query, limit=_PAGE, offset=offset, count=False))
        if not page.entities:
            break
        types = {e["id"]: e["type"][0] for e in page.entities}
        async for eid, inst in store.export(tenant, list(types), hq):
            batch.append(row_of(eid, types[eid], inst))
            if len(batch) >= _BATCH:
                writer.write(batch)
                rows += len(batch)
                batch = []
        if batch:
            writer.write(batch)
            rows += len(batch)
            batch = []
        offset += len(page.entities)
        progress(len(page.entities), rows)
        if len(page.entities) < _PAGE:
            break
    return rows
