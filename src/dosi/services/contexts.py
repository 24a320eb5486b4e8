"""Resolving @contexts: bundled core, preloaded files, stored ones and remote fetches.

Remote contexts are fetched by URL with a timeout and cached (in memory, and in the
store as ``Cached`` contexts so other hub processes and restarts reuse them).
Processed ``ActiveContext`` objects are cached by their source, so a request with a
known ``Link`` header costs one dict lookup.
"""

from __future__ import annotations

import json
import time
import uuid
from importlib import resources
from collections import OrderedDict
from pathlib import Path
from typing import Any

import httpx
import orjson

from dosi.errors import (
    BadRequestDataError,
    InvalidRequestError,
    LdContextNotAvailableError,
    ResourceNotFoundError,
)
from dosi.ngsild.context import (
    ActiveContext,
    build_context,
    core_context,
    core_context_document,
    is_core_context_url,
)
from dosi.ngsild.values import now_iso
from dosi.storage.base import ContextStore

_STARTED = now_iso()
HOSTED = "Hosted"
CACHED = "Cached"
IMPLICIT = "ImplicitlyCreated"


class ContextService:
    """@context resolution and the /jsonldContexts resource."""

    def __init__(
        self,
        store: ContextStore,
        *,
        base_url: str,
        fetch_timeout: float = 5.0,
        cache_ttl: float = 3600.0,
        contexts_dir: str | None = None,
    ) -> None:
        self.store = store
        self.base_url = base_url.rstrip("/")
        self.fetch_timeout = fetch_timeout
        self.cache_ttl = cache_ttl
        self._docs: dict[str, tuple[float, Any]] = {}
        self._active: OrderedDict[str, ActiveContext] = OrderedDict()
        self._preloaded: dict[str, Any] = {}
        self._client: httpx.AsyncClient | None = None
        self._preloaded.update(bundled_contexts())
        if contexts_dir:
            self._load_dir(Path(contexts_dir))

    def _load_dir(self, folder: Path) -> None:
        """Preloaded contexts: ``index.json`` maps URL -> file, or files named by URL-safe keys."""
        index = folder / "index.json"
        if index.exists():
            for url, fname in json.loads(index.read_text()).items():
                self._preloaded[url] = json.loads((folder / fname).read_text())

    def hosted_url(self, ctx_id: str) -> str:
        return f"{self.base_url}/ngsi-ld/v1/jsonldContexts/{ctx_id}"

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()

    # --- resolution ---

    async def resolve(self, items: Any) -> ActiveContext:
        """The active context for user context items (URL, object or list); None: core only."""
        if items is None or items == []:
            return core_context()
        key = items if isinstance(items, str) else orjson.dumps(items).decode()
        hit = self._active.get(key)
        if hit is not None:
            self._active.move_to_end(key)
            return hit
        docs: dict[str, Any] = {}
        await self._prefetch(items, docs, 0)
        active = build_context(items, loader=lambda url: docs[url])
        self._active[key] = active
        if len(self._active) > 512:
            self._active.popitem(last=False)
        return active

    async def _prefetch(self, item: Any, docs: dict[str, Any], depth: int) -> None:
        if depth > 8:
            raise BadRequestDataError("@context references nest too deep")
        if isinstance(item, list):
            for sub in item:
                await self._prefetch(sub, docs, depth + 1)
        elif isinstance(item, str):
            if is_core_context_url(item) or item in docs:
                return
            doc = await self.load_document(item)
            docs[item] = doc
            if isinstance(doc, dict):
                await self._prefetch(doc.get("@context"), docs, depth + 1)
        elif isinstance(item, dict) and isinstance(item.get("@import"), str):
            await self._prefetch(item["@import"], docs, depth + 1)

    async def load_document(self, url: str) -> Any:
        """A context document by URL: core, preloaded, hosted here, cached, or fetched."""
        if is_core_context_url(url):
            return core_context_document()
        if url in self._preloaded:
            return self._preloaded[url]
        if "/jsonldContexts/" in url:  # one of ours, whatever host name the client used
            local = await self.store.get_context(url.rsplit("/", 1)[1])
            if local is not None:
                return local["body"]
        now = time.monotonic()
        cached = self._docs.get(url)
        if cached is not None and now - cached[0] < self.cache_ttl:
            return cached[1]
        record = await self.store.get_context(url)
        if record is not None:
            self._docs[url] = (now, record["body"])
            return record["body"]
        doc = await self._fetch(url)
        self._docs[url] = (now, doc)
        await self.store.put_context(str(uuid.uuid4()), url, CACHED, doc)
        return doc

    async def _fetch(self, url: str) -> Any:
        if not url.startswith(("http://", "https://")):
            raise LdContextNotAvailableError(f"cannot dereference @context {url}")
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.fetch_timeout, follow_redirects=True)
        try:
            resp = await self._client.get(
                url, headers={"Accept": "application/ld+json, application/json"}
            )
        except httpx.HTTPError as exc:
            raise LdContextNotAvailableError(f"cannot fetch @context {url}: {exc}") from exc
        if resp.status_code != 200:
            raise LdContextNotAvailableError(
                f"cannot fetch @context {url}: HTTP {resp.status_code}"
            )
        try:
            doc = resp.json()
        except ValueError as exc:
            raise LdContextNotAvailableError(f"@context at {url} is not JSON") from exc
        if not isinstance(doc, dict) or "@context" not in doc:
            raise LdContextNotAvailableError(f"{url} is not a JSON-LD context document")
        return doc

    # --- /jsonldContexts ---

    async def add_hosted(self, body: Any) -> str:
        """POST /jsonldContexts: keep a context document and serve it at its own URL."""
        if not isinstance(body, dict) or "@context" not in body:
            raise InvalidRequestError("a context document needs an @context member")
        ctx = body["@context"]
        if not isinstance(ctx, (dict, list, str)):
            raise InvalidRequestError("@context must be an object, an array or a URL")
        build_context(ctx, loader=_no_remote) if _local_only(ctx) else None
        ctx_id = str(uuid.uuid4())
        await self.store.put_context(ctx_id, self.hosted_url(ctx_id), HOSTED, body)
        return ctx_id

    async def add_implicit(self, items: Any) -> str:
        """An ImplicitlyCreated context: a subscription's inline @context array kept as
        one document, so that notifications and clients can name it by one URL."""
        ctx_id = str(uuid.uuid4())
        url = self.hosted_url(ctx_id)
        await self.store.put_context(ctx_id, url, IMPLICIT, {"@context": items})
        return url

    async def get(self, ctx_id: str) -> dict[str, Any]:
        """A stored context by local id or URL; the core context is always there."""
        if is_core_context_url(ctx_id):
            return {"id": ctx_id, "url": ctx_id, "kind": CACHED, "body": core_context_document(),
                    "createdAt": _STARTED}
        record = await self.store.get_context(ctx_id)
        if record is None:
            record = await self.store.get_context(self.hosted_url(ctx_id))
        if record is None:
            raise ResourceNotFoundError(f"no @context {ctx_id}")
        return record

    async def list(self, kind: str | None) -> list[dict[str, Any]]:
        if kind is not None and kind not in (HOSTED, CACHED, IMPLICIT):
            raise BadRequestDataError(f"unknown context kind {kind!r}")
        return await self.store.list_contexts(kind)

    async def delete(self, ctx_id: str, reload: bool = False) -> None:
        """DELETE /jsonldContexts/{id}: drop a Hosted or Cached context, or reload a Cached one."""
        if reload:
            try:
                record = await self.get(ctx_id)
            except ResourceNotFoundError:
                raise BadRequestDataError(f"no cached @context {ctx_id} to reload") from None
            if record["kind"] != CACHED:
                raise BadRequestDataError(f"only Cached contexts can be reloaded, not {record['kind']}")
            if is_core_context_url(record["url"]):
                return  # the core context reloads from the bundled copy
            doc = await self._fetch(record["url"])
            self._docs[record["url"]] = (time.monotonic(), doc)
            await self.store.put_context(record["id"], record["url"], CACHED, doc)
            self._active.clear()
            return
        if is_core_context_url(ctx_id):
            raise BadRequestDataError("the core @context cannot be deleted")
        record = await self.get(ctx_id)
        await self.store.delete_context(record["id"])
        self._docs.pop(record["url"], None)
        self._active.clear()


def bundled_contexts() -> dict[str, Any]:
    """The Smart Data Models subject contexts shipped with dosi, by their public URLs."""
    root = resources.files("dosi.data").joinpath("smart-data-models")
    out: dict[str, Any] = {}
    for subject in (p for p in root.iterdir() if p.is_dir()):
        ctx_file = subject.joinpath("context.jsonld")
        if not ctx_file.is_file():
            continue
        doc = json.loads(ctx_file.read_text(encoding="utf-8"))
        name = subject.name
        out[f"https://raw.githubusercontent.com/smart-data-models/dataModel.{name}/master/context.jsonld"] = doc
        out[f"https://smart-data-models.github.io/dataModel.{name}/context.jsonld"] = doc
    return out


def _local_only(ctx: Any) -> bool:
    if isinstance(ctx, str):
        return False
    if isinstance(ctx, list):
        return all(_local_only(x) for x in ctx)
    return True


def _no_remote(url: str) -> Any:
    raise LdContextNotAvailableError(f"cannot load {url}")
