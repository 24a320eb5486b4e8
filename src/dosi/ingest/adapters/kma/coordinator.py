"""Polls KMA getUltraSrtNcst for each configured grid cell (or WGS84 point).

The nowcast for hour HH is published around HH:40; the coordinator asks for the
latest base time that is out, and submits each answer whole (one record per cell).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from dosi.ingest.adapters.kma.grid import to_grid, to_latlon
from dosi.ingest.adapters.kma.mapping import DATASET, mapper
from dosi.ingest.adapters.opendata import KST, OpenDataPoller, PollingAdapter, Submit
from dosi.ingest.records import RawRecord


class KmaSettings(BaseSettings):
    """``DOSI_KMA_*``. ``cells``: grid cells ``[[60, 127]]``; ``points``: ``[[lat, lon]]``."""

    model_config = SettingsConfigDict(env_prefix="DOSI_KMA_", extra="ignore")
    url: str = "https://apis.data.go.kr/1360000/VilageFcstInfoService_2.0"
    service_key: str = ""
    cells: list[tuple[int, int]] = [(60, 127)]
    points: list[tuple[float, float]] = []
    interval: float = 600.0

    @field_validator("cells")
    @classmethod
    def _on_grid(cls, cells: list[tuple[int, int]]) -> list[tuple[int, int]]:
        for nx, ny in cells:
            to_latlon(nx, ny)  # ValueError names the cell
        return cells


def latest_base(now: datetime) -> tuple[str, str]:
    """(base_date, base_time) of the newest published nowcast at ``now``."""
    local = now.astimezone(KST) - timedelta(minutes=40)
    return local.strftime("%Y%m%d"), local.strftime("%H00")


class _KmaPoller(OpenDataPoller):
    async def poll_once(self) -> Any:
        self.params["base_date"], self.params["base_time"] = latest_base(datetime.now(UTC))
        return await super().poll_once()


class KmaNowcastAdapter(PollingAdapter):
    name = "kma"

    settings_class = KmaSettings
    settings: KmaSettings

    def mappers(self) -> dict[str, Any]:
        return {DATASET: mapper}

    def cells(self) -> list[tuple[int, int]]:
        cells = [tuple(c) for c in self.settings.cells]
        cells += [to_grid(lat, lon) for lat, lon in self.settings.points]
        return list(dict.fromkeys(cells))  # type: ignore[arg-type]

    def build(self, submit: Submit) -> list[OpenDataPoller]:
        s = self.settings
        out: list[OpenDataPoller] = []
        for nx, ny in self.cells():
            params = {"serviceKey": s.service_key, "pageNo": 1, "numOfRows": 100,
                      "dataType": "JSON", "nx": nx, "ny": ny}

            def to_records(body: bytes, nx: int = nx, ny: int = ny) -> list[RawRecord]:
                return [RawRecord(DATASET, self.name, body, datetime.now(UTC),
                                  None, {"kind": "response", "nx": nx, "ny": ny})]
            out.append(_KmaPoller(f"{self.name}:{nx},{ny}", f"{s.url}/getUltraSrtNcst", params,
                                  s.interval, submit, to_records))
        return out
