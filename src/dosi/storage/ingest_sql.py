"""DDL and statements of the ingest tables, shared by both backends (``?`` markers;
PostgreSQL swaps them for ``%s``)."""

from __future__ import annotations

from typing import Any

import orjson

from dosi.storage.ingest_base import DeadLetter, QualityCounters

SQLITE_DDL = """
CREATE TABLE IF NOT EXISTS ingest_doc (
  kind TEXT NOT NULL, id TEXT NOT NULL, doc TEXT NOT NULL,
  created_at TEXT NOT NULL, modified_at TEXT NOT NULL, PRIMARY KEY (kind, id));
CREATE TABLE IF NOT EXISTS ingest_dead (
  oid INTEGER PRIMARY KEY AUTOINCREMENT, dataset TEXT NOT NULL, source TEXT NOT NULL,
  reason TEXT NOT NULL, received_at TEXT NOT NULL, at TEXT NOT NULL, key TEXT,
  meta TEXT NOT NULL, payload BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS ingest_dead_ds ON ingest_dead (dataset, oid);
CREATE TABLE IF NOT EXISTS ingest_quality (
  dataset TEXT PRIMARY KEY, accepted INTEGER NOT NULL, flagged INTEGER NOT NULL,
  rejected INTEGER NOT NULL, attrs_present INTEGER NOT NULL, attrs_expected INTEGER NOT NULL,
  last_record_at TEXT, last_accepted_at TEXT);
CREATE TABLE IF NOT EXISTS ingest_seen (
  dataset TEXT NOT NULL, key TEXT NOT NULL, verdict TEXT NOT NULL, at TEXT NOT NULL,
  PRIMARY KEY (dataset, key));
"""

POSTGRES_DDL = (
    SQLITE_DDL.replace("oid INTEGER PRIMARY KEY AUTOINCREMENT", "oid BIGSERIAL PRIMARY KEY")
    .replace("payload BLOB", "payload BYTEA")
    .replace("INTEGER NOT NULL", "BIGINT NOT NULL")
)

INSERT_DOC = ("INSERT INTO ingest_doc (kind, id, doc, created_at, modified_at) "
              "VALUES (?, ?, ?, ?, ?) ON CONFLICT (kind, id) DO NOTHING")
REPLACE_DOC = "UPDATE ingest_doc SET doc = ?, modified_at = ? WHERE kind = ? AND id = ?"
UPSERT_DOC = ("INSERT INTO ingest_doc (kind, id, doc, created_at, modified_at) "
              "VALUES (?, ?, ?, ?, ?) ON CONFLICT (kind, id) DO UPDATE SET "
              "doc = excluded.doc, modified_at = excluded.modified_at")
GET_DOC = "SELECT doc FROM ingest_doc WHERE kind = ? AND id = ?"
LIST_DOCS = "SELECT doc FROM ingest_doc WHERE kind = ? ORDER BY id"
DELETE_DOC = "DELETE FROM ingest_doc WHERE kind = ? AND id = ?"
DELETE_DATASET_ROWS = (
    "DELETE FROM ingest_dead WHERE dataset = ?",
    "DELETE FROM ingest_quality WHERE dataset = ?",
    "DELETE FROM ingest_seen WHERE dataset = ?",
)
INSERT_DEAD = ("INSERT INTO ingest_dead (dataset, source, reason, received_at, at, key, meta, "
               "payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING oid")
REASON_DEAD = "UPDATE ingest_dead SET reason = ?, at = ? WHERE oid = ? AND dataset = ?"
DELETE_DEAD_ONE = "DELETE FROM ingest_dead WHERE oid = ? AND dataset = ?"
DELETE_DEAD_ALL = "DELETE FROM ingest_dead WHERE dataset = ?"
PAGE_DEAD = ("SELECT oid, dataset, source, reason, received_at, at, key, meta, payload "
             "FROM ingest_dead WHERE dataset = ? AND oid > ? ORDER BY oid LIMIT ? OFFSET ?")
COUNT_DEAD = "SELECT count(*) FROM ingest_dead WHERE dataset = ?"
_LATER = ("CASE WHEN ingest_quality.{c} IS NULL OR excluded.{c} > ingest_quality.{c} "
          "THEN excluded.{c} ELSE ingest_quality.{c} END")
BUMP_QUALITY = (
    "INSERT INTO ingest_quality (dataset, accepted, flagged, rejected, attrs_present, "
    "attrs_expected, last_record_at, last_accepted_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (dataset) DO UPDATE SET "
    + ", ".join(f"{c} = ingest_quality.{c} + excluded.{c}" for c in
                ("accepted", "flagged", "rejected", "attrs_present", "attrs_expected"))
    + ", last_record_at = " + _LATER.format(c="last_record_at")
    + ", last_accepted_at = " + _LATER.format(c="last_accepted_at")
)
GET_QUALITY = ("SELECT accepted, flagged, rejected, attrs_present, attrs_expected, "
               "last_record_at, last_accepted_at FROM ingest_quality WHERE dataset = ?")
UPSERT_SEEN = ("INSERT INTO ingest_seen (dataset, key, verdict, at) VALUES (?, ?, ?, ?) "
               "ON CONFLICT (dataset, key) DO UPDATE SET verdict = excluded.verdict")


def seen_query(n: int) -> str:
    return ("SELECT key, verdict FROM ingest_seen WHERE dataset = ? AND key IN ("
            + ",".join("?" * n) + ")")


def dumps(doc: Any) -> str:
    return orjson.dumps(doc).decode()


def loads(raw: Any) -> Any:
    return raw if isinstance(raw, (dict, list)) else orjson.loads(raw)


def dead_params(d: DeadLetter, now: str) -> tuple[Any, ...]:
    return (d.dataset, d.source, d.reason, d.received_at, now, d.key, dumps(d.meta),
            bytes(d.payload))


def dead_row(row: Any) -> DeadLetter:
    oid, dataset, source, reason, received_at, at, key, meta, payload = row
    return DeadLetter(dataset=dataset, source=source, reason=reason, received_at=received_at,
                      payload=bytes(payload), key=key, meta=loads(meta), at=at, id=int(oid))


def quality_params(dataset: str, q: QualityCounters) -> tuple[Any, ...]:
    return (dataset, q.accepted, q.flagged, q.rejected, q.attrs_present, q.attrs_expected,
            q.last_record_at, q.last_accepted_at)


def quality_row(row: Any) -> QualityCounters:
    if row is None:
        return QualityCounters()
    return QualityCounters(*(int(x) for x in row[:5]), row[5], row[6])  # type: ignore[arg-type]


def has_counts(q: QualityCounters) -> bool:
    return bool(q.accepted or q.flagged or q.rejected or q.last_record_at)
