"""EntityStore.write: the one write primitive, on every backend."""

from __future__ import annotations

import asyncio
import copy

import pytest

from dosi.errors import AlreadyExistsError, BadRequestDataError, DosiError
from dosi.ngsild.query.ast import AttrPath, Comparison, EntityQuery, TypeName
from dosi.storage.base import UNCHANGED, Entity, Store, WriteOp

from .support import (
    EX,
    SENSOR,
    TEMP,
    create,
    delete,
    entity,
    geo,
    point,
    prop,
    put,
    update,
    urn,
)


async def test_create_then_get_round_trips(store: Store) -> None:
    e = entity(
        "a",
        i=1,
        scope=["/Seoul/Jung-gu"],
        temperature=prop(21.5, unitCode="CEL"),
        location=geo(point(126.978, 37.5665)),
        refDevice=[{"type": "Relationship", "object": "urn:ngsi-ld:Device:1"}],
    )
    [r] = await store.write("", [WriteOp(e["id"], create(e))])
    assert r.ok and r.before is None and r.after == e
    assert await store.get("", e["id"]) == e
    assert await store.get("", urn("nope")) is None


async def test_update_and_delete(store: Store) -> None:
    e = entity("a", temperature=prop(10))
    await put(store, e)
    [r] = await store.write("", [WriteOp(e["id"], update(temperature=prop(99)))])
    assert r.ok and r.before == e and r.after["attrs"][TEMP] == prop(99)
    assert (await store.get("", e["id"]))["attrs"][TEMP] == prop(99)  # type: ignore[index]
    [r] = await store.write("", [WriteOp(e["id"], delete)])
    assert r.ok and r.after is None and r.before is not None
    assert await store.get("", e["id"]) is None
    [r] = await store.write("", [WriteOp(e["id"], delete)])
    assert not r.ok


async def test_none_on_absent_entity_is_a_no_op(store: Store) -> None:
    [r] = await store.write("", [WriteOp(urn("ghost"), lambda cur: None)])
    assert r.ok and r.before is None and r.after is None
    assert await store.get("", urn("ghost")) is None


async def test_unchanged_leaves_the_stored_entity(store: Store) -> None:
    e = entity("a", temperature=prop(1))
    await put(store, e)
    [r] = await store.write("", [WriteOp(e["id"], lambda cur: UNCHANGED)])
    assert r.ok and r.before == e and r.after == e
    assert await store.get("", e["id"]) == e


async def test_already_exists_fails_only_that_op(store: Store) -> None:
    e = entity("a", temperature=prop(1))
    await put(store, e)
    other = entity("a", temperature=prop(2))
    [r] = await store.write("", [WriteOp(e["id"], create(other))])
    assert isinstance(r.error, AlreadyExistsError) and not r.ok
    assert await store.get("", e["id"]) == e


async def test_failing_op_in_a_batch_is_isolated(store: Store) -> None:
    a, b, c = entity("a", i=1), entity("b", i=2), entity("c", i=3)

    def boom(cur: Entity | None) -> Entity:
        raise BadRequestDataError("bad b")

    results = await store.write(
        "", [WriteOp(a["id"], create(a)), WriteOp(b["id"], boom), WriteOp(c["id"], create(c))]
    )
    assert [r.ok for r in results] == [True, False, True]
    assert isinstance(results[1].error, BadRequestDataError)
    assert await store.get("", a["id"]) == a
    assert await store.get("", b["id"]) is None
    assert await store.get("", c["id"]) == c


async def test_ops_on_one_entity_in_a_batch_see_each_other(store: Store) -> None:
    e = entity("a", temperature=prop(1))
    results = await store.write(
        "",
        [
            WriteOp(e["id"], create(e)),
            WriteOp(e["id"], update(temperature=prop(2))),
            WriteOp(e["id"], create(e)),  # fails: exists by now
            WriteOp(e["id"], update(name=prop("x"))),
        ],
    )
    assert [r.ok for r in results] == [True, True, False, True]
    assert results[1].before == e
    stored = await store.get("", e["id"])
    assert stored is not None
    assert stored["attrs"][TEMP] == prop(2) and stored["attrs"][EX + "name"] == prop("x")


