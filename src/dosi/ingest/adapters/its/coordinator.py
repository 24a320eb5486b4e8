"""Polls the national ITS open API ``trafficInfo`` (5-minute link speeds in a box)."""

from __future__ import annotations

from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from dosi.ingest.adapters.its.mapping import DATASET, links, mapper_for
from dosi.ingest.adapters.opendata import OpenDataPoller, PollingAdapter, Submit, split_response


class ItsSettings(BaseSettings):
    """``DOSI_ITS_*``; the default box covers Seoul Jung-gu and Jongno-gu."""

    model_config = SettingsConfigDict(env_prefix="DOSI_ITS_", extra="ignore")
    url: str = "https://openapi.its.go.kr:9443/trafficInfo"
    api_key: str = ""
    road_type: str = "all"  # all | ex (expressways) | its (national roads)
    min_x: float = 126.96
    max_x: float = 127.02
    min_y: float = 37.55
    max_y: float = 37.59
    interval: float = 300.0
    links_file: str | None = Field(
        default=None, description="node-link extract (JSON, the shape of the bundled links.json)")
    only_known: bool = Field(
        default=True, description="skip links not in the bundled node-link extract")


class ItsTrafficAdapter(PollingAdapter):
    name = "its"

    settings_class = ItsSettings
    settings: ItsSettings

    def mappers(self) -> dict[str, Any]:
        return {DATASET: mapper_for(self.settings.links_file)}

    def build(self, submit: Submit) -> list[OpenDataPoller]:
        s = self.settings
        params = {"apiKey": s.api_key, "type": s.road_type, "drcType": "all",
                  "minX": s.min_x, "maxX": s.max_x, "minY": s.min_y, "maxY": s.max_y,
                  "getType": "json"}
        return [OpenDataPoller(
            self.name, s.url, params, s.interval, submit,
            lambda body: split_response(DATASET, self.name, body,
                                        lambda it: f"{it.get('linkId')}|{it.get('createdDate')}",
                                        self._known if s.only_known else None))]

    def _known(self, item: dict[str, Any]) -> bool:
        return str(item.get("linkId")) in links(self.settings.links_file)
