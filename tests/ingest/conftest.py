"""Ingest tests: a store on SQLite and on PostgreSQL (``tests/contract/conftest.py``) and
a pipeline on it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from dosi.ingest.pipeline import IngestPipeline
from dosi.services.contexts import ContextService
from dosi.storage.base import Store
from tests.contract.conftest import other_store, store, store_url  # noqa: F401
from tests.integration.conftest import backend, client  # noqa: F401

AQ_MAPPING: dict[str, Any] = {
    "type": "AirQualityObserved",
    "id": "urn:ngsi-ld:AirQualityObserved:{stationCode}",
    "observedAt": {"field": "dataTime", "format": "%Y-%m-%d %H:%M", "timezone": "Asia/Seoul"},
    "missing": ["-", ""],
    "location": {"x": "dmX", "y": "dmY", "crs": "EPSG:5186"},
    "attributes": {
        "stationName": {"name": "name", "type": "string"},
        "dataTime": {"name": "dateObserved", "type": "datetime"},
        "pm10Value": {"name": "pm10", "type": "number", "unitCode": "GQ"},
        "no2Value": {"name": "no2", "type": "number", "unitCode": "59"},
    },
}


def aq_dataset(validation: str = "reject", **extra: Any) -> dict[str, Any]:
    return {"id": "airkorea", "title": "Air quality, Seoul", "dataModel": "AirQualityObserved",
            "mapping": AQ_MAPPING, "validation": validation, "updateInterval": "PT1H", **extra}


@pytest.fixture
async def pipeline(store: Store) -> AsyncIterator[IngestPipeline]:  # noqa: F811
    ctx = ContextService(store, base_url="http://127.0.0.1:1")
    yield IngestPipeline(store, ctx, max_record_bytes=4096)
    await ctx.close()


def aq_row(code: str = "111121", pm10: Any = "31", **kw: Any) -> dict[str, Any]:
    """An AirKorea-like row (coordinates in EPSG:5186, central Seoul)."""
    return {"stationCode": code, "stationName": "중구", "dataTime": "2026-11-25 14:00",
            "pm10Value": pm10, "no2Value": "0.021", "dmX": "198245.05", "dmY": "551900.0",
            **kw}
