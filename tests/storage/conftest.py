"""The ``storage`` fixture: every contract test runs against memory, SQLite and PostgreSQL.

PostgreSQL runs for real (the CI machine has a server): each test gets a schema of its own in the
database of ``LINKFLOW_TEST_POSTGRES_DSN`` (default: the local server's ``test`` database), dropped
afterwards, so tests never see each other's rows.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import psycopg
import pytest
from storage_records import POSTGRES_DSN

from linkflow_engine.storage.base import Storage
from linkflow_engine.storage.memory import MemoryStorage
from linkflow_engine.storage.postgres import PostgresStorage
from linkflow_engine.storage.sqlite import SQLiteStorage


@pytest.fixture(params=["memory", "sqlite", "postgres"])
async def storage(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Storage]:
    """An open, empty storage of each backend."""
    backend: Storage
    schema = None
    if request.param == "memory":
        backend = MemoryStorage()
    elif request.param == "sqlite":
        backend = SQLiteStorage(tmp_path / "linkflow.db")
    else:
        schema = f"test_{uuid.uuid4().hex[:16]}"
        backend = PostgresStorage(POSTGRES_DSN, schema=schema, min_size=1, max_size=4)
    try:
        await backend.open()
        try:
            yield backend
        finally:
            await backend.aclose()
    finally:
        if schema is not None:
            _drop_schema(schema)


@pytest.fixture
async def twin(storage: Storage) -> AsyncIterator[Storage]:
    """A second storage on the same database, as another process would open it (for memory,
    which no other process can share, the same instance)."""
    if isinstance(storage, MemoryStorage):
        yield storage
        return
    other: Storage
    if isinstance(storage, SQLiteStorage):
        other = SQLiteStorage(storage.path)
    else:
        assert isinstance(storage, PostgresStorage)
        other = PostgresStorage(storage.dsn, schema=storage.schema, min_size=1, max_size=4)
    await other.open()
    try:
        yield other
    finally:
        await other.aclose()


def _drop_schema(schema: str) -> None:
    with psycopg.connect(POSTGRES_DSN, autocommit=True) as connection:
        connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
