"""``dosi auth`` and ``dosi audit`` as an operator runs them: create a client, get a
token the hub accepts, add and list rules, create and revoke an API key, readable
errors for bad input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from dosi.api.app import create_app
from dosi.cli import main
from dosi.settings import Settings


def run(capsys: Any, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out.strip(), out.err.strip()


def test_cli_round_trip(tmp_path: Path, capsys: Any) -> None:
    store = f"sqlite:///{tmp_path}/cli.db"
    code, out, _ = run(capsys, "auth", "--store", store, "client", "create",
                       "--roles", "data-admin", "--tenants", "a,b", "--label", "ops")
    assert code == 0
    client = json.loads(out)
    assert client["client_id"].startswith("client-") and len(client["client_secret"]) >= 40
    code, token, _ = run(capsys, "auth", "--store", store, "token", client["client_id"],
                         "--secret", client["client_secret"])
    assert code == 0 and token.count(".") == 2
    code, _, err = run(capsys, "auth", "--store", store, "token", client["client_id"],
                       "--secret", "wrong")
    assert code == 1 and "wrong secret" in err
    code, out, _ = run(capsys, "auth", "--store", store, "rule", "add", "--role", "consumer",
                       "--ops", "read", "--type", "urn:ex:Vehicle")
    rule = json.loads(out)
    assert rule["operations"] == ["read"] and rule["type"] == "urn:ex:Vehicle"
    code, out, err = run(capsys, "auth", "--store", store, "rule", "add", "--role", "consumer",
                         "--ops", "fly")
    assert code == 2 and "operations must be some of" in err
    code, out, err = run(capsys, "auth", "--store", store, "key", "create", "--roles", "king")
    assert code == 2 and "roles must be some of" in err
    code, out, _ = run(capsys, "auth", "--store", store, "key", "create", "--roles", "consumer")
    key = json.loads(out)
    code, out, _ = run(capsys, "auth", "--store", store, "key", "list")
    assert key["key_id"] in out and "active" in out and key["api_key"] not in out
    assert run(capsys, "auth", "--store", store, "key", "revoke", key["key_id"])[0] == 0
    code, out, _ = run(capsys, "auth", "--store", store, "key", "list")
    assert "revoked" in out
    assert run(capsys, "auth", "--store", store, "key", "revoke", "nope")[0] == 1
    code, out, _ = run(capsys, "audit", "--store", store, "verify")
    assert code == 0 and "intact: 0 records" in out


async def test_a_cli_token_is_accepted_by_the_hub(tmp_path: Path, capsys: Any) -> None:
    import asyncio

    store = f"sqlite:///{tmp_path}/hub.db"
    app = create_app(Settings(store_url=store, auth=True))
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://hub") as c:
        code = await asyncio.to_thread(main, ["auth", "--store", store, "client", "create",
                                              "--roles", "consumer", "--id", "app1"])
        assert code == 0
        code = await asyncio.to_thread(main, ["auth", "--store", store, "token", "app1"])
        token = capsys.readouterr().out.strip().splitlines()[-1]
        r = await c.get("/dosi/v1/auth/whoami", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200 and r.json()["subject"] == "app1"
