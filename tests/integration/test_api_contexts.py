"""Remote @contexts: fetched by URL from a loopback server, cached, and errors when absent."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

BASE = "/ngsi-ld/v1"
USER_CTX = {"@context": {"Bus": "https://example.org/Bus", "seats": "https://example.org/seats"}}


class _Handler(BaseHTTPRequestHandler):
    hits: dict[str, int] = {}

    def do_GET(self) -> None:  # noqa: N802
        _Handler.hits[self.path] = _Handler.hits.get(self.path, 0) + 1
        if self.path == "/ctx.jsonld":
            body = json.dumps(USER_CTX).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/ld+json")
            self.end_headers()
            self.wfile.write(body)
        else:
            self.send_response(404)
            self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def ctx_server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    _Handler.hits = {}
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()


def link(url: str) -> dict[str, str]:
    return {"Link": f'<{url}>; rel="http://www.w3.org/ns/json-ld#context"; '
                    'type="application/ld+json"'}


async def test_remote_context_is_fetched_once_and_used(client, ctx_server):
    url = f"{ctx_server}/ctx.jsonld"
    body = {"id": "urn:ngsi-ld:Bus:1", "type": "Bus", "seats": {"type": "Property", "value": 40}}
    r = await client.post(f"{BASE}/entities", json=body, headers=link(url))
    assert r.status_code == 201, r.text
    plain = (await client.get(f"{BASE}/entities/urn:ngsi-ld:Bus:1")).json()
    assert plain["type"] == "https://example.org/Bus"
    assert plain["https://example.org/seats"]["value"] == 40
    compact = (await client.get(f"{BASE}/entities/urn:ngsi-ld:Bus:1", headers=link(url))).json()
    assert compact["type"] == "Bus" and compact["seats"]["value"] == 40
    assert _Handler.hits["/ctx.jsonld"] == 1
    r = await client.get(f"{BASE}/jsonldContexts", params={"kind": "Cached"})
    assert url in r.json()


async def test_unreachable_context_is_503_and_writes_nothing(client, ctx_server):
    body = {"id": "urn:ngsi-ld:Bus:2", "type": "Bus"}
    r = await client.post(f"{BASE}/entities", json=body, headers=link(f"{ctx_server}/missing"))
    assert r.status_code == 503
    assert r.json()["type"].endswith("LdContextNotAvailable")
    assert (await client.get(f"{BASE}/entities/urn:ngsi-ld:Bus:2")).status_code == 404


async def test_openapi_document_and_docs_page(client):
    r = await client.get("/openapi.json")
    assert r.status_code == 200
    paths = r.json()["paths"]
    assert "/ngsi-ld/v1/entities" in paths and "/ngsi-ld/v1/entityOperations/upsert" in paths
    r = await client.get("/docs")
    assert r.status_code == 200 and "swagger" in r.text.lower()


async def test_preloaded_contexts_work_offline(tmp_path):
    """An offline site lists the contexts it needs in DOSI_CONTEXTS_DIR/index.json."""
    import httpx as hx

    from dosi.api.app import create_app
    from dosi.settings import Settings

    folder = tmp_path / "contexts"
    folder.mkdir()
    (folder / "city.jsonld").write_text(json.dumps(USER_CTX))
    url = "https://contexts.example.invalid/city.jsonld"  # never reachable here
    (folder / "index.json").write_text(json.dumps({url: "city.jsonld"}))
    app = create_app(Settings(auth=False, store_url=f"sqlite:///{tmp_path}/hub.db",
                              contexts_dir=str(folder)))
    async with app.router.lifespan_context(app):
        async with hx.AsyncClient(transport=hx.ASGITransport(app=app), base_url="http://hub") as c:
            body = {"id": "urn:ngsi-ld:Bus:3", "type": "Bus",
                    "seats": {"type": "Property", "value": 12}}
            r = await c.post(f"{BASE}/entities", json=body, headers=link(url))
            assert r.status_code == 201, r.text
            got = (await c.get(f"{BASE}/entities/urn:ngsi-ld:Bus:3")).json()
            assert got["type"] == "https://example.org/Bus"
