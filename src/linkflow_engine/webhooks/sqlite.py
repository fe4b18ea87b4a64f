"""Webhooks in the SQLite database of :class:`~linkflow_engine.storage.sqlite.SQLiteStorage`.

The table comes with the storage's migrations, so the store and the storage can share one file;
the store keeps a connection of its own, opened on first use (an engine that never serves a
webhook never opens it).
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Sequence
from typing import Any

from ..credentials import CredentialCipher
from ..storage._sqlite_schema import migrate
from ._sql_store import SQLWebhookStore

__all__ = ["SQLiteWebhookStore"]


class SQLiteWebhookStore(SQLWebhookStore):
    """Webhooks in a SQLite file, ``authentication`` encrypted with ``cipher`` (default: the
    key from ``LINKFLOW_ENCRYPTION_KEY`` or the key file, see :class:`CredentialCipher`)."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        cipher: CredentialCipher | None = None,
        busy_timeout: float = 5.0,
    ) -> None:
        super().__init__(cipher)
        self.path = os.fspath(path)
        self.busy_timeout = busy_timeout
        self._connection: sqlite3.Connection | None = None

    def __repr__(self) -> str:
        return f"SQLiteWebhookStore({self.path!r})"

    async def open(self) -> None:
        self._db()

    async def aclose(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()

    def _db(self) -> sqlite3.Connection:
        if self._connection is None:
            connection = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            try:
                connection.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
                connection.execute("PRAGMA journal_mode = WAL")
                migrate(connection, f"SQLite database {self.path!r}")
            except BaseException:
                connection.close()
                raise
            self._connection = connection
        return self._connection

    # Short statements on the loop thread, as the storage does: a thread hop costs more.
    async def _one(self, sql: str, values: Sequence[Any]) -> Any:
        return self._db().execute(sql, values).fetchone()

    async def _all(self, sql: str, values: Sequence[Any]) -> list[Any]:
        return self._db().execute(sql, values).fetchall()

    async def _run(self, sql: str, values: Sequence[Any]) -> int:
        return self._db().execute(sql, values).rowcount
