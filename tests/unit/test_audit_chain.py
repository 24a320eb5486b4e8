"""The audit hash chain, pure: a clean chain verifies; each kind of tampering is
named."""

from __future__ import annotations

from dataclasses import replace

from dosi.security.chain import verify_rows
from dosi.storage.security_base import AuditEntry
from dosi.storage.security_sql import audit_row, chain


def rows(n: int) -> list:
    entries = [AuditEntry(f"2026-01-01T00:00:0{i}Z", "s", "a", "", f"t{i}", {"i": i})
               for i in range(n)]
    return [audit_row((*r[:6], r[6], r[7], r[8])) for r in chain(None, entries)]


def test_clean_chain_and_a_continued_one() -> None:
    first = rows(3)
    assert verify_rows(first).ok
    more = chain((first[-1].seq, first[-1].hash), [AuditEntry("t", "s", "a")])
    assert verify_rows(first + [audit_row(more[0])]).ok


def test_each_tampering_is_found() -> None:
    r = rows(4)
    changed = r[:1] + [replace(r[1], target="other")] + r[2:]
    assert "record 2 was changed" in verify_rows(changed).problem
    assert "record 3 is missing" in verify_rows(r[:2] + r[3:]).problem
    swapped = [r[0], replace(r[2], seq=2), replace(r[1], seq=3), r[3]]
    assert "record 2 does not follow" in verify_rows(swapped).problem
    rehashed = [r[0], replace(r[1], detail={"i": 9})]
    assert not verify_rows(rehashed).ok
