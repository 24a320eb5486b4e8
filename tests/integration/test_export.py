"""``dosi export``: the history of a query written to Parquet and CSV, on both stores."""

from __future__ import annotations

import csv
from typing import Any

import pytest

from dosi.cli import main
from dosi.storage.base import WriteOp, open_store
from tests.pg import fresh_pg

EX = "https://example.org/"


def car(i: int, speed: float, minute: int) -> dict[str, Any]:
    t = f"2020-08-01T12:{minute:02d}:00Z"
    return {
        "id": f"urn:ngsi-ld:Car:{i}",
        "type": [EX + "Car"],
        "createdAt": t,
        "modifiedAt": t,
        "attrs": {
            EX + "speed": [
                {"type": "Property", "value": speed, "observedAt": t, "unitCode": "KMH"}
            ],
            EX + "name": [{"type": "Property", "value": f"car {i}"}],
        },
    }


@pytest.fixture
async def url(tmp_path: Any, backend: str) -> str:
    url = await fresh_pg() if backend == "postgres" else f"sqlite:///{tmp_path}/x.db"
    store = await open_store(url)
    try:
        for minute in range(3):
            ops = [
                WriteOp(f"urn:ngsi-ld:Car:{i}", lambda cur, i=i, m=minute: car(i, 10 * i + m, m))
                for i in range(4)
            ]
            assert all(r.ok for r in await store.write("", ops))
    finally:
        await store.close()
    return url


async def test_export_parquet_with_time_range(url: str, tmp_path: Any) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    out = tmp_path / "speed.parquet"
    rc = await _main(
        [
            "export",
            "--store",
            url,
            "--type",
            EX + "Car",
            "--attrs",
            EX + "speed",
            "--from",
            "2020-08-01T12:01:00Z",
            "-o",
            str(out),
            "--no-progress",
        ]
    )
    assert rc == 0
    table = pq.read_table(out).to_pylist()
    assert len(table) == 8  # 4 cars x minutes 1 and 2
    assert {r["entity_id"] for r in table} == {f"urn:ngsi-ld:Car:{i}" for i in range(4)}
    assert {r["number"] for r in table if r["entity_id"].endswith(":2")} == {21.0, 22.0}
    assert all(r["unit_code"] == "KMH" and r["attribute"] == EX + "speed" for r in table)


async def test_export_csv_all_attributes(url: str, tmp_path: Any) -> None:
    out = tmp_path / "all.csv"
    rc = await _main(
        ["export", "--store", url, "--type", EX + "Car", "-o", str(out), "--no-progress"]
    )
    assert rc == 0
    rows = list(csv.DictReader(out.read_text().splitlines()))
    assert len(rows) == 4 * 3 + 4  # speed changes every minute, name once
    names = [r for r in rows if r["attribute"] == EX + "name"]
    assert sorted(r["value"] for r in names) == [f'"car {i}"' for i in range(4)]


async def test_export_reports_bad_arguments(url: str, tmp_path: Any) -> None:
    rc = await _main(
        [
            "export",
            "--store",
            url,
            "--from",
            "yesterday",
            "-o",
            str(tmp_path / "x.csv"),
            "--no-progress",
        ]
    )
    assert rc == 2


async def _main(argv: list[str]) -> int:
    """The CLI runs its own event loop: run it in a thread."""
    import asyncio

    return await asyncio.to_thread(main, argv)
