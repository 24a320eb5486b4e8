"""The pure temporal forms: durations, time filters, options, temporal payloads, the
latest state they imply, rendering, Content-Range, and history capture."""

from __future__ import annotations

from typing import Any

import pytest

from dosi.errors import BadRequestDataError, InvalidRequestError
from dosi.ngsild.context import build_context
from dosi.ngsild.render import RenderOptions
from dosi.ngsild.temporal import (
    Duration,
    TimeFilter,
    iso,
    merge_latest,
    parse_duration,
    parse_temporal_entity,
    parse_temporal_options,
    parse_time_filter,
    to_ms,
)
from dosi.ngsild.temporal_render import (
    TemporalView,
    content_range,
    render_aggregated,
    render_temporal,
)
from dosi.storage.base import AggregateSeries, OpResult, StoredInstance, WriteOp
from dosi.storage.history import HistoryPolicy, capture, diff_rows
from dosi.storage.plan import Change

EX = "https://example.org/"
CTX = build_context({"speed": EX + "speed", "Car": EX + "Car", "tag": EX + "tag"})
NOW = "2026-01-01T00:00:00.000Z"


@pytest.mark.parametrize(
    "text,months,ms",
    [
        ("PT1H", 0, 3_600_000),
        ("P1D", 0, 86_400_000),
        ("P1W", 0, 7 * 86_400_000),
        ("PT0.5S", 0, 500),
        ("P1Y2M", 14, 0),
        ("P1MT30M", 1, 1_800_000),
    ],
)
def test_durations(text: str, months: int, ms: int) -> None:
    assert parse_duration(text) == Duration(months, ms)


