"""Storages several engines (or processes) can share, for the durability tests."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from linkflow_engine.storage.base import Storage
from linkflow_engine.storage.postgres import PostgresStorage
from linkflow_engine.storage.sqlite import SQLiteStorage

POSTGRES_DSN = os.environ.get(
    "LINKFLOW_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test"
)

StorageFactory = Callable[[], Storage]


def sqlite_factory(path: Path) -> StorageFactory:
    return lambda: SQLiteStorage(path)


def postgres_factory(schema: str) -> StorageFactory:
    return lambda: PostgresStorage(POSTGRES_DSN, schema=schema, min_size=1, max_size=4)
