"""Contract: schema migrations and durability across reopening (durable backends)."""

from __future__ import annotations

import sqlite3

import psycopg
import pytest
from storage_records import POSTGRES_DSN, make_execution, make_node

from linkflow_engine import StorageError
from linkflow_engine.storage.base import Storage
from linkflow_engine.storage.postgres import PostgresStorage
from linkflow_engine.storage.sqlite import SQLiteStorage


def _require_durable(storage: Storage) -> None:
    if not storage.durable:
        pytest.skip("memory storage has no schema and keeps nothing past the process")


def _schema_version(storage: Storage, new: int | None = None) -> int:
    """Read (and with ``new``, first set) the stored schema version behind the storage's back."""
    if isinstance(storage, SQLiteStorage):
        with sqlite3.connect(storage.path, isolation_level=None) as connection:
            if new is not None:
                connection.execute("UPDATE schema_version SET version = ?", (new,))
            return int(connection.execute("SELECT version FROM schema_version").fetchone()[0])
    assert isinstance(storage, PostgresStorage)
    with psycopg.connect(POSTGRES_DSN, autocommit=True) as connection:
        table = f'"{storage.schema}".schema_version'
        if new is not None:
            connection.execute(f"UPDATE {table} SET version = %s", (new,))
        row = connection.execute(f"SELECT version FROM {table}").fetchone()
        assert row is not None
        return int(row[0])


def _another(storage: Storage) -> Storage:
    if isinstance(storage, SQLiteStorage):
        return SQLiteStorage(storage.path)
    assert isinstance(storage, PostgresStorage)
    return PostgresStorage(storage.dsn, schema=storage.schema)


async def test_a_newer_schema_is_refused_and_left_alone(storage: Storage) -> None:
    """Opening a database of a newer schema version raises StorageError and changes nothing."""
    _require_durable(storage)
    await storage.create_execution(make_execution())
    _schema_version(storage, new=99)
    with pytest.raises(StorageError, match="schema version 99"):
        await _another(storage).open()
    assert _schema_version(storage) == 99
    assert (await storage.get_execution("ex-1")).id == "ex-1"


async def test_reopening_migrates_nothing_and_keeps_everything(storage: Storage) -> None:
    """A second open of an up-to-date database keeps its version and every record."""
    _require_durable(storage)
    version = _schema_version(storage)
    await storage.create_execution(make_execution())
    await storage.save_node_execution("ex-1", make_node())
    await storage.aclose()
    await storage.open()
    assert _schema_version(storage) == version >= 1
    read = await storage.get_execution("ex-1", include_data=True)
    assert read.node_executions == [make_node()]
