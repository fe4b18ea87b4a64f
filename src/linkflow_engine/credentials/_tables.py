"""Stores whose tables live in the storage's database (credentials, webhooks).

Their tables come with the storage's migrations; each store keeps a connection (SQLite) or a
small pool (PostgreSQL) of its own, opened on first use, so an engine that never touches the
store opens nothing extra. Rows go through three primitives running ``?``-placeholder
statements; secret columns are encrypted with a :class:`CredentialCipher`, resolved on first
use too (a store never used never creates a key file).
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import anyio

from ._cipher import CredentialCipher

if TYPE_CHECKING:
    from psycopg_pool import AsyncConnectionPool

__all__ = ["EncryptedTables", "PostgresTables", "SQLiteTables"]


class EncryptedTables:
    """The primitives a SQL store is written against, and its cipher."""

    def __init__(self, cipher: CredentialCipher | None) -> None:
        self._cipher = cipher

    @property
    def cipher(self) -> CredentialCipher:
        if self._cipher is None:
            self._cipher = CredentialCipher.from_environment()
        return self._cipher

    async def open(self) -> None:
        raise NotImplementedError

    async def aclose(self) -> None:
        raise NotImplementedError

    async def _one(self, sql: str, values: Sequence[Any]) -> Any:
        """The first row of a query (None when there is none)."""
        raise NotImplementedError

    async def _all(self, sql: str, values: Sequence[Any]) -> list[Any]:
        """Every row of a query."""
        raise NotImplementedError

    async def _run(self, sql: str, values: Sequence[Any]) -> int:
        """Run a write; the number of rows it changed."""
        raise NotImplementedError


class SQLiteTables(EncryptedTables):
    """Tables in a :class:`~linkflow_engine.storage.sqlite.SQLiteStorage` file."""

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
        return f"{type(self).__name__}({self.path!r})"

    async def open(self) -> None:
        self._db()

    async def aclose(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()

    def _db(self) -> sqlite3.Connection:
        if self._connection is None:
            from ..storage._sqlite_schema import migrate

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


class PostgresTables(EncryptedTables):
    """Tables in the schema of a :class:`~linkflow_engine.storage.postgres.PostgresStorage`
    (install the ``[postgres]`` extra)."""

    def __init__(
        self,
        dsn: str,
        *,
        schema: str = "public",
        cipher: CredentialCipher | None = None,
        max_size: int = 2,
    ) -> None:
        super().__init__(cipher)
        self.dsn = dsn
        self.schema = schema
        self._max_size = max_size
        self._pool: AsyncConnectionPool | None = None
        self._opening = anyio.Lock()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(schema={self.schema!r})"

    async def open(self) -> None:
        await self._connections()

    async def aclose(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    async def _connections(self) -> AsyncConnectionPool:
        async with self._opening:
            if self._pool is None:
                self._pool = await self._open_pool()
            return self._pool

    async def _open_pool(self) -> AsyncConnectionPool:
        import psycopg
        from psycopg_pool import AsyncConnectionPool

        from ..storage._postgres_schema import migrate

        options = f"-c search_path={self.schema}"
        async with await psycopg.AsyncConnection.connect(
            self.dsn, autocommit=True, options=options
        ) as connection:
            await migrate(connection, self.schema)
        pool = AsyncConnectionPool(
            self.dsn,
            min_size=1,
            max_size=self._max_size,
            kwargs={"autocommit": True, "options": options},
            open=False,
        )
        await pool.open(wait=True)
        return pool

    async def _cursor_rows(self, sql: str, values: Sequence[Any], fetch: str) -> Any:
        pool = await self._connections()
        async with pool.connection() as connection:
            cursor = await connection.execute(sql.replace("?", "%s"), values)
            if fetch == "one":
                return await cursor.fetchone()
            if fetch == "all":
                return await cursor.fetchall()
            return cursor.rowcount

    async def _one(self, sql: str, values: Sequence[Any]) -> Any:
        return await self._cursor_rows(sql, values, "one")

    async def _all(self, sql: str, values: Sequence[Any]) -> list[Any]:
        rows: list[Any] = await self._cursor_rows(sql, values, "all")
        return rows

    async def _run(self, sql: str, values: Sequence[Any]) -> int:
        count: int = await self._cursor_rows(sql, values, "rowcount")
        return count
