"""The audit log on both stores: who read (personal data) or changed what, queryable
by a system admin, and ``dosi audit verify`` detecting a changed, deleted or
reordered record after the table is tampered with directly."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from dosi.api.app import create_app
from dosi.cli import main
from dosi.security.audit import verify
from dosi.settings import Settings
from tests.security.conftest import CTX, PERSON, store_url

LD = {"Content-Type": "application/ld+json"}


@pytest.fixture
async def audited(tmp_path: Any, backend: str) -> AsyncIterator[tuple[httpx.AsyncClient, Any, str]]:
    url = await store_url(tmp_path, backend)
    app = create_app(Settings(store_url=url, auth=True, audit_personal_types=[PERSON],
                              auth_cache_ttl=0))
    async with app.router.lifespan_context(app):
        sec = app.state.hub.security
        from dosi.security.policy import Rule
        await sec.add_rule(Rule("consumer", frozenset({"read"}), type=PERSON))
        tokens = {}
        for name, roles in (("admin", ["system-admin"]), ("reader", ["consumer"])):
            cred, _ = await sec.create_client(roles, None, name, name)
            tokens[name] = {"Authorization": "Bearer " + (await sec.builtin.issue(cred))["access_token"]}
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://hub") as c:
            yield c, tokens, url


async def make_trail(c: httpx.AsyncClient, t: dict[str, Any]) -> None:
    person = {"id": "urn:ngsi-ld:Person:1", "type": "Person",
              "name": {"type": "Property", "value": "Kim"}, **CTX}
    assert (await c.post("/ngsi-ld/v1/entities", json=person,
                         headers={**t["admin"], **LD})).status_code == 201
    r = await c.get("/ngsi-ld/v1/entities/urn:ngsi-ld:Person:1", headers=t["reader"])
    assert r.status_code == 200
    r = await c.get(f"/ngsi-ld/v1/entities?type={quote(PERSON)}", headers=t["reader"])
    assert r.status_code == 200 and len(r.json()) == 1
    r = await c.delete("/ngsi-ld/v1/entities/urn:ngsi-ld:Person:1", headers=t["reader"])
    assert r.status_code == 403
    assert (await c.get("/ngsi-ld/v1/types")).status_code == 401


async def test_the_log_tells_who_did_what(audited: Any) -> None:
    c, t, _ = audited
    await make_trail(c, t)
    r = await c.get("/dosi/v1/audit?limit=1000", headers=t["admin"])
    assert r.status_code == 200
    rows = r.json()
    seen = [(x["subject"], x["action"], x["target"]) for x in rows]
    assert ("admin", "entity.create", "urn:ngsi-ld:Person:1") in seen
    assert seen.count(("reader", "entity.read", "urn:ngsi-ld:Person:1")) == 2
    assert ("reader", "auth.denied", "DELETE /ngsi-ld/v1/entities/urn:ngsi-ld:Person:1") in seen \
        or any(s == "reader" and a == "http.delete" and "403" in str(x["detail"])
               for (s, a, _), x in zip(seen, rows, strict=True))
    assert any(a == "auth.failed" and tg == "GET /ngsi-ld/v1/types" for _, a, tg in seen)
    assert [x["seq"] for x in rows] == list(range(1, len(rows) + 1))
    assert all(rows[i]["prevHash"] == rows[i - 1]["hash"] for i in range(1, len(rows)))
    r = await c.get("/dosi/v1/audit?subject=reader&action=entity.read", headers=t["admin"])
    assert len(r.json()) == 2
    r = await c.get("/dosi/v1/audit", headers=t["reader"])
    assert r.status_code == 403


async def _tamper(url: str, sql: str) -> None:
    if url.startswith("sqlite"):
        conn = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
        for statement in sql.split(";"):
            conn.execute(statement)
        conn.close()
        return
    import psycopg
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        for statement in sql.split(";"):
            await conn.execute(statement)  # type: ignore[arg-type]


async def _verify_cli(url: str, capsys: Any) -> tuple[int, str]:
    code = await asyncio.to_thread(main, ["audit", "--store", url, "verify"])
    out = capsys.readouterr()
    return code, out.out + out.err


@pytest.mark.parametrize("tampering, finding", [
    ("UPDATE audit_log SET subject = 'someone-else' WHERE seq = 2", "record 2 was changed"),
    ("UPDATE audit_log SET detail = NULL WHERE seq = 1", "record 1 was changed"),
    ("DELETE FROM audit_log WHERE seq = 2", "record 2 is missing"),
    ("UPDATE audit_log SET seq = -2 WHERE seq = 2; UPDATE audit_log SET seq = 2 WHERE seq = 3;"
     + " UPDATE audit_log SET seq = 3 WHERE seq = -2", "record 2 does not follow"),
])
async def test_verify_detects_tampering(audited: Any, capsys: Any, tampering: str,
                                        finding: str) -> None:
    c, t, url = audited
    await make_trail(c, t)
    hub = c._transport.app.state.hub  # type: ignore[attr-defined]
    await hub.audit.flush()
    report = await verify(hub.security.store)
    assert report.ok and report.checked >= 4
    code, out = await _verify_cli(url, capsys)
    assert code == 0 and "intact" in out, out
    await _tamper(url, tampering)
    code, out = await _verify_cli(url, capsys)
    assert code == 1, out
    assert finding in out, out
