"""Every CLI test gets its own database (the default ./linkflow.db would land in the checkout)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "linkflow.db"
    monkeypatch.setenv("LINKFLOW_DB", str(path))
    monkeypatch.delenv("LINKFLOW_DATABASE_URL", raising=False)
    return path
