"""History capture on PostgreSQL: the step each write transaction runs after the entity
rows are written (``storage.history`` decides what is recorded; this writes it).

With the integers of entities and attributes it knows (``history.KnownIds``), a
write in the steady state sends its instances in one statement: no lookups, no joins.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import orjson
import psycopg

from dosi.storage.base import OpResult, WriteOp
from dosi.storage.history import Capture, HistoryPolicy, HistoryRow, KnownIds, capture
from dosi.storage.plan import Change
from dosi.storage.temporal_pg_partitions import dt, month_of
from dosi.storage.temporal_pg_rollup import LATE, mark_dirty_sql


async def capture_history(
    conn: psycopg.AsyncConnection[Any],
    tenant: str,
    policy: HistoryPolicy,
    ops: Sequence[WriteOp],
    results: Sequence[OpResult],
    changes: Sequence[Change],
    known: KnownIds,
) -> tuple[set[int], KnownIds]:
    """Record the history of one write in its transaction; returns the months
    (year * 12 + month - 1) of the rows, for the partition maintenance, and the ids
    learnt (to keep once the transaction has committed)."""
    cap = capture(tenant, policy, ops, results, changes, int(time.time() * 1000))
    learnt = KnownIds()
    if not (cap.purge or cap.headers or cap.rows):
        return set(), learnt
    try:
        await _write_capture(conn, tenant, cap, known, learnt)
    except psycopg.errors.CheckViolation as exc:
        # the row was routed to the default partition just before a month partition was
        # attached for it: the write is retried and then routed to the new partition
        raise psycopg.errors.SerializationFailure(str(exc)) from exc
    return {y * 12 + m - 1 for y, m in (month_of(r.ts) for r in cap.rows)}, learnt


async def _ids(
    conn: psycopg.AsyncConnection[Any], tenant: str, cap: Capture, known: KnownIds, learnt: KnownIds
) -> tuple[dict[str, int], dict[str, int]]:
    """tid of each entity of the capture and aid of each attribute: headers of new or
    retyped entities written, unseen ones looked up (one round trip when all are known)."""
    tids = {eid: known.tids.get((tenant, eid)) for eid in cap.headers}
    write = [eid for eid, tid in tids.items() if tid is None or eid in cap.new_types]
    attrs = {r.attr: known.aids.get(r.attr) for r in cap.rows}
    new_attrs = sorted(a for a, aid in attrs.items() if aid is None)
    if write or new_attrs:
        async with conn.pipeline():
            if write:
                await conn.execute(
                    "INSERT INTO temporal_entity (tenant, id, types) SELECT %s, v.id, v.types "
                    "FROM unnest(%b::text[], %b::text[]::jsonb[]) AS v(id, types) WHERE NOT "
                    "EXISTS (SELECT 1 FROM temporal_entity t WHERE t.tenant = %s AND t.id = v.id "
                    "AND t.types = v.types) ON CONFLICT (tenant, id) DO UPDATE "
                    "SET types = EXCLUDED.types",
                    (
                        tenant,
                        write,
                        [orjson.dumps(cap.headers[eid]).decode() for eid in write],
                        tenant,
                    ),
                )
                cur_t = await conn.execute(
                    "SELECT id, tid FROM temporal_entity WHERE tenant = %s AND id = ANY(%b)",
                    (tenant, write),
                )
            if new_attrs:
                await conn.execute(
                    "INSERT INTO temporal_attr (iri) SELECT a FROM unnest(%b::text[]) AS a "
                    "WHERE NOT EXISTS (SELECT 1 FROM temporal_attr t WHERE t.iri = a) "
                    "ON CONFLICT DO NOTHING",
                    (new_attrs,),
                )
                cur_a = await conn.execute(
                    "SELECT iri, aid FROM temporal_attr WHERE iri = ANY(%b)", (new_attrs,)
                )
        if write:
            for eid, tid in await cur_t.fetchall():
                tids[eid] = learnt.tids[(tenant, eid)] = tid
        if new_attrs:
            for iri, aid in await cur_a.fetchall():
                attrs[iri] = learnt.aids[iri] = aid
    return tids, attrs  # type: ignore[return-value]


async def _write_capture(
    conn: psycopg.AsyncConnection[Any], tenant: str, cap: Capture, known: KnownIds, learnt: KnownIds
) -> None:
    if cap.purge:
        async with conn.pipeline():
            for table in ("attr_history", "attr_rollup_day"):
                await conn.execute(
                    f"DELETE FROM {table} WHERE tid IN (SELECT tid FROM temporal_entity "
                    "WHERE tenant = %s AND id = ANY(%s))",
                    (tenant, cap.purge),
                )
    if not cap.headers:
        return
    tids, aids = await _ids(conn, tenant, cap, known, learnt)
    rows = cap.rows
    if not rows:
        return
    tid = [tids[r.entity_id] for r in rows]
    aid = [aids[r.attr] for r in rows]
    async with conn.pipeline():
        if cap.replace:
            keyed = [i for i, r in enumerate(rows) if r.observed_at is not None]
            await conn.execute(
                "DELETE FROM attr_history h USING unnest(%b::int8[], %b::int8[], %b::text[], "
                "%b::timestamptz[]) AS v(tid, aid, ds, obs) WHERE h.tid = v.tid AND "
                "h.aid = v.aid AND h.ts = v.obs AND h.dataset = v.ds AND h.observed_at = v.obs",
                (
                    [tid[i] for i in keyed],
                    [aid[i] for i in keyed],
                    [rows[i].dataset for i in keyed],
                    [dt(rows[i].observed_at or 0) for i in keyed],
                ),
            )
        await conn.execute(
            "INSERT INTO attr_history (tid, aid, dataset, instance, ts, observed_at, "
            f"created_at, deleted_at, num, doc) SELECT v.tid, v.aid, v.ds, "
            f"gen_random_uuid(), {_T('v.ts')}, {_T('v.obs')}, {_T('v.cr')}, "
            f"{_T('v.del')}, v.num, v.doc FROM unnest(%b::int8[], %b::int8[], %b::text[], "
            "%b::int8[], %b::int8[], %b::int8[], %b::int8[], %b::float8[], "
            "%b::text[]::jsonb[]) AS v(tid, aid, ds, ts, obs, cr, del, num, doc)",
            (
                tid,
                aid,
                [r.dataset for r in rows],
                [r.ts for r in rows],
                [r.observed_at for r in rows],
                [r.created_at for r in rows],
                [r.deleted_at for r in rows],
                [r.num for r in rows],
                [r.doc for r in rows],
            ),
        )
        await _mark_late(conn, rows, tid)


async def _mark_late(
    conn: psycopg.AsyncConnection[Any], rows: Sequence[HistoryRow], tids: list[int]
) -> None:
    """Instances for hours the rollups may already cover: those hours get recomputed."""
    late = time.time() * 1000 - LATE
    old = [i for i, r in enumerate(rows) if r.ts < late and r.deleted_at is None]
    if old:
        await conn.execute(mark_dirty_sql(), ([tids[i] for i in old], [rows[i].ts for i in old]))


def _T(ms: str) -> str:
    """SQL: epoch milliseconds (bigint) as timestamptz, exactly."""
    return f"('epoch'::timestamptz + {ms} * interval '1 millisecond')"


async def purge_history(conn: psycopg.AsyncConnection[Any], tenant: str, rids: list[int]) -> None:
    """DELETE /entities (purge): the history of the purged entities (before they go)."""
    for table in ("attr_history", "attr_rollup_day"):
        await conn.execute(
            f"DELETE FROM {table} WHERE tid IN (SELECT t.tid FROM temporal_entity t "
            "JOIN entity e ON e.tenant = t.tenant AND e.id = t.id WHERE t.tenant = %s "
            "AND e.rid = ANY(%s::bigint[]))",
            (tenant, rids),
        )