async def test_delete_then_recreate_in_one_batch(store: Store) -> None:
    e = entity("a", SENSOR, temperature=prop(1))
    await put(store, e)
    new = entity("a", EX + "Other", i=5, name=prop("n"))
    results = await store.write("", [WriteOp(e["id"], delete), WriteOp(e["id"], create(new))])
    assert all(r.ok for r in results)
    assert await store.get("", e["id"]) == new
    types = {t.type: t for t in await store.types("")}
    assert set(types) == {EX + "Other"} and set(types[EX + "Other"].attributes) == {EX + "name"}


async def test_a_bug_in_a_write_function_fails_the_whole_call(store: Store) -> None:
    a = entity("a")

    def bug(cur: Entity | None) -> Entity:
        raise KeyError("bug")

    with pytest.raises(KeyError):
        await store.write("", [WriteOp(a["id"], create(a)), WriteOp(urn("b"), bug)])
    assert await store.get("", a["id"]) is None


async def test_indexes_follow_updates_and_deletes(store: Store) -> None:
    e = entity("a", temperature=prop(10))
    await put(store, e)
    hot = EntityQuery(q=Comparison(AttrPath(TEMP), ">", 50))
    assert (await store.query("", hot)).entities == []
    await store.write("", [WriteOp(e["id"], update(temperature=prop(60)))])
    assert [x["id"] for x in (await store.query("", hot)).entities] == [e["id"]]
    await store.write("", [WriteOp(e["id"], delete)])
    assert (await store.query("", hot)).entities == []
    assert await store.types("") == [] and await store.attributes("") == []


async def test_batch_of_1000_in_one_call(store: Store) -> None:
    entities = [
        entity(f"n{i}", i=i, temperature=prop(i), location=geo(point(127 + i / 1e4, 37.5)))
        for i in range(1000)
    ]
    results = await store.write("", [WriteOp(e["id"], create(e)) for e in entities])
    assert all(r.ok for r in results)
    res = await store.query("", EntityQuery(types=TypeName(SENSOR), limit=1000, count=True))
    assert res.count == 1000 and [x["id"] for x in res.entities] == [e["id"] for e in entities]
    # a batch update of all of them, then a batch delete
    results = await store.write(
        "", [WriteOp(e["id"], update(temperature=prop(-1))) for e in entities]
    )
    assert all(r.ok for r in results)
    cold = EntityQuery(q=Comparison(AttrPath(TEMP), "==", -1), limit=0, count=True)
    assert (await store.query("", cold)).count == 1000
    results = await store.write("", [WriteOp(e["id"], delete) for e in entities])
    assert all(r.ok for r in results)
    assert (await store.query("", cold)).count == 0


async def test_many_concurrent_writes_all_land(store: Store) -> None:
    """Group commit (SQLite) and the pool (PostgreSQL) must keep every caller's work."""

    async def writer(w: int) -> list[bool]:
        es = [entity(f"w{w}-{k}", i=w, temperature=prop(k)) for k in range(10)]
        ops = [WriteOp(e["id"], create(e)) for e in es]
        if w % 5 == 0:  # some callers also carry a failing op
            ops.append(WriteOp(es[0]["id"], create(es[0])))
        return [r.ok for r in await store.write("", ops)]

    outcomes = await asyncio.gather(*(writer(w) for w in range(60)))
    for w, oks in enumerate(outcomes):
        assert oks == [True] * 10 + ([False] if w % 5 == 0 else [])
    res = await store.query("", EntityQuery(types=TypeName(SENSOR), limit=0, count=True))
    assert res.count == 600
    writer = getattr(store, "_writer", None)
    if writer is not None:  # SQLite: queued callers shared transactions
        assert writer.groups < writer.jobs


