"""The temporal contract: history capture in the write path and ``TemporalStore``,
on every backend (the ``store`` fixture runs each test on SQLite and PostgreSQL)."""

from __future__ import annotations

import copy
from typing import Any

from dosi.ngsild.temporal import Duration, TimeFilter, to_ms
from dosi.storage.base import (
    AggregateQuery,
    HistoryQuery,
    RetentionRule,
    Store,
    WriteOp,
)
from dosi.storage.history import HistoryPolicy
from tests.contract.support import EX, SENSOR, create, delete, entity, prop, urn

SPEED = EX + "speed"
TEMP = EX + "temperature"
T0 = "2020-08-01T12:00:00Z"


def obs(minutes: int) -> str:
    return f"2020-08-01T{12 + minutes // 60:02d}:{minutes % 60:02d}:00Z"


def observed(value: Any, minutes: int, **extra: Any) -> list[dict[str, Any]]:
    return prop(value, observedAt=obs(minutes), **extra)


def set_attrs(**attrs: list[dict[str, Any]]):
    def fn(cur: dict[str, Any] | None) -> dict[str, Any]:
        assert cur is not None
        new = copy.deepcopy(cur)
        for k, v in attrs.items():
            new["attrs"][EX + k] = v
        new["modifiedAt"] = "2026-06-01T00:00:00.000Z"
        return new

    return fn


def drop_attr(name: str):
    def fn(cur: dict[str, Any] | None) -> dict[str, Any]:
        assert cur is not None
        new = copy.deepcopy(cur)
        del new["attrs"][EX + name]
        new["modifiedAt"] = "2026-06-01T00:00:00.000Z"
        return new

    return fn


async def write(store: Store, eid: str, fn: Any, history: Any = None) -> None:
    [r] = await store.write("", [WriteOp(eid, fn, history=history)])
    assert r.ok, r.error


async def values(store: Store, eid: str, attr: str = SPEED, **kw: Any) -> list[Any]:
    h = await store.history("", [eid], HistoryQuery(attrs=(attr,), **kw))  # type: ignore[attr-defined]
    return [i.doc.get("value") for i in h[eid].instances] if eid in h else []


async def test_create_and_changed_updates_are_recorded(store: Store) -> None:
    eid = urn("car")
    await write(store, eid, create(entity(eid, speed=observed(50, 1), temperature=prop(20))))
    await write(store, eid, set_attrs(speed=observed(60, 2)))
    await write(store, eid, set_attrs(speed=observed(60, 2)))  # same content: no new instance
    assert await values(store, eid) == [50, 60]
    assert await values(store, eid, TEMP) == [20]


async def test_instances_keep_metadata_and_get_instance_ids(store: Store) -> None:
    eid = urn("car")
    await write(
        store,
        eid,
        create(entity(eid, speed=observed(50, 1, unitCode="KMH", datasetId="urn:ds:gps"))),
    )
    h = await store.history("", [eid], HistoryQuery())  # type: ignore[attr-defined]
    [inst] = h[eid].instances
    assert inst.dataset == "urn:ds:gps" and inst.doc["unitCode"] == "KMH"
    assert inst.observed_at == to_ms(obs(1))
    assert inst.instance_id.startswith("urn:ngsi-ld:attribute:instance:")
    assert h[eid].types == [SENSOR]


async def test_deleted_attribute_leaves_a_marker_seen_only_by_deleted_at(store: Store) -> None:
    eid = urn("car")
    await write(store, eid, create(entity(eid, speed=observed(50, 1), temperature=prop(20))))
    await write(store, eid, drop_attr("speed"))
    assert await values(store, eid) == [50]
    marks = await values(store, eid, time=TimeFilter(timeproperty="deletedAt"))
    assert marks == ["urn:ngsi-ld:null"]


async def test_entity_delete_removes_its_history(store: Store) -> None:
    eid = urn("car")
    await write(store, eid, create(entity(eid, speed=observed(50, 1))))
    await write(store, eid, delete)
    assert await store.history("", [eid], HistoryQuery()) == {}  # type: ignore[attr-defined]
    assert await store.history_types("", eid) is None  # type: ignore[attr-defined]


