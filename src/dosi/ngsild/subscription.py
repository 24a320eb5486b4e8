"""The NGSI-LD Subscription (clause 5.2.12): validation of payloads into the internal
form, merge of PATCH fragments, and rendering back with a caller's @context.

Internal form: the payload's members as given, except that entity types (type
expressions), ``watchedAttributes`` and ``notification.attributes`` are expanded IRIs.
``q``, ``scopeQ``, ``geoQ``, ``pick`` and ``omit`` stay as text and are read with the
subscription's own @context (kept in ``_context``) when it is loaded for matching.
Members starting with ``_`` are private and never rendered.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from dosi.errors import BadRequestDataError
from dosi.ngsild.context import ActiveContext
from dosi.ngsild.projection import overlap, parse_projection
from dosi.ngsild.query.evaluate import compile_id_pattern
from dosi.ngsild.query.geo import geo_query_from_json
from dosi.ngsild.query.q import parse_q
from dosi.ngsild.query.scopeq import parse_scope_q
from dosi.ngsild.query.types import parse_type_expr
from dosi.ngsild.values import is_datetime, parse_datetime, require_uri, valid_name

TRIGGERS = ("entityCreated", "entityUpdated", "entityDeleted", "attributeCreated",
            "attributeUpdated", "attributeDeleted")
DEFAULT_TRIGGERS = ["attributeCreated", "attributeUpdated"]
FORMATS = ("normalized", "concise", "keyValues", "simplified")
ACCEPTS = ("application/json", "application/ld+json", "application/geo+json")
SCHEMES = ("http://", "https://", "mqtt://", "mqtts://")
STATUS_KEYS = ("status", "timesSent", "timesFailed", "lastNotification", "lastSuccess",
               "lastFailure", "createdAt", "modifiedAt")
_TYPE_TOKEN = re.compile(r"[^,;|()\s]+")

Sub = dict[str, Any]


def bad(msg: str) -> BadRequestDataError:
    return BadRequestDataError(msg)


def map_type_expr(text: str, fn: Callable[[str], str]) -> str:
    """Apply ``fn`` to every type name of a type expression (``(A|B);C``)."""
    return _TYPE_TOKEN.sub(lambda m: m.group(0) if m.group(0) == "*" else fn(m.group(0)), text)


def _names(value: Any, what: str, ctx: ActiveContext) -> list[str]:
    if not isinstance(value, list) or not value:
        raise bad(f"{what} must be a non-empty array of attribute names")
    for name in value:
        if not valid_name(name):
            raise bad(f"{what}: invalid attribute name {name!r}")
    return [ctx.expand(n) for n in value]


def _selector(sel: Any, ctx: ActiveContext) -> dict[str, Any]:
    if not isinstance(sel, dict):
        raise bad("entities must be an array of entity selectors (objects)")
    out: dict[str, Any] = {}
    typ = sel.get("type")
    if not isinstance(typ, str) or not typ.strip():
        raise bad("an entity selector needs a type")
    parse_type_expr(typ, ctx.expand)
    out["type"] = map_type_expr(typ, ctx.expand)
    if "id" in sel:
        out["id"] = require_uri(sel["id"], "entity selector id")
    if "idPattern" in sel:
        if not isinstance(sel["idPattern"], str):
            raise bad("idPattern must be a string")
        compile_id_pattern(sel["idPattern"])
        out["idPattern"] = sel["idPattern"]
    return out


def _kv_list(value: Any, what: str) -> list[dict[str, str]]:
    if not isinstance(value, list) or not all(
        isinstance(x, dict) and isinstance(x.get("key"), str) and isinstance(x.get("value"), str)
        for x in value
    ):
        raise bad(f"{what} must be an array of {{key, value}} string pairs")
    return [{"key": x["key"], "value": x["value"]} for x in value]


def _endpoint(ep: Any) -> dict[str, Any]:
    if not isinstance(ep, dict):
        raise bad("notification.endpoint is mandatory and must be an object")
    uri = ep.get("uri")
    if not isinstance(uri, str) or not uri.startswith(SCHEMES):
        raise bad("notification.endpoint.uri must be an http(s):// or mqtt(s):// URI")
    require_uri(uri, "notification.endpoint.uri")
    out: dict[str, Any] = {"uri": uri}
    if "accept" in ep:
        if ep["accept"] not in ACCEPTS:
            raise bad(f"notification.endpoint.accept must be one of {', '.join(ACCEPTS)}")
        out["accept"] = ep["accept"]
    for key in ("receiverInfo", "notifierInfo"):
        if key in ep:
            out[key] = _kv_list(ep[key], f"notification.endpoint.{key}")
    return out


def _notification(raw: Any, ctx: ActiveContext) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise bad("notification is mandatory and must be an object")
    out: dict[str, Any] = {"endpoint": _endpoint(raw.get("endpoint"))}
    if "attributes" in raw:
        out["attributes"] = _names(raw["attributes"], "notification.attributes", ctx)
    if "format" in raw:
        if raw["format"] not in FORMATS:
            raise bad(f"notification.format must be one of {', '.join(FORMATS)}")
        out["format"] = raw["format"]
    for key in ("sysAttrs", "showChanges"):
        if key in raw:
            if not isinstance(raw[key], bool):
                raise bad(f"notification.{key} must be true or false")
            out[key] = raw[key]
    projections = {}
    for key in ("pick", "omit"):
        if key in raw:
            val = raw[key]
            text = ",".join(val) if isinstance(val, list) else val
            if not isinstance(text, str) or not text:
                raise bad(f"notification.{key} must list entity members")
            projections[key] = parse_projection(text, key)
            out[key] = val
    if len(projections) == 2 and overlap(projections["pick"], projections["omit"]):
        raise bad("a member cannot be both picked and omitted")
    if projections and "attributes" in raw:
        raise bad("notification.attributes cannot be combined with pick or omit")
    if "join" in raw:
        if raw["join"] not in ("inline", "flat", "@none"):
            raise bad("notification.join must be inline, flat or @none")
        out["join"] = raw["join"]
    if "joinLevel" in raw:
        level = raw["joinLevel"]
        if not isinstance(level, int) or isinstance(level, bool) or level < 1:
            raise bad("notification.joinLevel must be a positive integer")
        out["joinLevel"] = level
    return out


def _number(value: Any, what: str, minimum: float, strict: bool) -> float | int:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or (
        value <= minimum if strict else value < minimum
    ):
        raise bad(f"{what} must be a number {'>' if strict else '>='} {minimum:g}")
    return value


def parse_subscription(
    raw: Any, ctx_of: Callable[[str], ActiveContext], now: str, *, require_future: bool = True
) -> Sub:
    """Validate a whole subscription (POST, or a merged PATCH) into the internal form.
    ``ctx_of(member)`` is the @context to read that member's names with."""
    if not isinstance(raw, dict):
        raise bad("a subscription must be a JSON object")
    if raw.get("type") != "Subscription":
        raise bad("type must be Subscription")
    sub: Sub = {"id": require_uri(raw["id"], "subscription id") if "id" in raw else None,
                "type": "Subscription"}
    for key in ("subscriptionName", "description", "lang"):
        if key in raw:
            if not isinstance(raw[key], str):
                raise bad(f"{key} must be a string")
            sub[key] = raw[key]
    if "entities" in raw:
        ents = raw["entities"]
        if not isinstance(ents, list) or not ents:
            raise bad("entities must be a non-empty array")
        sub["entities"] = [_selector(s, ctx_of("entities")) for s in ents]
    if "watchedAttributes" in raw:
        sub["watchedAttributes"] = _names(raw["watchedAttributes"], "watchedAttributes",
                                          ctx_of("watchedAttributes"))
    if "entities" not in sub and "watchedAttributes" not in sub:
        raise bad("a subscription needs entities or watchedAttributes")
    if "notificationTrigger" in raw:
        trig = raw["notificationTrigger"]
        if not isinstance(trig, list) or not trig or any(t not in TRIGGERS for t in trig):
            raise bad(f"notificationTrigger must list some of {', '.join(TRIGGERS)}")
        sub["notificationTrigger"] = list(dict.fromkeys(trig))
    if "timeInterval" in raw:
        sub["timeInterval"] = _number(raw["timeInterval"], "timeInterval", 0, True)
    if "throttling" in raw:
        sub["throttling"] = _number(raw["throttling"], "throttling", 0, False)
    if "timeInterval" in sub and "throttling" in sub:
        raise bad("timeInterval and throttling cannot be used together")
    if "timeInterval" in sub and "watchedAttributes" in sub:
        raise bad("timeInterval and watchedAttributes cannot be used together")
    if "q" in raw:
        if not isinstance(raw["q"], str) or not raw["q"]:
            raise bad("q must be a non-empty string")
        parse_q(unquote(raw["q"]), ctx_of("q").expand)
        sub["q"] = raw["q"]
    if "scopeQ" in raw:
        if not isinstance(raw["scopeQ"], str):
            raise bad("scopeQ must be a string")
        parse_scope_q(raw["scopeQ"])
        sub["scopeQ"] = raw["scopeQ"]
    if "geoQ" in raw:
        geo_query_from_json(raw["geoQ"], ctx_of("geoQ").expand)
        sub["geoQ"] = raw["geoQ"]
    sub["notification"] = _notification(raw.get("notification"), ctx_of("notification"))
    if "expiresAt" in raw:
        if not is_datetime(raw["expiresAt"]):
            raise bad("expiresAt must be a date-time")
        if require_future and parse_datetime(raw["expiresAt"]) <= parse_datetime(now):
            raise bad("expiresAt must be in the future")
        sub["expiresAt"] = raw["expiresAt"]
    if "isActive" in raw:
        if not isinstance(raw["isActive"], bool):
            raise bad("isActive must be true or false")
        sub["isActive"] = raw["isActive"]
    if "datasetId" in raw:
        ds = raw["datasetId"]
        ds = [ds] if isinstance(ds, str) else ds
        if not isinstance(ds, list) or not ds:
            raise bad("datasetId must be a URI or an array of URIs")
        sub["datasetId"] = [d if d == "@none" else require_uri(d, "datasetId") for d in ds]
    if "jsonldContext" in raw:
        sub["jsonldContext"] = require_uri(raw["jsonldContext"], "jsonldContext")
    return sub


