"""A short run of scripts/fuzz_api.py (schemathesis over /openapi.json with a valid
token and forged ones, then random NGSI-LD parameters) against a real ``dosi serve``:
no 5xx, no leak. The long run and its figures are in docs/security.md."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.integration.receiver import free_port

ROOT = Path(__file__).resolve().parents[2]


def test_short_fuzz_run_finds_no_5xx_and_no_leak(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "fuzz_api.py"), "--examples", "2",
         "--port", str(free_port()), "--store", f"sqlite:///{tmp_path}/fuzz.db"],
        capture_output=True, text=True, timeout=600, check=False)
    assert "5xx or leaks: 0" in out.stdout, out.stdout[-3000:] + out.stderr[-3000:]
    assert out.returncode == 0
    assert "| no credentials |" in out.stdout and "| tampered payload |" in out.stdout