async def test_explicit_history_replaces_same_observation(store: Store) -> None:
    eid = urn("car")
    e = entity(eid, speed=observed(80, 5))
    hist = [(SPEED, observed(120, 3)[0]), (SPEED, observed(80, 5)[0])]
    await write(store, eid, create(e), history=hist)
    again = [(SPEED, observed(121, 3)[0]), (SPEED, observed(100, 7)[0])]
    await write(store, eid, set_attrs(speed=observed(100, 7)), history=again)
    assert await values(store, eid) == [121, 80, 100]


async def test_time_filters_last_n_and_limit(store: Store) -> None:
    eid = urn("car")
    hist = [(SPEED, observed(v, v)[0]) for v in range(10)]
    await write(store, eid, create(entity(eid, speed=observed(9, 9))), history=hist)
    after = TimeFilter("after", to_ms(obs(6)))
    assert await values(store, eid, time=after) == [7, 8, 9]
    before = TimeFilter("before", to_ms(obs(2)))
    assert await values(store, eid, time=before) == [0, 1]
    between = TimeFilter("between", to_ms(obs(3)), to_ms(obs(5)))
    assert await values(store, eid, time=between) == [3, 4]
    assert await values(store, eid, last_n=3) == [9, 8, 7]
    h = await store.history("", [eid], HistoryQuery(limit=4))  # type: ignore[attr-defined]
    assert [i.doc["value"] for i in h[eid].instances] == [0, 1, 2, 3] and h[eid].truncated
    h = await store.history("", [eid], HistoryQuery(limit=10))  # type: ignore[attr-defined]
    assert not h[eid].truncated


async def test_dataset_filter(store: Store) -> None:
    eid = urn("car")
    hist = [(SPEED, observed(1, 1)[0]), (SPEED, observed(2, 2, datasetId="urn:ds:a")[0])]
    await write(store, eid, create(entity(eid, speed=observed(1, 1))), history=hist)
    assert await values(store, eid, datasets=frozenset({""})) == [1]
    assert await values(store, eid, datasets=frozenset({"urn:ds:a"})) == [2]


async def test_aggregates_by_fixed_and_calendar_periods(store: Store) -> None:
    eid = urn("car")
    hist = [(SPEED, observed(v, m)[0]) for v, m in ((10, 0), (20, 30), (30, 61), (40, 62))]
    await write(store, eid, create(entity(eid, speed=observed(40, 62))), history=hist)
    q = AggregateQuery(
        methods=("avg", "min", "max", "sum", "totalCount", "stddev", "sumsq", "distinctCount"),
        period=Duration(ms=3_600_000),
    )
    [series] = (await store.aggregate("", [eid], q))[eid]  # type: ignore[attr-defined]
    (s1, e1, a), (s2, _, b) = series.as_dicts()
    assert (s1, e1, s2) == (to_ms(obs(0)), to_ms(obs(60)), to_ms(obs(60)))
    assert a["avg"] == 15.0 and a["min"] == 10.0 and a["max"] == 20.0 and a["sum"] == 30.0
    assert a["totalCount"] == 2 and a["sumsq"] == 500.0 and a["distinctCount"] == 2
    assert abs(a["stddev"] - 7.0710678) < 1e-6 and b["avg"] == 35.0
    month = AggregateQuery(methods=("totalCount",), period=Duration(months=1))
    [series] = (await store.aggregate("", [eid], month))[eid]  # type: ignore[attr-defined]
    assert [(b[2]["totalCount"]) for b in series.as_dicts()] == [4]
    assert series.buckets[0][1] == to_ms("2020-09-01T12:00:00Z")


async def test_update_and_delete_one_instance(store: Store) -> None:
    eid = urn("car")
    hist = [(SPEED, observed(1, 1)[0]), (SPEED, observed(2, 2)[0])]
    await write(store, eid, create(entity(eid, speed=observed(2, 2))), history=hist)
    h = await store.history("", [eid], HistoryQuery())  # type: ignore[attr-defined]
    first, second = (i.instance_id for i in h[eid].instances)
    assert await store.update_instance("", eid, SPEED, first, {"type": "Property", "value": 9})  # type: ignore[attr-defined]
    assert await store.delete_instance("", eid, SPEED, second)  # type: ignore[attr-defined]
    assert not await store.delete_instance("", eid, SPEED, second)  # type: ignore[attr-defined]
    assert await values(store, eid) == [9]


