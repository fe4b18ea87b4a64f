"""``linkflow credentials add|list|delete`` against a SQLite database."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from linkflow_engine.cli import main

SECRET = "cli-secret-value-123"


@pytest.fixture(autouse=True)
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "linkflow.db"
    monkeypatch.setenv("LINKFLOW_DB", str(path))
    monkeypatch.delenv("LINKFLOW_DATABASE_URL", raising=False)
    return path


def test_add_list_delete(
    capsys: pytest.CaptureFixture[str], database: Path, key_file: Path
) -> None:
    """add stores (encrypted, key file created), list shows it masked, delete removes it."""
    data = json.dumps({"apiKey": SECRET})
    assert (
        main(["credentials", "add", "Stripe", "--type", "api_key", "--data", data, "--id", "s"])
        == 0
    )
    added = json.loads(capsys.readouterr().out)
    assert added["data"] == {"apiKey": "***"} and added["id"] == "s"
    assert key_file.exists() and SECRET.encode() not in database.read_bytes()
    assert main(["credentials", "list"]) == 0
    listed = json.loads(capsys.readouterr().out)["credentials"]
    assert [(c["id"], c["name"], c["type"]) for c in listed] == [("s", "Stripe", "api_key")]
    assert SECRET not in json.dumps(listed)
    assert main(["credentials", "delete", "s"]) == 0
    assert main(["credentials", "delete", "s"]) == 1
    assert "credential 's' not found" in capsys.readouterr().err


def test_data_can_come_from_a_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """--data @FILE reads the JSON from a file."""
    source = tmp_path / "cred.json"
    source.write_text(json.dumps({"token": SECRET}))
    assert (
        main(["credentials", "add", "GitHub", "--type", "bearer_token", "--data", f"@{source}"])
        == 0
    )
    assert json.loads(capsys.readouterr().out)["data"] == {"token": "***"}


def test_invalid_data_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    """Data missing the type's fields is reported field by field with exit code 2."""
    assert main(["credentials", "add", "x", "--type", "basic_auth", "--data", "{}"]) == 2
    err = capsys.readouterr().err
    assert "data.username" in err and "data.password" in err
