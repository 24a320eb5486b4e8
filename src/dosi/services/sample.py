"""The sample city: Smart Data Models examples loaded through the normal write path."""

from __future__ import annotations

import json
import logging
from importlib import resources
from typing import Any

from dosi.errors import DosiError
from dosi.ngsild.context import build_context
from dosi.ngsild.entity import parse_entity
from dosi.ngsild.values import now_iso
from dosi.storage.base import WriteOp

log = logging.getLogger("dosi.sample")


def sample_entities() -> list[dict[str, Any]]:
    """The normalized examples bundled with the Smart Data Models (CC-BY-4.0)."""
    root = resources.files("dosi.data").joinpath("smart-data-models")
    out = []
    for subject in sorted(p for p in root.iterdir() if p.is_dir()):
        for model in sorted(p for p in subject.iterdir() if p.is_dir()):
            ex = model.joinpath("example-normalized.jsonld")
            if ex.is_file():
                doc = json.loads(ex.read_text(encoding="utf-8"))
                out.extend(doc if isinstance(doc, list) else [doc])
    return out


async def load_sample(hub: Any, tenant: str = "") -> int:
    """Upsert the sample entities; returns how many were stored."""
    write_ops = []
    now = now_iso()
    for raw in sample_entities():
        try:
            docs: dict[str, Any] = {}
            await hub.contexts._prefetch(raw.get("@context"), docs, 0)
            ctx = build_context(raw.get("@context"), loader=lambda url: docs[url])
            entity = parse_entity(raw, ctx, now)
        except DosiError as exc:
            log.info("sample entity %s skipped: %s", raw.get("id"), exc.detail)
            continue
        write_ops.append(WriteOp(entity["id"], lambda cur, e=entity: e))
    results = await hub.store.write(tenant, write_ops)
    stored = sum(1 for r in results if r.ok)
    log.info("sample city: %d entities loaded", stored)
    return stored
