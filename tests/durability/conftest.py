"""Fixtures for engine-level durability tests: storages that several engines share.

``make_storage()`` opens another storage on the same database, as another process would; for
memory (which no other process can share) it hands out the same instance.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from durable_storages import (
    POSTGRES_DSN,
    StorageFactory,
    postgres_factory,
    sqlite_factory,
)

from linkflow_engine.storage.memory import MemoryStorage


def _factories(backend: str, tmp_path: Path) -> Iterator[StorageFactory]:
    if backend == "memory":
        shared = MemoryStorage()
        yield lambda: shared
    elif backend == "sqlite":
        yield sqlite_factory(tmp_path / "linkflow.db")
    else:
        schema = f"test_{uuid.uuid4().hex[:16]}"
        yield postgres_factory(schema)
        with psycopg.connect(POSTGRES_DSN, autocommit=True) as connection:
            connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def make_storage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StorageFactory]:
    """A factory of storages on one database, for each backend."""
    yield from _factories(request.param, tmp_path)


@pytest.fixture(params=["sqlite", "postgres"])
def make_shared_storage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StorageFactory]:
    """Like make_storage, for the backends two processes can share."""
    yield from _factories(request.param, tmp_path)


@pytest.fixture
def make_postgres_storage(tmp_path: Path) -> Iterator[StorageFactory]:
    """A factory of PostgreSQL storages on one schema of their own."""
    yield from _factories("postgres", tmp_path)


@pytest.fixture(params=["sqlite", "postgres"])
def shared(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, StorageFactory]]:
    """For tests with a worker process: (the worker's storage arguments, ``KIND TARGET`` as
    ``crash_worker.storage`` reads them; a factory of storages on the same database)."""
    if request.param == "sqlite":
        path = tmp_path / "linkflow.db"
        yield f"sqlite {path}", sqlite_factory(path)
        return
    schema = f"test_{uuid.uuid4().hex[:16]}"
    yield f"postgres {POSTGRES_DSN}#{schema}", postgres_factory(schema)
    with psycopg.connect(POSTGRES_DSN, autocommit=True) as connection:
        connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