def merge_fragment(current: Sub, fragment: Any) -> dict[str, Any]:
    """PATCH /subscriptions/{id}: top-level members of the fragment replace the stored
    ones (``null`` removes an optional member). The result is validated again."""
    if not isinstance(fragment, dict) or not fragment:
        raise bad("the update must be a non-empty JSON object")
    if "type" in fragment and fragment["type"] != "Subscription":
        raise bad("type must be Subscription")
    if "id" in fragment and fragment["id"] != current["id"]:
        raise bad("the subscription id cannot be changed")
    merged = {k: v for k, v in current.items() if not k.startswith("_")}
    for key, value in fragment.items():
        if key in ("@context", "id", *STATUS_KEYS):
            continue
        if value is None:
            if key in ("notification", "type"):
                raise bad(f"{key} cannot be removed")
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def status_of(sub: Sub, now: str) -> str:
    if sub.get("isActive") is False:
        return "paused"
    exp = sub.get("expiresAt")
    if exp and parse_datetime(exp) <= parse_datetime(now):
        return "expired"
    return "active"


def render_subscription(
    sub: Sub, ctx: ActiveContext, now: str, state: dict[str, Any], sys_attrs: bool = False
) -> dict[str, Any]:
    """A stored subscription for GET, names compacted with the caller's @context;
    ``state`` holds the delivery counters and times (only what has happened)."""
    out: dict[str, Any] = {}
    for key, value in sub.items():
        if key.startswith("_") or (key in ("createdAt", "modifiedAt") and not sys_attrs):
            continue
        if key == "entities":
            value = [{**s, "type": map_type_expr(s["type"], ctx.compact)} for s in value]
        elif key == "watchedAttributes":
            value = [ctx.compact(a) for a in value]
        elif key == "notification":
            value = dict(value)
            if "attributes" in value:
                value["attributes"] = [ctx.compact(a) for a in value["attributes"]]
            value.update(state)
        out[key] = value
    out.setdefault("notificationTrigger", list(DEFAULT_TRIGGERS))
    out["status"] = status_of(sub, now)
    return out
