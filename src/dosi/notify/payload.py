"""Notification bodies: ``{"id", "type": "Notification", "subscriptionId",
"notifiedAt", "data"}`` rendered as the subscription asks (format, attributes,
sysAttrs, showChanges, lang, pick/omit, datasetId, join, endpoint.accept) with its
@context (``jsonldContext``, or the one it was created with)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from dosi.ngsild.context import CORE_CONTEXT_URL
from dosi.ngsild.notification import data_entity, render_data
from dosi.ngsild.projection import expand_projection, parse_projection
from dosi.ngsild.render import RenderOptions, render_feature, render_flat
from dosi.ngsild.values import now_iso
from dosi.notify.matcher import LiveSubscription
from dosi.notify.senders import Message

Entity = dict[str, Any]
Linker = Callable[[str, Sequence[Entity], int], Awaitable[dict[str, Entity]]]
JSON, JSONLD, GEOJSON = "application/json", "application/ld+json", "application/geo+json"
LINK_REL = "http://www.w3.org/ns/json-ld#context"


def context_url(doc: dict[str, Any]) -> str:
    """The @context URL a notification points to (Link header)."""
    if doc.get("jsonldContext"):
        return str(doc["jsonldContext"])
    items = doc.get("_context")
    if isinstance(items, list) and len(items) == 1:
        items = items[0]
    return items if isinstance(items, str) else CORE_CONTEXT_URL


def context_value(doc: dict[str, Any]) -> Any:
    """The @context embedded in application/ld+json notifications."""
    if doc.get("jsonldContext"):
        return doc["jsonldContext"]
    return doc.get("_context") or CORE_CONTEXT_URL


def render_options(live: LiveSubscription) -> RenderOptions:
    notif = live.doc.get("notification", {})
    fmt = notif.get("format", "normalized")
    expand = live.ctx.expand

    def proj(key: str) -> Any:
        raw = notif.get(key)
        if raw is None:
            return None
        text = ",".join(raw) if isinstance(raw, list) else raw
        return expand_projection(parse_projection(text, key), expand)

    join = notif.get("join")
    ds = live.doc.get("datasetId")
    return RenderOptions(
        format="keyValues" if fmt == "simplified" else fmt,
        sys_attrs=bool(notif.get("sysAttrs")),
        lang=live.doc.get("lang"),
        pick=proj("pick"),
        omit=proj("omit"),
        attrs=frozenset(notif["attributes"]) if notif.get("attributes") else None,
        join=None if join in (None, "@none") else join,
        join_level=int(notif.get("joinLevel", 1)),
        dataset_ids=frozenset(ds) if ds else None,
    )


async def build_message(
    live: LiveSubscription, changes: Sequence[tuple[Entity | None, Entity | None, str]],
    linker: Linker,
) -> Message:
    """One notification about ``changes`` (before, after, time of change)."""
    doc = live.doc
    opts = render_options(live)
    endpoint = doc["notification"]["endpoint"]
    accept = endpoint.get("accept", JSON)
    data: list[dict[str, Any]] = []
    for before, after, at in changes:
        entity = data_entity(before, after, triggers=live.triggers, watched=live.watched,
                             show_changes=live.show_changes, at=at)
        if accept == GEOJSON:
            data.append(render_feature(entity, live.ctx, opts))
            continue
        linked = None
        if opts.join is not None and after is not None:
            linked = await linker(live.tenant, [after], opts.join_level)
        data.append(render_data(entity, live.ctx, opts, live.show_changes, linked))
        if opts.join == "flat" and linked:
            data += render_flat([entity], live.ctx, opts, linked)[1:]
    body: dict[str, Any] = {
        "id": f"urn:ngsi-ld:Notification:{uuid.uuid4()}",
        "type": "Notification",
        "subscriptionId": live.id,
        "notifiedAt": now_iso(),
        "data": data,
    }
    headers = {"Content-Type": accept}
    if accept == JSON:
        headers["Link"] = f'<{context_url(doc)}>; rel="{LINK_REL}"; type="{JSONLD}"'
    else:
        ctx_value = context_value(doc)
        body["@context"] = ctx_value
        for item in data:
            item["@context"] = ctx_value
    if live.tenant:
        headers["NGSILD-Tenant"] = live.tenant
    for kv in endpoint.get("receiverInfo", []):
        headers[kv["key"]] = kv["value"]
    info = {kv["key"]: kv["value"] for kv in endpoint.get("notifierInfo", [])}
    return Message(endpoint["uri"], headers, body, info)
