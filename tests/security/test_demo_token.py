"""``dosi demo`` with authentication on prints a token that works; ``dosi serve``
says how to get one."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.integration.receiver import free_port


def start(tmp_path: Path, command: str, port: int) -> tuple[subprocess.Popen[str], list[str]]:
    proc = subprocess.Popen([sys.executable, "-m", "dosi.cli", command, "--port", str(port)],
                            cwd=tmp_path, env={**os.environ, "DOSI_AUTH": "true"},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    assert proc.stdout is not None
    for _ in range(50):
        lines.append(proc.stdout.readline())
        if "docs/security.md" in lines[-1] or "curl -H" in lines[-1]:
            break
    for _ in range(300):
        try:
            httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
            break
        except httpx.HTTPError:
            time.sleep(0.1)
    return proc, lines


def test_demo_prints_a_ready_token(tmp_path: Path) -> None:
    port = free_port()
    proc, lines = start(tmp_path, "demo", port)
    try:
        token = next(ln.split("TOKEN=", 1)[1].strip() for ln in lines if "TOKEN=" in ln)
        base = f"http://127.0.0.1:{port}/ngsi-ld/v1/types"
        assert httpx.get(base).status_code == 401
        r = httpx.get(base, headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200 and r.json()["type"] == "EntityTypeList", r.text
    finally:
        proc.terminate()
        proc.wait(10)


def test_serve_says_how_to_get_a_token(tmp_path: Path) -> None:
    proc, lines = start(tmp_path, "serve", free_port())
    try:
        text = "".join(lines)
        assert "dosi auth client create" in text and "dosi auth token" in text
    finally:
        proc.terminate()
        proc.wait(10)
