"""How a running execution's writes reach PostgreSQL: status transitions (notified when another
process must hear of them), and progress writes of node runs, logs and events with the lease's
fence checked, so that a process whose lease was taken over writes nothing.

The functions run on a connection the caller holds, inside its transaction when it has one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg

from .._exceptions import ExecutionNotFoundError
from ..events import EventRecord
from ..runtime._records import ExecutionError, ExecutionStatus, LogEntry, NodeExecution
from . import _sql
from ._postgres_statements import (
    EVENT_UPSERT,
    EVENT_UPSERT_FENCED,
    EXECUTION_EXISTS,
    LEASE_FENCE,
    LEASE_RELEASE,
    LOG_INSERT,
    LOG_INSERT_FENCED,
    NODE_UPSERT,
    NODE_UPSERT_FENCED,
    NOTIFIED,
    TRANSITION,
    TRANSITION_NOTIFIED,
    pg,
)
from .base import Lease

__all__ = [
    "TransitionFields",
    "check_fence",
    "progress_writes",
    "transition",
    "write_end",
    "write_logs",
    "write_progress",
]

Connection = psycopg.AsyncConnection[Any]
Writes = list[tuple[str, list[tuple[Any, ...]]]]
# started_at, finished_at, cancelled_at, error, outputs
TransitionFields = tuple[float | None, float | None, float | None, ExecutionError | None, Any]


async def transition(
    connection: Connection,
    channel: str,
    execution_id: str,
    expected: Sequence[ExecutionStatus],
    status: ExecutionStatus,
    fields: TransitionFields,
) -> bool:
    """Change the status of an execution that is in one of the ``expected`` statuses, notifying
    ``channel`` of the changes in :data:`NOTIFIED`."""
    started_at, finished_at, cancelled_at, error, outputs = fields
    values: tuple[Any, ...] = (
        status.value, started_at, finished_at, cancelled_at,
        _sql.error_json(error),
        _sql.dump_optional(outputs), execution_id, [s.value for s in expected],
    )  # fmt: skip
    if status in NOTIFIED:
        sql, values = TRANSITION_NOTIFIED, (*values, channel)
    else:
        sql = TRANSITION
    cursor = await connection.execute(pg(sql), values)
    return cursor.rowcount == 1


def progress_writes(
    execution_id: str,
    nodes: Sequence[NodeExecution],
    logs: Sequence[LogEntry],
    events: Sequence[EventRecord],
    fence: int | None,
) -> Writes:
    """The statements of a save_progress call with their rows (fenced when ``fence`` is set)."""
    fenced = () if fence is None else (execution_id, fence)
    writes = []
    if nodes:
        upsert = NODE_UPSERT if fence is None else NODE_UPSERT_FENCED
        writes.append((upsert, [_sql.node_params(execution_id, n, fence) for n in nodes]))
    if logs:
        insert = LOG_INSERT if fence is None else LOG_INSERT_FENCED
        writes.append((insert, [(*p, *fenced) for p in _sql.log_params(execution_id, logs)]))
    if events:
        upsert = EVENT_UPSERT if fence is None else EVENT_UPSERT_FENCED
        writes.append((upsert, [(*p, *fenced) for p in _sql.event_params(execution_id, events)]))
    return writes


async def write_progress(
    connection: Connection, execution_id: str, writes: Writes, fence: int | None
) -> None:
    """save_progress's :func:`progress_writes` as one transaction of their own."""
    # One round trip: the transaction goes out as one pipeline, its result read at the end.
    # Every write checks the fence itself, so a stale one commits having written nothing.
    # (BEGIN and COMMIT as statements: psycopg's transaction() adds syncs to a pipeline. On
    # an error the pool rolls back the connection it gets back.)
    async with connection.pipeline():
        await connection.execute("BEGIN")
        lease = None
        if fence is not None:
            lease = await connection.execute(LEASE_FENCE, (execution_id,))
        await _execute_writes(connection, writes)
        await connection.execute("COMMIT")
    if lease is not None:
        row = await lease.fetchone()
        if row is None:  # never leased: held by nobody, unless there is no such execution
            found = await connection.execute(pg(EXECUTION_EXISTS), (execution_id,))
            if await found.fetchone() is None:
                raise ExecutionNotFoundError("execution", execution_id)
        _require_fence(execution_id, row, fence)


async def write_end(
    connection: Connection,
    execution_id: str,
    writes: Writes,
    fence: int | None,
    lease: Lease | None,
) -> None:
    """finish_execution's writes once the status changed, inside its transaction: the last
    :func:`progress_writes` (the fence checked first) and the release of the lease."""
    if fence is not None:
        await check_fence(connection, execution_id, fence)
    await _execute_writes(connection, writes)
    if lease is not None:
        await connection.execute(pg(LEASE_RELEASE), (execution_id, lease.owner, lease.fence))


async def write_logs(
    connection: Connection, execution_id: str, entries: Sequence[LogEntry], fence: int | None
) -> None:
    """append_logs's insert, in one transaction with its fence and existence checks."""
    async with connection.transaction():
        if fence is not None:
            await check_fence(connection, execution_id, fence)
        cursor = await connection.execute("SELECT 1 FROM executions WHERE id = %s", (execution_id,))
        if await cursor.fetchone() is None:
            raise ExecutionNotFoundError("execution", execution_id)
        async with connection.cursor() as insert:
            await insert.executemany(LOG_INSERT, _sql.log_params(execution_id, entries))


async def _execute_writes(connection: Connection, writes: Writes) -> None:
    async with connection.cursor() as cursor:
        for statement, params in writes:
            await cursor.executemany(statement, params)


async def check_fence(connection: Connection, execution_id: str, fence: int) -> None:
    """Raise when another owner holds the lease; the row stays share-locked until the write
    commits, so a takeover cannot slip in between."""
    cursor = await connection.execute(LEASE_FENCE, (execution_id,))
    _require_fence(execution_id, await cursor.fetchone(), fence)


def _require_fence(execution_id: str, row: Any, fence: int | None) -> None:
    if row is not None and row[0] != fence:
        raise _sql.lost_lease(execution_id)
