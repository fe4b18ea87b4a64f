"""Shared fixtures for the whole suite."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def isolated_encryption_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test (nor any server it starts) reads or creates the user's real key file."""
    monkeypatch.setenv("LINKFLOW_KEY_FILE", str(tmp_path / "encryption.key"))
    monkeypatch.delenv("LINKFLOW_ENCRYPTION_KEY", raising=False)
