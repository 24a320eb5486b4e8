"""Runs the adapters named in ``DOSI_INGEST_ADAPTERS`` inside the hub process.

For each adapter: its datasets enter the catalog (from its manifest, or its device
groups) unless the operator already created them, its mappers are registered with the
pipeline, then its coordinator starts with ``IngestPipeline.submit`` as the one way in.
"""

from __future__ import annotations

import logging
from typing import Any

from dosi.errors import AlreadyExistsError, BadRequestDataError
from dosi.ingest.adapters import Adapter, load_adapter, manifest

log = logging.getLogger("dosi.ingest")
_DOC_FIELDS = ("title", "description", "provider", "license", "keywords", "updateInterval",
               "dataModel", "context")


def dataset_docs(name: str, adapter: Any) -> list[dict[str, Any]]:
    """Catalog entries of what the adapter produces."""
    if name == "mqtt":
        return [{"id": g.dataset, "title": f"MQTT device group {g.name}",
                 "description": f"Messages on {g.topic} as {g.entity_type} entities",
                 "dataModel": g.entity_type, **({"context": g.context} if g.context else {})}
                for g in adapter.groups]
    out = []
    for d in manifest(name).get("datasets", []):
        doc = {"id": d["name"], "title": manifest(name).get("title", d["name"])}
        if isinstance(d.get("dataModel"), str):
            doc["dataModel"] = d["dataModel"]
        if d.get("context"):
            doc["context"] = [d["context"]]
        if d.get("updateInterval"):
            doc["updateInterval"] = d["updateInterval"]
        if d.get("licence"):
            doc["license"] = d["licence"]
        out.append({k: v for k, v in doc.items() if k == "id" or k in _DOC_FIELDS})
    return out


async def ensure_datasets(catalog: Any, docs: list[dict[str, Any]]) -> None:
    for doc in docs:
        try:
            await catalog.create_dataset(doc)
        except AlreadyExistsError:
            continue  # the operator's entry wins
        except BadRequestDataError:
            if "dataModel" not in doc:
                raise
            # a type that is no known model: the dataset is not validated against one
            await catalog.create_dataset({k: v for k, v in doc.items() if k != "dataModel"})


class RunningAdapters:
    def __init__(self) -> None:
        self.adapters: list[Adapter] = []

    async def stop(self) -> None:
        for ad in reversed(self.adapters):
            try:
                await ad.stop()
            except Exception:  # stop the others anyway
                log.exception("ingest: stopping %s failed", ad.name)


async def start_adapters(hub: Any, names: list[str], **options: Any) -> RunningAdapters:
    """Start the named adapters on the hub (``options[name]``: settings overrides)."""
    running = RunningAdapters()
    if hub.ingest is None or hub.catalog is None:
        raise RuntimeError("the hub has no ingest pipeline")
    pipeline = hub.ingest.pipeline
    try:
        for name in names:
            adapter = load_adapter(name, **options.get(name, {}))
            await ensure_datasets(hub.catalog, dataset_docs(name, adapter))
            for dataset, mapper in adapter.mappers().items():
                pipeline.register_mapper(dataset, mapper)
            await adapter.start(pipeline.submit, hub=hub)
            running.adapters.append(adapter)
            log.info("ingest: adapter %s started", name)
    except BaseException:
        await running.stop()
        raise
    return running
