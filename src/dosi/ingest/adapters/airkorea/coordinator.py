"""Polls AirKorea (data.go.kr ArpltnInforInqireSvc) and submits one record per station row.

With station names set, each station is asked for its latest hour
(getMsrstnAcctoRltmMesureInfo, whose rows do not repeat the station name: the
coordinator carries it in the record's meta); otherwise the whole province at once
(getCtprvnRltmMesureDnsty).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from dosi.ingest.adapters.airkorea.mapping import DATASET, mapper_for, stations
from dosi.ingest.adapters.opendata import OpenDataPoller, PollingAdapter, Submit, split_response
from dosi.ingest.records import RawRecord


class AirKoreaSettings(BaseSettings):
    """``DOSI_AIRKOREA_*``."""

    model_config = SettingsConfigDict(env_prefix="DOSI_AIRKOREA_", extra="ignore")
    url: str = "https://apis.data.go.kr/B552584/ArpltnInforInqireSvc"
    service_key: str = ""
    sido_name: str = "서울"
    station_names: list[str] = []
    interval: float = 3600.0
    ver: str = "1.3"
    stations_file: str | None = Field(
        default=None, description="station list (JSON, the shape of the bundled stations.json)")
    only_known: bool = Field(
        default=True, description="skip rows of stations not in the bundled station list")


class AirKoreaAdapter(PollingAdapter):
    name = "airkorea"

    settings_class = AirKoreaSettings
    settings: AirKoreaSettings

    def mappers(self) -> dict[str, Any]:
        return {DATASET: mapper_for(self.settings.stations_file)}

    def _known(self, item: dict[str, Any]) -> bool:
        return item.get("stationName") in stations(self.settings.stations_file)

    def _records(self, station: str | None) -> Any:
        def to_records(body: bytes) -> list[RawRecord]:
            records = split_response(
                DATASET, self.name, body,
                lambda it: f"{it.get('stationName') or station}|{it.get('dataTime')}",
                self._known if self.settings.only_known and not station else None)
            if station:
                for r in records:
                    r.meta["stationName"] = station
            return records
        return to_records

    def build(self, submit: Submit) -> list[OpenDataPoller]:
        s = self.settings
        common = {"serviceKey": s.service_key, "returnType": "json", "pageNo": 1, "ver": s.ver}
        if s.station_names:
            return [OpenDataPoller(
                f"{self.name}:{st}", f"{s.url}/getMsrstnAcctoRltmMesureInfo",
                {**common, "stationName": st, "dataTerm": "DAILY", "numOfRows": 1},
                s.interval, submit, self._records(st)) for st in s.station_names]
        return [OpenDataPoller(
            self.name, f"{s.url}/getCtprvnRltmMesureDnsty",
            {**common, "sidoName": s.sido_name, "numOfRows": 1000},
            s.interval, submit, self._records(None))]
