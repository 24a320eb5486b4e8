"""Source adapters, one folder each (manifest.json, coordinator, mapping, data).

An adapter knows its source: it fetches or subscribes (its coordinator), turns what
arrives into ``RawRecord``s and hands them to ``IngestPipeline.submit``; its mappers
(``RawRecord -> [NGSI-LD entity]``) are registered with the pipeline per dataset.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from importlib import resources
from typing import Any, Protocol

from dosi.ingest.adapters.opendata import Submit
from dosi.ingest.records import RawRecord

Mapper = Callable[[RawRecord], list[dict[str, Any]]]

ADAPTERS = {
    "airkorea": "dosi.ingest.adapters.airkorea.coordinator:AirKoreaAdapter",
    "its": "dosi.ingest.adapters.its.coordinator:ItsTrafficAdapter",
    "kma": "dosi.ingest.adapters.kma.coordinator:KmaNowcastAdapter",
    "gtfs": "dosi.ingest.adapters.gtfs.coordinator:GtfsAdapter",
    "mqtt": "dosi.ingest.adapters.mqtt.coordinator:MqttAdapter",
}


class Adapter(Protocol):
    """What the hub needs of an adapter: its mappers, and start/stop of its coordinator."""

    name: str

    def mappers(self) -> dict[str, Mapper]:
        """Dataset name -> mapper, registered with the pipeline before ``start``."""
        ...

    async def start(self, submit: Submit, hub: Any = None) -> None: ...

    async def stop(self) -> None: ...


def manifest(name: str) -> dict[str, Any]:
    """The adapter's ``manifest.json``."""
    if name not in ADAPTERS:
        raise KeyError(f"no adapter {name!r}: known are {', '.join(sorted(ADAPTERS))}")
    text = resources.files(f"dosi.ingest.adapters.{name}").joinpath("manifest.json")
    return json.loads(text.read_text(encoding="utf-8"))


def adapter_problems(names: list[str]) -> list[str]:
    """What is wrong with the settings of these adapters, in words (for the CLI)."""
    from pydantic import ValidationError

    out = []
    for name in names:
        try:
            load_adapter(name)
        except ValidationError as exc:
            out += [f"{name} adapter: {'.'.join(str(x) for x in e['loc'])}: {e['msg']}"
                    for e in exc.errors()]
        except (KeyError, ValueError, OSError) as exc:
            out.append(f"{name} adapter: {exc}")
    return out


def load_adapter(name: str, **options: Any) -> Adapter:
    """An adapter by name, configured from its ``DOSI_<NAME>_*`` settings and ``options``."""
    if name not in ADAPTERS:
        raise KeyError(f"no adapter {name!r}: known are {', '.join(sorted(ADAPTERS))}")
    module, cls = ADAPTERS[name].split(":")
    return getattr(importlib.import_module(module), cls)(**options)  # type: ignore[no-any-return]
