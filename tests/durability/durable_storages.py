"""Storages several engines (or processes) can share, for the durability tests."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from linkflow_engine.runtime._records import NodeExecution
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


class Wrapped:
    """A storage that does what ``inner`` does, but for the methods a subclass defines."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class RefusesWrites(Wrapped):
    """Storage whose first progress write carrying a node run that ``refused`` picks raises
    ``error(execution_id)`` instead (a busy database, a lease another process took)."""

    def __init__(
        self,
        inner: Any,
        refused: Callable[[NodeExecution], bool],
        error: Callable[[str], Exception],
    ) -> None:
        super().__init__(inner)
        self.picks = refused
        self.error = error
        self.refused = 0

    async def save_progress(self, execution_id: str, **progress: Any) -> None:
        if not self.refused and any(self.picks(n) for n in progress.get("nodes", ())):
            self.refused += 1
            raise self.error(execution_id)
        await self.inner.save_progress(execution_id, **progress)
