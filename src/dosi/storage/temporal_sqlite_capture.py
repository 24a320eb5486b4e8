"""History capture on SQLite: the step the writer thread runs inside each write
transaction after the entity rows are written (``storage.history`` decides what is
recorded; this writes it), and the id lookups the reads share.

With the integers of entities and attributes it knows (``history.KnownIds``), a write
in the steady state inserts its instances without looking anything up.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
from typing import Any

import orjson

from dosi.storage.base import OpResult, WriteOp
from dosi.storage.history import HistoryPolicy, KnownIds, capture
from dosi.storage.plan import Change

_INSERT = (
    "INSERT INTO attr_history (tid, aid, dataset, instance, ts, observed_at, created_at, "
    "deleted_at, num, doc) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def chunks(items: Sequence[Any], n: int = 500) -> list[Sequence[Any]]:
    return [items[i : i + n] for i in range(0, len(items), n)]


def ids_of(conn: sqlite3.Connection, tenant: str, ids: Sequence[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for chunk in chunks(list(dict.fromkeys(ids))):
        out.update(
            conn.execute(
                f"SELECT id, tid FROM temporal_entity WHERE tenant = ? AND id IN "
                f"({','.join('?' * len(chunk))})",
                (tenant, *chunk),
            ).fetchall()
        )
    return out


def aids_of(conn: sqlite3.Connection, iris: Sequence[str], create: bool = False) -> dict[str, int]:
    iris = list(dict.fromkeys(iris))
    if create:
        conn.executemany(
            "INSERT OR IGNORE INTO temporal_attr (iri) VALUES (?)", [(i,) for i in iris]
        )
    out: dict[str, int] = {}
    for chunk in chunks(iris):
        out.update(
            conn.execute(
                f"SELECT iri, aid FROM temporal_attr WHERE iri IN ({','.join('?' * len(chunk))})",
                chunk,
            ).fetchall()
        )
    return out


def capture_history(
    conn: sqlite3.Connection,
    tenant: str,
    policy: HistoryPolicy,
    ops: Sequence[WriteOp],
    results: Sequence[OpResult],
    changes: Sequence[Change],
    known: KnownIds,
    learnt: KnownIds,
) -> None:
    """Record the history of one write, in its transaction (the writer thread); the
    integers of entities and attributes it looks up or creates go to ``learnt``, to
    be kept in ``known`` once the transaction has committed."""
    cap = capture(tenant, policy, ops, results, changes, int(time.time() * 1000))
    if cap.purge:
        tids = ids_of(conn, tenant, cap.purge)
        conn.executemany("DELETE FROM attr_history WHERE tid = ?", [(t,) for t in tids.values()])
    if not (cap.headers or cap.rows):
        return
    cached = known.tids
    tids = {eid: cached[(tenant, eid)] for eid in cap.headers if (tenant, eid) in cached}
    unseen = [eid for eid in cap.headers if eid not in tids]
    if unseen:
        tids.update(ids_of(conn, tenant, unseen))
    headers = [
        (eid, t) for eid, t in cap.headers.items() if eid in cap.new_types or eid not in tids
    ]
    if headers:  # new entities, new types, or history that starts now
        conn.executemany(
            "INSERT INTO temporal_entity (tenant, id, types) VALUES (?, ?, ?) "
            "ON CONFLICT (tenant, id) DO UPDATE SET types = excluded.types "
            "WHERE types <> excluded.types",
            [(tenant, eid, orjson.dumps(types).decode()) for eid, types in headers],
        )
        tids.update(ids_of(conn, tenant, [eid for eid, _ in headers if eid not in tids]))
    learnt.tids.update(((tenant, eid), tids[eid]) for eid in unseen if eid in tids)
    learnt.tids.update(((tenant, eid), tids[eid]) for eid, _ in headers if eid in tids)
    if not cap.rows:
        return
    aids = {r.attr: known.aids.get(r.attr) for r in cap.rows}
    missing = [a for a, aid in aids.items() if aid is None]
    if missing:
        aids.update(aids_of(conn, missing, create=True))
        learnt.aids.update((a, aids[a]) for a in missing)
    if cap.replace:
        conn.executemany(
            "DELETE FROM attr_history WHERE tid = ? AND aid = ? AND dataset = ? AND ts = ? "
            "AND observed_at = ?",
            [
                (tids[r.entity_id], aids[r.attr], r.dataset, r.ts, r.observed_at)
                for r in cap.rows
                if r.observed_at is not None
            ],
        )
    conn.executemany(
        _INSERT,
        [  # unpacked: cheaper than reading the fields by name, thousands per batch
            (
                tids[eid],
                aids[attr],
                dataset,
                inst.to_bytes(16, "big"),
                ts,
                obs,
                created,
                deleted,
                num,
                doc,
            )
            for eid, attr, dataset, inst, ts, obs, created, _, deleted, num, doc in cap.rows
        ],
    )


def purge_history(conn: sqlite3.Connection, tenant: str, rid_select: str) -> None:
    """DELETE /entities (purge): the history of the entities ``rid_select`` names."""
    conn.execute(
        f"DELETE FROM attr_history WHERE tid IN (SELECT t.tid FROM temporal_entity t "
        f"JOIN entity e ON e.tenant = t.tenant AND e.id = t.id WHERE t.tenant = ? "
        f"AND e.rid IN ({rid_select}))",
        (tenant,),
    )
