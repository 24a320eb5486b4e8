"""What the Korean open-data APIs share: the response envelope and polling.

data.go.kr services (AirKorea, KMA) answer ``{"response": {"header": {"resultCode":
"00", "resultMsg": ...}, "body": {"items": ...}}}``; the national ITS open API answers
``{"header": {"resultCode": 0, ...}, "body": {"items": [...]}}``. Gateway errors (a bad
or unregistered service key, quota exceeded) come back as XML ``OpenAPI_ServiceResponse``
even when JSON was asked for, with HTTP status 200. Any of these is a bad record: it
goes to the dead-letter store with the reason, never silently dropped.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import math
import re
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from dosi.ingest.errors import RecordError, json_object
from dosi.ingest.records import RawRecord, Verdict

log = logging.getLogger("dosi.ingest")
KST = timezone(timedelta(hours=9), "KST")
Submit = Callable[[Sequence[RawRecord]], Awaitable[list[Verdict]]]
RESPONSE = "response"
"""``RawRecord.meta["kind"]`` of a whole response (an error envelope or a KMA grid point)."""

_XML_TAG = re.compile(r"<(errMsg|returnAuthMsg|returnReasonCode|resultCode|resultMsg)>([^<]*)<")


def _xml_error(text: str) -> str:
    found = dict(_XML_TAG.findall(text))
    parts = [found.get("returnAuthMsg") or found.get("resultMsg") or found.get("errMsg")]
    code = found.get("returnReasonCode") or found.get("resultCode")
    if not parts[0] and not code:
        return "response is XML without an error header"
    return f"API error {parts[0] or '?'} (code {code or '?'})"


def parse_envelope(body: bytes) -> dict[str, Any]:
    """The ``body`` object of a successful response; RecordError for anything else."""
    text = body.decode("utf-8", errors="replace").lstrip("\ufeff \r\n\t")
    if text.startswith("<"):
        raise RecordError(_xml_error(text))
    doc = json_object(text)
    env = doc.get("response", doc)
    header = env.get("header") if isinstance(env, dict) else None
    if not isinstance(header, dict) or "resultCode" not in header:
        raise RecordError("response has no header.resultCode")
    code = str(header["resultCode"])
    if code not in ("00", "0"):
        raise RecordError(f"API error {header.get('resultMsg', '?')} (resultCode {code})")
    body_obj = env.get("body")
    if not isinstance(body_obj, dict):
        raise RecordError("response has no body")
    return body_obj


def items_of(body: dict[str, Any]) -> list[Any]:
    """``body.items`` as a list: a list, ``{"item": [...]}``, ``{"item": {...}}`` or ``""``."""
    items = body.get("items")
    if items in (None, ""):
        return []
    if isinstance(items, dict):
        items = items.get("item", [])
        if isinstance(items, dict):
            items = [items]
    if not isinstance(items, list):
        raise RecordError("body.items is not a list")
    return items


def response_record(dataset: str, source: str, body: bytes, key: str | None) -> RawRecord:
    return RawRecord(dataset, source, body, datetime.now(UTC), key, {"kind": RESPONSE})


def split_response(dataset: str, source: str, body: bytes, key_of: Callable[[dict], str],
                   keep: Callable[[dict], bool] | None = None) -> list[RawRecord]:
    """One record per item (a bad item spoils only itself); the whole response as one
    record when the envelope itself is bad (its mapper then rejects it with the reason).
    ``keep`` leaves out rows of places the hub does not model (other stations, links)."""
    try:
        items = items_of(parse_envelope(body))
    except RecordError:
        return [response_record(dataset, source, body, None)]
    now = datetime.now(UTC)
    out = []
    for i, item in enumerate(items):
        if keep is not None and isinstance(item, dict) and not keep(item):
            continue
        raw = json.dumps(item, ensure_ascii=False).encode()
        # the item's own key plus a digest of its content: a re-poll of the same answer
        # changes nothing, a corrected one (a '-' filled in later) is a new record
        digest = hashlib.blake2b(raw, digest_size=6).hexdigest()
        key = f"{key_of(item) if isinstance(item, dict) else f'item-{i}'}#{digest}"
        out.append(RawRecord(dataset, source, raw, now, key, {"kind": "item"}))
    return out


def item_of(record: RawRecord) -> dict[str, Any]:
    """The item of an item record; the envelope's reason for a whole-response record."""
    if record.meta.get("kind") == RESPONSE:
        parse_envelope(record.payload)
        raise RecordError("response envelope holds no items")
    return json_object(record.payload, "item")


