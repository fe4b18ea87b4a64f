"""Schedule fires and webhook deliveries in PostgreSQL: a fire is recorded once per schedule slot
(its primary key refuses a second), a delivery is upserted, listed once due and claimed by a
compare-and-set of its due time, so engines sharing the database never send it side by side.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import psycopg

from .._exceptions import ExecutionNotFoundError
from . import _sql
from ._postgres_statements import pg

__all__ = ["DELIVERY_PUT", "Deliveries", "save_deliveries"]

DELIVERY_PUT = (
    "INSERT INTO webhook_deliveries VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
    + ", ".join(f"{column} = excluded.{column}" for column in _sql.DELIVERY_FIELDS.values())
)
"""A delivery (the fields of ``_sql.delivery_params``), inserted or replaced by id."""


async def save_deliveries(
    connection: psycopg.AsyncConnection[Any], deliveries: Sequence[dict[str, Any]]
) -> None:
    """Upsert ``deliveries`` on ``connection``, inside the caller's transaction."""
    if deliveries:
        rows = [_sql.delivery_params(delivery) for delivery in deliveries]
        async with connection.cursor() as cursor:
            await cursor.executemany(pg(DELIVERY_PUT), rows)


Execute = Callable[[str, Sequence[Any]], Awaitable[psycopg.AsyncCursor[Any]]]
Rows = Callable[[str, Sequence[Any]], Awaitable[list[Any]]]


class Deliveries:
    """The fires and deliveries of a :class:`~linkflow_engine.storage.postgres.PostgresStorage`,
    run through its pooled statements (``?`` placeholders)."""

    __slots__ = ("_execute", "_rows")

    def __init__(self, execute: Execute, rows: Rows) -> None:
        self._execute = execute
        self._rows = rows

    async def record_fire(
        self, workflow_id: str, node_id: str, scheduled_at: float, execution_id: str | None
    ) -> bool:
        fire = (workflow_id, node_id, scheduled_at)
        cursor = await self._execute(_sql.FIRE_INSERT, _sql.fire_params(fire, execution_id))
        return cursor.rowcount == 1

    async def last_fire(self, workflow_id: str, node_id: str) -> float | None:
        rows = await self._rows(_sql.FIRE_LAST, (workflow_id, node_id))
        return _sql.fire_slot(rows[0][0])

    async def save(self, delivery: dict[str, Any]) -> None:
        await self._execute(DELIVERY_PUT, _sql.delivery_params(delivery))

    async def pending(self, now: float, limit: int) -> list[dict[str, Any]]:
        rows = await self._rows(
            f"SELECT {_sql.DELIVERY_COLUMNS} FROM webhook_deliveries "
            "WHERE status = 'pending' AND next_attempt_at <= ? ORDER BY next_attempt_at LIMIT ?",
            (now, limit),
        )
        return [_sql.delivery_of(row) for row in rows]

    async def claim(self, delivery_id: str, due_at: float, until: float) -> bool:
        claimed = await self._execute(
            "UPDATE webhook_deliveries SET next_attempt_at = ? "
            "WHERE id = ? AND status = 'pending' AND next_attempt_at = ?",
            (until, delivery_id, due_at),
        )
        return claimed.rowcount == 1

    async def update(self, delivery_id: str, fields: dict[str, Any]) -> None:
        assignments, values = _sql.delivery_assignments(fields)
        if not fields:
            sql, params = "SELECT 1 FROM webhook_deliveries WHERE id = ?", [delivery_id]
        else:
            sql = f"UPDATE webhook_deliveries SET {assignments} WHERE id = ?"
            params = [*values, delivery_id]
        if (await self._execute(sql, params)).rowcount == 0:
            raise ExecutionNotFoundError("delivery", delivery_id)