async def test_concurrent_failing_caller_does_not_lose_others(store: Store) -> None:
    def bug(cur: Entity | None) -> Entity:
        raise RuntimeError("bug")

    async def good(w: int) -> None:
        e = entity(f"g{w}")
        [r] = await store.write("", [WriteOp(e["id"], create(e))])
        assert r.ok

    async def bad(w: int) -> None:
        e = entity(f"b{w}")
        with pytest.raises(RuntimeError):
            await store.write("", [WriteOp(e["id"], create(e)), WriteOp(urn("x"), bug)])

    await asyncio.gather(*(good(w) if w % 2 else bad(w) for w in range(40)))
    for w in range(1, 40, 2):
        assert await store.get("", urn(f"g{w}")) is not None
    for w in range(0, 40, 2):
        assert await store.get("", urn(f"b{w}")) is None


async def test_concurrent_updates_of_one_entity_serialise(store: Store) -> None:
    e = entity("counter", temperature=prop(0))
    await put(store, e)

    def incr(cur: Entity | None) -> Entity:
        assert cur is not None
        new = copy.deepcopy(cur)
        new["attrs"][TEMP][0]["value"] += 1
        return new

    await asyncio.gather(*(store.write("", [WriteOp(e["id"], incr)]) for _ in range(50)))
    stored = await store.get("", e["id"])
    assert stored is not None and stored["attrs"][TEMP][0]["value"] == 50


async def test_tenants_are_isolated(store: Store) -> None:
    a = entity("a", temperature=prop(1))
    assert not await store.tenant_exists("t1")
    await put(store, a, tenant="t1")
    assert await store.tenant_exists("t1")
    assert not await store.tenant_exists("t2")
    assert await store.get("", a["id"]) is None and await store.get("t2", a["id"]) is None
    await put(store, entity("a", temperature=prop(2)), tenant="t2")
    assert (await store.get("t1", a["id"]))["attrs"][TEMP] == prop(1)  # type: ignore[index]
    assert (await store.get("t2", a["id"]))["attrs"][TEMP] == prop(2)  # type: ignore[index]
    q = EntityQuery(q=Comparison(AttrPath(TEMP), "==", 1), count=True)
    assert (await store.query("t1", q)).count == 1
    assert (await store.query("t2", q)).count == 0
    assert (await store.query("", q)).count == 0
    assert await store.purge("t2", EntityQuery()) == 1
    assert await store.get("t1", a["id"]) is not None
    assert [t.type for t in await store.types("t1")] == [SENSOR]
    assert await store.types("t2") == []


async def test_failed_writes_do_not_create_a_tenant(store: Store) -> None:
    def boom(cur: Entity | None) -> Entity:
        raise DosiError("no")

    await store.write("t3", [WriteOp(urn("a"), boom)])
    assert not await store.tenant_exists("t3")


async def test_an_entity_the_database_refuses_fails_only_its_op(store: Store) -> None:
    """PostGIS refuses an unknown geometry type; SQLite keeps it (never queried)."""
    a, c = entity("a", i=1), entity("c", i=3)
    b = entity("b", i=2, location=geo({"type": "Circle", "coordinates": [1, 2]}))
    results = await store.write("", [WriteOp(e["id"], create(e)) for e in (a, b, c)])
    assert results[0].ok and results[2].ok
    assert await store.get("", a["id"]) == a and await store.get("", c["id"]) == c
    if results[1].ok:
        assert await store.get("", b["id"]) == b
    else:
        assert isinstance(results[1].error, BadRequestDataError)
        assert await store.get("", b["id"]) is None


async def test_two_processes_creating_the_same_entities(store: Store, other_store: Store) -> None:
    """Each entity is created once; the loser of each race sees AlreadyExists."""
    entities = [entity(f"race{i}", i=i, temperature=prop(i)) for i in range(200)]

    async def create_all(s: Store, order: list[Entity]) -> list[bool]:
        oks: list[bool] = []
        for k in range(0, len(order), 20):
            chunk = order[k : k + 20]
            for r in await s.write("", [WriteOp(e["id"], create(e)) for e in chunk]):
                assert r.ok or isinstance(r.error, AlreadyExistsError)
                oks.append(r.ok)
        return oks

    a, b = await asyncio.gather(create_all(store, entities), create_all(other_store, entities))
    assert [x + y for x, y in zip(a, b)] == [1] * len(entities)
    res = await store.query("", EntityQuery(limit=0, count=True))
    assert res.count == len(entities)
    assert {t.type: t.entity_count for t in await other_store.types("")} == {SENSOR: 200}