async def test_delete_attribute_history_by_dataset_or_all(store: Store) -> None:
    eid = urn("car")
    hist = [(SPEED, observed(1, 1)[0]), (SPEED, observed(2, 2, datasetId="urn:ds:a")[0])]
    await write(store, eid, create(entity(eid, speed=observed(1, 1))), history=hist)
    assert await store.delete_attr_history("", eid, SPEED, None, False) == 1  # type: ignore[attr-defined]
    assert await values(store, eid) == [2]
    assert await store.delete_attr_history("", eid, SPEED, None, True) == 1  # type: ignore[attr-defined]
    assert await store.delete_attr_history("", eid, TEMP, None, True) == 0  # type: ignore[attr-defined]


async def test_retention_most_specific_rule_wins(store: Store) -> None:
    car, room = urn("car"), urn("room")
    await write(store, car, create(entity(car, EX + "Car", speed=observed(1, 1))))
    await write(store, room, create(entity(room, SENSOR, speed=observed(1, 1))))
    now = to_ms("2020-08-11T12:00:00Z")
    day = 86_400_000
    rules = [RetentionRule(5 * day), RetentionRule(30 * day, type=SENSOR)]
    assert await store.enforce_retention(rules, now, 1) == 1  # type: ignore[attr-defined]
    assert await values(store, car) == [] and await values(store, room) == [1]


async def test_export_streams_every_instance_in_order(store: Store) -> None:
    eid = urn("car")
    hist = [(SPEED, observed(v, v)[0]) for v in range(7)]
    await write(store, eid, create(entity(eid, speed=observed(6, 6))), history=hist)
    got = [i.doc["value"] async for _, i in store.export("", [eid], HistoryQuery(limit=3))]  # type: ignore[attr-defined]
    assert got == list(range(7))


async def test_purge_removes_history(store: Store) -> None:
    from dosi.ngsild.query.ast import EntityQuery

    eid = urn("car")
    await write(store, eid, create(entity(eid, speed=observed(1, 1))))
    await store.purge("", EntityQuery(ids=(eid,)))
    assert await store.history("", [eid], HistoryQuery()) == {}  # type: ignore[attr-defined]


async def test_policy_turns_history_off_per_type_and_tenant(store: Store) -> None:
    store.history_policy = HistoryPolicy(
        off_types=frozenset({SENSOR}),  # type: ignore[attr-defined]
        off_tenants=frozenset({"lab"}),
    )
    car, room = urn("car"), urn("room")
    await write(store, car, create(entity(car, EX + "Car", speed=observed(1, 1))))
    await write(store, room, create(entity(room, SENSOR, speed=observed(1, 1))))
    [r] = await store.write(
        "lab", [WriteOp(car, create(entity(car, EX + "Car", speed=observed(1, 1))))]
    )
    assert r.ok
    assert await values(store, car) == [1] and await values(store, room) == []
    assert await store.history("lab", [car], HistoryQuery()) == {}  # type: ignore[attr-defined]


async def test_aggregates_stay_exact_through_rollups_late_data_and_edits(store: Store) -> None:
    """PostgreSQL answers from hourly rollups where it can: the answer must not change."""
    eid = urn("car")
    hist = [(SPEED, observed(v, m)[0]) for v, m in ((10, 0), (20, 30), (30, 61), (40, 125))]
    await write(store, eid, create(entity(eid, speed=observed(40, 125))), history=hist)
    tf = TimeFilter("between", to_ms(obs(0)), to_ms(obs(180)))
    q = AggregateQuery(
        time=tf,
        methods=("avg", "max", "totalCount", "stddev"),
        period=Duration(ms=3_600_000),
        origin=to_ms(obs(0)),
    )

    async def answer() -> list[tuple[int, dict[str, Any]]]:
        [series] = (await store.aggregate("", [eid], q))[eid]  # type: ignore[attr-defined]
        return [(start, values) for start, _, values in series.as_dicts()]

    before = await answer()
    assert [v["avg"] for _, v in before] == [15.0, 30.0, 40.0]
    now = to_ms("2021-01-01T00:00:00Z")
    await store.maintain_history(now)  # type: ignore[attr-defined]
    assert await answer() == before
    await write(
        store, eid, set_attrs(speed=observed(50, 126)), history=[(SPEED, observed(50, 126)[0])]
    )  # late data in a rolled-up hour
    h = await store.history("", [eid], HistoryQuery(attrs=(SPEED,)))  # type: ignore[attr-defined]
    first = h[eid].instances[0].instance_id
    await store.update_instance("", eid, SPEED, first, {"type": "Property", "value": 0})  # type: ignore[attr-defined]
    expected = [15.0 - 5.0, 30.0, 45.0]
    assert [v["avg"] for _, v in await answer()] == expected
    await store.maintain_history(now)  # type: ignore[attr-defined]
    assert [v["avg"] for _, v in await answer()] == expected
    assert [v["totalCount"] for _, v in await answer()] == [2, 1, 2]


