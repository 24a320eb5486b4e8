"""``dosi serve`` refuses adapter settings it cannot use, with a readable message."""

from __future__ import annotations

import pytest

from dosi.cli import main


@pytest.mark.parametrize("env,message", [
    ({"DOSI_INGEST_ADAPTERS": '["mqtt", "sms"]'}, "unknown ingest adapter(s) ['sms']"),
    ({"DOSI_INGEST_ADAPTERS": '["mqtt"]', "DOSI_MQTT_GROUPS": '[{"name": "g"}]'},
     "mqtt adapter: groups.0.topic: Field required"),
    ({"DOSI_INGEST_ADAPTERS": '["mqtt"]', "DOSI_MQTT_GROUPS_FILE": "/no/such/groups.json"},
     "mqtt adapter: [Errno 2] No such file or directory"),
    ({"DOSI_INGEST_ADAPTERS": '["kma"]', "DOSI_KMA_CELLS": "[[500, 1]]"}, None),
])
def test_serve_reports_bad_adapter_settings(monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str],
                                            env: dict[str, str], message: str | None) -> None:
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    if message is None:  # a grid cell outside the KMA grid
        message = "kma adapter: cells: Value error, grid cell (500, 1) is outside the KMA grid"
    assert main(["serve", "--port", "1", "--store", "sqlite:///unused.db"]) == 2
    assert message in capsys.readouterr().err