def number(item: dict[str, Any], field: str, lo: float, hi: float, unit: str) -> float | None:
    """A numeric field given as text; None for the APIs' missing marks ("-", "", null)."""
    raw = item.get(field)
    if raw is None or (isinstance(raw, str) and raw.strip() in ("", "-", "--")):
        return None
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise RecordError(f"{field} {raw!r} is not a number") from None
    if not math.isfinite(value) or not lo <= value <= hi:
        raise RecordError(f"{field} {raw!r} is out of range {lo:g}..{hi:g} {unit}")
    return int(value) if value.is_integer() and isinstance(raw, str) and "." not in raw else value


def kst_to_utc(text: str, fmt: str) -> str:
    """A KST time as the APIs write it -> ISO 8601 UTC ('...Z'). AirKorea writes the
    hour after 23:00 as '24:00' of the same day."""
    extra = timedelta(0)
    if " 24:00" in text:
        text, extra = text.replace(" 24:00", " 00:00"), timedelta(days=1)
    try:
        local = datetime.strptime(text, fmt).replace(tzinfo=KST) + extra
    except (TypeError, ValueError):
        raise RecordError(f"time {text!r} does not match {fmt}") from None
    return local.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


_SECRET = re.compile(r"((?:serviceKey|apiKey|ServiceKey)=)[^&\s\"']+")


class _RedactKeys(logging.Filter):
    """The APIs take their keys in the query string: keep them out of httpx's log lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        if "Key=" in msg:
            record.msg, record.args = _SECRET.sub(r"\1***", msg), ()
        return True


def _redact_httpx_log() -> None:
    logger = logging.getLogger("httpx")
    if not any(isinstance(f, _RedactKeys) for f in logger.filters):
        logger.addFilter(_RedactKeys())


class OpenDataPoller:
    """Polls one URL every ``interval`` seconds and submits what it gets.

    ``to_records(body)`` turns a response into raw records. A failed request (no
    answer, HTTP error) is logged and retried at the next tick: there is no record yet
    to lose. What the API answered always reaches ``submit``.
    """

    def __init__(self, name: str, url: str, params: dict[str, Any], interval: float,
                 submit: Submit, to_records: Callable[[bytes], list[RawRecord]],
                 timeout: float = 10.0) -> None:
        self.name, self.url, self.params = name, url, params
        self.interval, self.timeout = interval, timeout
        self.submit, self.to_records = submit, to_records
        _redact_httpx_log()
        self.polls = 0
        self.failures = 0
        self._task: asyncio.Task[None] | None = None

    async def poll_once(self) -> list[Verdict]:
        import httpx

        async with httpx.AsyncClient(timeout=self.timeout) as client:
            resp = await client.get(self.url, params=self.params)
        self.polls += 1
        if resp.status_code >= 400 and not resp.content.lstrip().startswith(b"<"):
            self.failures += 1
            log.warning("%s: HTTP %s from %s", self.name, resp.status_code, self.url)
            return []
        records = self.to_records(resp.content)
        return await self.submit(records) if records else []

    async def run(self) -> None:
        while True:
            try:
                await self.poll_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - an adapter never dies of one bad poll
                self.failures += 1
                log.warning("%s: poll failed: %s", self.name, exc)
            await asyncio.sleep(self.interval)

    def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name=f"ingest-{self.name}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


class PollingAdapter:
    """What the polling adapters share: settings from ``settings_class``, a poller per
    ``build`` answer, started and stopped together. A subclass sets ``name`` and
    ``settings_class`` and writes ``build`` and ``mappers``."""

    name = ""
    settings_class: Any = None

    def __init__(self, **options: Any) -> None:
        self.settings = self.settings_class(**options)
        self.pollers: list[OpenDataPoller] = []

    def build(self, submit: Submit) -> list[OpenDataPoller]:
        raise NotImplementedError

    async def start(self, submit: Submit, hub: Any = None) -> None:
        self.pollers = self.build(submit)
        for p in self.pollers:
            p.start()

    async def stop(self) -> None:
        for p in self.pollers:
            await p.stop()