async def test_aggregates_stay_exact_when_a_day_is_rolled_up_in_parts(store: Store) -> None:
    """Rollups kept per day (PostgreSQL): a day rolled up in two steps, hourly and
    daily periods, an unaligned window, a deleted instance and retention give the
    answers of the raw rows."""
    eid = urn("car")
    hist = [(SPEED, observed(10 * k, 30 * k)[0]) for k in range(12)]  # 12:00 .. 17:30
    await write(store, eid, create(entity(eid, speed=observed(110, 330))), history=hist)
    start = to_ms(obs(0))
    hourly = AggregateQuery(
        time=TimeFilter("between", start, to_ms(obs(360))),
        methods=("avg", "sum", "min", "totalCount"),
        period=Duration(ms=3_600_000),
        origin=start,
    )
    daily = AggregateQuery(
        time=TimeFilter("between", to_ms("2020-08-01T00:00:00Z"), to_ms("2020-08-02T00:00:00Z")),
        methods=("avg", "max", "totalCount"),
        period=Duration(ms=86_400_000),
        origin=to_ms("2020-08-01T00:00:00Z"),
    )
    window = AggregateQuery(  # from 13:30 to 16:00: not whole hours at the start
        time=TimeFilter("between", to_ms(obs(90)), to_ms(obs(240))),
        methods=("sum", "totalCount"),
        period=Duration(ms=3_600_000),
        origin=to_ms(obs(90)),
    )

    async def answers() -> list[list[tuple[int, dict[str, Any]]]]:
        out = []
        for q in (hourly, daily, window):
            got = await store.aggregate("", [eid], q)  # type: ignore[attr-defined]
            [series] = got[eid]
            out.append([(s, v) for s, _, v in series.as_dicts()])
        return out

    raw = await answers()
    assert [v["avg"] for _, v in raw[0]] == [5.0, 25.0, 45.0, 65.0, 85.0, 105.0]
    assert raw[1] == [(to_ms("2020-08-01T00:00:00Z"), {"avg": 55.0, "max": 110, "totalCount": 12})]
    assert [v["sum"] for _, v in raw[2]] == [30 + 40, 50 + 60, 70]
    await store.maintain_history(to_ms(obs(190)))  # type: ignore[attr-defined]  # 12:00-15:00
    assert await answers() == raw
    await store.maintain_history(to_ms("2021-01-01T00:00:00Z"))  # type: ignore[attr-defined]
    assert await answers() == raw
    h = await store.history("", [eid], HistoryQuery(attrs=(SPEED,)))  # type: ignore[attr-defined]
    gone = h[eid].instances[3]  # 13:30, value 30
    assert await store.delete_instance("", eid, SPEED, gone.instance_id)  # type: ignore[attr-defined]
    await store.maintain_history(to_ms("2021-01-01T00:00:00Z"))  # type: ignore[attr-defined]
    after = await answers()
    assert [v["avg"] for _, v in after[0]] == [5.0, 20.0, 45.0, 65.0, 85.0, 105.0]
    assert after[1][0][1]["totalCount"] == 11
    assert [v["sum"] for _, v in after[2]] == [40, 110, 70]
    keep = to_ms("2021-01-01T00:00:00Z") - to_ms(obs(150))  # keep from 14:30 on
    rule = RetentionRule(keep_ms=keep)
    await store.enforce_retention([rule], to_ms("2021-01-01T00:00:00Z"), 100)  # type: ignore[attr-defined]
    await store.maintain_history(to_ms("2021-01-01T00:00:00Z"))  # type: ignore[attr-defined]
    kept = await answers()
    assert [v["totalCount"] for _, v in kept[0]] == [1, 2, 2, 2]
    assert kept[1][0][1] == {"avg": 80.0, "max": 110, "totalCount": 7}
