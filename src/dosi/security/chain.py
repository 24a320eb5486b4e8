"""The audit hash chain: each record's hash covers the previous record's hash and
every field of its own, so changing, deleting or reordering a record breaks it."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import orjson

GENESIS = "0" * 64


def record_hash(prev_hash: str, seq: int, at: str, subject: str, action: str, tenant: str,
                target: str, detail: dict[str, Any] | None) -> str:
    payload = orjson.dumps([prev_hash, seq, at, subject, action, tenant, target, detail],
                           option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(payload).hexdigest()


@dataclass
class ChainReport:
    """The outcome of ``verify``: how many records were checked and the first break."""

    checked: int
    ok: bool
    problem: str = ""
    seq: int | None = None


def verify_rows(rows: Any) -> ChainReport:
    """Walk ``AuditRow``s in stored order and check sequence, links and hashes."""
    prev, expected_seq, n = GENESIS, 1, 0
    for row in rows:
        n += 1
        if row.seq != expected_seq:
            what = "missing" if row.seq > expected_seq else "out of order"
            return ChainReport(n, False, f"record {expected_seq} is {what} (found {row.seq})",
                               row.seq)
        if row.prev_hash != prev:
            return ChainReport(n, False, f"record {row.seq} does not follow the record "
                               "before it (deleted or reordered)", row.seq)
        h = record_hash(row.prev_hash, row.seq, row.at, row.subject, row.action, row.tenant,
                        row.target, row.detail)
        if h != row.hash:
            return ChainReport(n, False, f"record {row.seq} was changed after it was written",
                               row.seq)
        prev, expected_seq = row.hash, expected_seq + 1
    return ChainReport(n, True)
