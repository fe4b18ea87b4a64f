"""Webhooks in the PostgreSQL schema of :class:`~linkflow_engine.storage.postgres.
PostgresStorage` (install the ``[postgres]`` extra).

The table comes with the storage's migrations; the store has a small pool of its own, opened on
first use, so an engine that never serves a webhook opens no extra connection.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import anyio
import psycopg
from psycopg_pool import AsyncConnectionPool

from ..credentials import CredentialCipher
from ..storage._postgres_schema import migrate
from ._sql_store import SQLWebhookStore

__all__ = ["PostgresWebhookStore"]


class PostgresWebhookStore(SQLWebhookStore):
    """Webhooks in one PostgreSQL schema, ``authentication`` encrypted with ``cipher``."""

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
        return f"PostgresWebhookStore(schema={self.schema!r})"

    async def open(self) -> None:
        await self._connections()

    async def aclose(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    async def _connections(self) -> AsyncConnectionPool:
        async with self._opening:
            if self._pool is None:
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
                self._pool = pool
            return self._pool

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
