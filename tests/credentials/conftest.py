"""The ``store`` fixture: every contract test runs against memory, SQLite and PostgreSQL.

No test may read or create the real key file: ``LINKFLOW_KEY_FILE`` points into the test's
temporary directory and ``LINKFLOW_ENCRYPTION_KEY`` is unset unless a test sets it.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from credential_stores import KEY, POSTGRES_DSN, drop_schema

from linkflow_engine.credentials import CredentialCipher, CredentialStore, MemoryCredentialStore
from linkflow_engine.credentials.postgres import PostgresCredentialStore
from linkflow_engine.credentials.sqlite import SQLiteCredentialStore


@pytest.fixture(autouse=True)
def key_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "keys" / "encryption.key"
    monkeypatch.setenv("LINKFLOW_KEY_FILE", str(path))
    monkeypatch.delenv("LINKFLOW_ENCRYPTION_KEY", raising=False)
    return path


@pytest.fixture(params=["memory", "sqlite", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[CredentialStore]:
    """An open, empty credential store of each backend, encrypting with ``KEY``."""
    backend: CredentialStore
    schema = None
    if request.param == "memory":
        backend = MemoryCredentialStore()
    elif request.param == "sqlite":
        backend = SQLiteCredentialStore(tmp_path / "linkflow.db", cipher=CredentialCipher(KEY))
    else:
        schema = f"test_{uuid.uuid4().hex[:16]}"
        backend = PostgresCredentialStore(POSTGRES_DSN, schema=schema, cipher=CredentialCipher(KEY))
    try:
        await backend.open()
        try:
            yield backend
        finally:
            await backend.aclose()
    finally:
        if schema is not None:
            drop_schema(schema)