@pytest.mark.parametrize("text", ["", "P", "PT", "1H", "PT1X", "P0D", "P1H", "PTH"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(BadRequestDataError):
        parse_duration(text)


def test_calendar_months_clamp_to_month_end() -> None:
    jan31 = to_ms("2021-01-31T10:00:00Z")
    assert iso(Duration(months=1).add(jan31)) == "2021-02-28T10:00:00Z"
    assert iso(Duration(months=1).add(jan31, 2)) == "2021-03-31T10:00:00Z"


def test_iso_round_trip_drops_zero_fraction() -> None:
    assert iso(to_ms("2020-08-01T12:03:00Z")) == "2020-08-01T12:03:00Z"
    assert iso(to_ms("2020-08-01T14:03:00.250+02:00")) == "2020-08-01T12:03:00.250Z"


def test_time_filters() -> None:
    tf = parse_time_filter(
        {
            "timerel": "between",
            "timeAt": "2020-01-01T00:00:00Z",
            "endTimeAt": "2020-01-02T00:00:00Z",
            "timeproperty": "createdAt",
        }
    )
    assert tf.timerel == "between" and tf.timeproperty == "createdAt"
    assert tf.end_time_at - tf.time_at == 86_400_000  # type: ignore[operator]
    assert parse_time_filter({}) == TimeFilter()


@pytest.mark.parametrize(
    "params",
    [
        {"timerel": "during", "timeAt": "2020-01-01T00:00:00Z"},
        {"timerel": "after"},
        {"timerel": "between", "timeAt": "2020-01-01T00:00:00Z"},
        {
            "timerel": "between",
            "timeAt": "2020-01-02T00:00:00Z",
            "endTimeAt": "2020-01-01T00:00:00Z",
        },
        {"timerel": "before", "timeAt": "soon"},
        {"timeAt": "2020-01-01T00:00:00Z"},
        {"timeproperty": "seenAt"},
    ],
)
def test_bad_time_filters(params: dict[str, str]) -> None:
    with pytest.raises(BadRequestDataError):
        parse_time_filter(params)


def test_options() -> None:
    o = parse_temporal_options(["aggregatedValues"], None, "avg,max,avg", "PT1H", None)
    assert o.representation == "aggregatedValues" and o.aggr_methods == ("avg", "max")
    assert (
        parse_temporal_options(
            ["aggregatedValues"], "temporalValues", None, None, "3"
        ).representation
        == "temporalValues"
    )
    with pytest.raises(InvalidRequestError):
        parse_temporal_options(["other"], None, None, None, None)
    with pytest.raises(InvalidRequestError):
        parse_temporal_options([], "fancy", None, None, None)
    with pytest.raises(BadRequestDataError):
        parse_temporal_options(["aggregatedValues"], None, "median", None, None)
    with pytest.raises(BadRequestDataError):
        parse_temporal_options([], None, None, None, "-1")


def speed(v: Any, t: str, **extra: Any) -> dict[str, Any]:
    return {"type": "Property", "value": v, "observedAt": t, **extra}


def test_temporal_payload_keeps_every_instance_and_latest_becomes_current() -> None:
    body = {
        "id": "urn:ngsi-ld:Car:1",
        "type": "Car",
        "speed": [
            speed(2, "2020-01-01T00:02:00Z"),
            speed(1, "2020-01-01T00:01:00Z"),
            speed(5, "2020-01-01T00:00:00Z", datasetId="urn:ds:a"),
        ],
    }
    p = parse_temporal_entity(body, CTX, NOW)
    assert len(p.instances[EX + "speed"]) == 3 and p.types == [EX + "Car"]
    cur = merge_latest(None, p, NOW)
    assert sorted(i["value"] for i in cur["attrs"][EX + "speed"]) == [2, 5]
    older = parse_temporal_entity({**body, "speed": [speed(0, "2019-01-01T00:00:00Z")]}, CTX, NOW)
    assert merge_latest(cur, older, NOW)["attrs"][EX + "speed"][0]["value"] == 2
    newer = parse_temporal_entity({**body, "speed": [speed(9, "2021-01-01T00:00:00Z")]}, CTX, NOW)
    assert merge_latest(cur, newer, NOW)["attrs"][EX + "speed"][0]["value"] == 9


def test_temporal_payload_errors() -> None:
    with pytest.raises(BadRequestDataError):
        parse_temporal_entity({"type": "Car"}, CTX, NOW)
    with pytest.raises(BadRequestDataError):
        parse_temporal_entity({"id": "nope", "type": "Car"}, CTX, NOW)
    with pytest.raises(BadRequestDataError):
        parse_temporal_entity([], CTX, NOW)


def rec(v: Any, t: int, ds: str = "", kind: str = "Property", **kw: Any) -> StoredInstance:
    doc = {"type": kind, "value" if kind == "Property" else "vocab": v}
    return StoredInstance(
        EX + "speed", ds, f"urn:i:{v}", t, kw.get("obs", t), 0, 0, kw.get("deleted"), doc
    )


def test_render_normalized_and_simplified() -> None:
    insts = [rec(1, 0), rec(2, 60_000), rec(3, 0, ds="urn:ds:a")]
    view = TemporalView("normalized", RenderOptions())
    body = render_temporal("urn:x", [EX + "Car"], insts, CTX, view)
    assert body["type"] == "Car" and len(body["speed"]) == 3
    assert body["speed"][0] == {
        "type": "Property",
        "value": 1,
        "observedAt": "1970-01-01T00:00:00Z",
        "instanceId": "urn:i:1",
    }
    simple = render_temporal(
        "urn:x", [EX + "Car"], insts, CTX, TemporalView("temporalValues", RenderOptions())
    )
    assert simple["speed"] == [
        {"type": "Property", "values": [[1, "1970-01-01T00:00:00Z"], [2, "1970-01-01T00:01:00Z"]]},
        {"type": "Property", "datasetId": "urn:ds:a", "values": [[3, "1970-01-01T00:00:00Z"]]},
    ]
    vocab = render_temporal(
        "urn:x",
        [],
        [rec(EX + "tag", 0, kind="VocabProperty")],
        CTX,
        TemporalView("temporalValues", RenderOptions()),
    )
    assert vocab["speed"]["vocabs"] == [[{"vocab": "tag"}, "1970-01-01T00:00:00Z"]]
    empty = render_temporal("urn:x", [], [], CTX, view, empty_attrs=[EX + "speed"])
    assert empty["speed"] == []


def test_render_aggregated() -> None:
    s = AggregateSeries.of_buckets(
        EX + "speed", "", "Property", ("avg", "sum"), [(0, 3_600_000, (1.5, None))]
    )
    body = render_aggregated("urn:x", [EX + "Car"], [s], CTX, TemporalView("aggregatedValues"))
    assert body["speed"] == {
        "type": "Property",
        "avg": [[1.5, "1970-01-01T00:00:00Z", "1970-01-01T01:00:00Z"]],
    }


def test_content_range() -> None:
    times = [to_ms("2020-01-01T01:01:00Z"), to_ms("2020-01-01T01:20:00Z")]
    after = TimeFilter("after", to_ms("2019-01-01T00:00:00Z"))
    assert (
        content_range(times, after, None) == "date-time 2019-01-01T00:00:00Z-2020-01-01T01:20:00Z/*"
    )
    assert (
        content_range(times, TimeFilter(), 20)
        == "date-time 2020-01-01T01:20:00Z-2020-01-01T01:01:00Z/20"
    )
    before = TimeFilter("before", to_ms("2021-01-01T00:00:00Z"))
    assert content_range(times, before, 5).startswith("date-time 2021-01-01T00:00:00Z-")


def entity(**attrs: Any) -> dict[str, Any]:
    return {
        "id": "urn:x",
        "type": [EX + "Car"],
        "createdAt": NOW,
        "modifiedAt": NOW,
        "attrs": {EX + k: v for k, v in attrs.items()},
    }


def test_diff_rows_new_changed_and_deleted_instances() -> None:
    before = entity(
        speed=[speed(1, "2020-01-01T00:00:00Z", createdAt=NOW)],
        tag=[{"type": "Property", "value": "x"}],
    )
    after = entity(
        speed=[speed(1, "2020-01-01T00:00:00Z", createdAt="2027-01-01T00:00:00Z")],
        name=[{"type": "Property", "value": "n"}],
    )
    rows = diff_rows(Change("urn:x", 1, before, after), 0)
    assert {(r.attr, r.deleted_at is not None) for r in rows} == {
        (EX + "name", False),
        (EX + "tag", True),
    }


def test_capture_policy_and_explicit_history() -> None:
    after = entity(speed=[speed(1, "2020-01-01T00:00:00Z")])
    ch = Change("urn:x", None, None, after)
    op = WriteOp(
        "urn:x",
        lambda cur: after,
        history=[
            (EX + "speed", speed(0, "2019-01-01T00:00:00Z")),
            (EX + "speed", speed(1, "2020-01-01T00:00:00Z")),
        ],
    )
    cap = capture("", HistoryPolicy(), [op], [OpResult("urn:x", None, after)], [ch], 0)
    assert len(cap.rows) == 2 and cap.replace and cap.headers == {"urn:x": [EX + "Car"]}
    off = capture(
        "",
        HistoryPolicy(off_types=frozenset({EX + "Car"})),
        [op],
        [OpResult("urn:x", None, after)],
        [ch],
        0,
    )
    assert off.rows == []
    gone = capture(
        "",
        HistoryPolicy(),
        [op],
        [OpResult("urn:x", after, None)],
        [Change("urn:x", 1, after, None)],
        0,
    )
    assert gone.purge == ["urn:x"]
