"""PostgreSQL storage (psycopg 3, async connection pool): for several processes on one database.

Install with the ``[postgres]`` extra. Nothing else in the package imports this module, so the
core never loads psycopg. Every connection of the pool has ``search_path`` set to the storage's
schema, so several independent stores (and the contract tests) can share one database. Writes are
single statements in autocommit mode, or explicit transactions where a check and a write must be
atomic. It is a :class:`~linkflow_engine.storage.base.StatusFeed`: cancels and resumes are
notified (LISTEN/NOTIFY, see :mod:`._postgres_listener`).
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import attrs
import psycopg
from psycopg_pool import AsyncConnectionPool

from .._exceptions import ExecutionNotFoundError, StorageError
from ..events import Event
from ..graph import Workflow
from ..runtime._records import (
    Execution,
    ExecutionError,
    ExecutionStatus,
    LogEntry,
    NodeExecution,
    format_timestamp,
)
from . import _sql
from ._postgres_listener import listen, status_channel
from ._postgres_schema import migrate
from .base import ExecutionQuery, Lease, LeaseTerms, StoredEvent

__all__ = ["PostgresStorage"]

_SCHEMA_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")


def _pg(sql: str) -> str:
    """The shared ``?``-placeholder statements in psycopg's ``%s`` style."""
    return sql.replace("?", "%s")


_LOG_INSERT = (
    "INSERT INTO logs (execution_id, timestamp, level, message, node_id, data) "
    "VALUES (%s, %s, %s, %s, %s, %s)"
)
_EVENT_UPSERT = (
    "INSERT INTO events VALUES (%s, %s, %s) ON CONFLICT (execution_id, sequence) "
    "DO UPDATE SET data = excluded.data"
)
_NODE_UPSERT = _pg(_sql.NODE_UPSERT.format(values=_sql.NODE_VALUES_TYPED, fence=""))

# save_progress's writes with a fence check in each statement. The lease row is share-locked
# first, so no takeover can commit meanwhile and every statement sees the same fence.
_LEASE_FENCE = "SELECT fence FROM leases WHERE execution_id = %s FOR SHARE"
_FENCED = " WHERE NOT EXISTS (SELECT 1 FROM leases WHERE execution_id = %s AND fence <> %s)"
_NODE_UPSERT_FENCED = _pg(
    _sql.NODE_UPSERT.format(values=_sql.NODE_VALUES_TYPED, fence=_sql.FENCE_CONDITION)
)
_LOG_INSERT_FENCED = (
    "INSERT INTO logs (execution_id, timestamp, level, message, node_id, data) "
    "SELECT %s, %s::float8, %s, %s, %s, %s::json" + _FENCED
)
_EVENT_UPSERT_FENCED = (
    "INSERT INTO events SELECT %s, %s::integer, %s::json" + _FENCED
    + " ON CONFLICT (execution_id, sequence) DO UPDATE SET data = excluded.data"
)  # fmt: skip

_TRANSITION = (
    "UPDATE executions SET status = ?, started_at = COALESCE(?, started_at), "
    "finished_at = COALESCE(?, finished_at), cancelled_at = COALESCE(?, cancelled_at), "
    "error = COALESCE(?::json, error), outputs = COALESCE(?::json, outputs) "
    "WHERE id = ? AND status = ANY(?)"
)
# pg_notify in the statement itself: the notification goes out when the change commits, and
# only when a row changed.
_TRANSITION_NOTIFIED = (
    f"WITH changed AS ({_TRANSITION} RETURNING id) SELECT pg_notify(?, id) FROM changed"
)
# A cancel and a resume are what the process running an execution must hear of; the other
# changes (pausing, ending) are that process's own writes. PostgreSQL serialises the commits
# that NOTIFY database-wide, so they stay off the path of every execution that ends.
_NOTIFIED = frozenset({ExecutionStatus.CANCELLED, ExecutionStatus.RUNNING})


class PostgresStorage:
    """Executions in one PostgreSQL schema.

    :param dsn: a libpq connection string or URL.
    :param schema: the schema holding the tables (created on open when missing).
    :param min_size: connections the pool keeps open.
    :param max_size: connections the pool opens at most.

    ``status_channel`` is the LISTEN/NOTIFY channel of the schema's cancels and resumes; while an
    engine runs, it holds one connection of its own (outside the pool) listening on it.
    """

    durable = True

    def __init__(
        self, dsn: str, *, schema: str = "public", min_size: int = 1, max_size: int = 10
    ) -> None:
        if not _SCHEMA_NAME.fullmatch(schema):
            raise ValueError(f"schema must be a plain SQL identifier, not {schema!r}")
        self.dsn = dsn
        self.schema = schema
        self._min_size = min_size
        self._max_size = max_size
        self.status_channel = status_channel(schema)
        self._pool: AsyncConnectionPool | None = None

    def __repr__(self) -> str:
        return f"PostgresStorage(schema={self.schema!r})"

    async def open(self) -> None:
        options = f"-c search_path={self.schema}"
        async with await psycopg.AsyncConnection.connect(
            self.dsn, autocommit=True, options=options
        ) as connection:
            await migrate(connection, self.schema)
        pool = AsyncConnectionPool(
            self.dsn,
            min_size=self._min_size,
            max_size=self._max_size,
            kwargs={"autocommit": True, "options": options},
            open=False,
        )
        await pool.open(wait=True)
        self._pool = pool

    async def aclose(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    @property
    def pool(self) -> AsyncConnectionPool:
        if self._pool is None:
            raise StorageError(f"{self!r} is not open (call await storage.open())")
        return self._pool

    async def _execute(self, sql: str, values: Sequence[Any] = ()) -> psycopg.AsyncCursor[Any]:
        """Run one statement on a pooled connection; the cursor's rows are fetched already."""
        async with self.pool.connection() as connection:
            cursor: psycopg.AsyncCursor[Any] = await connection.execute(_pg(sql), values)
            return cursor

    async def _rows(self, sql: str, values: Sequence[Any] = ()) -> list[Any]:
        async with self.pool.connection() as connection:
            cursor = await connection.execute(_pg(sql), values)
            return await cursor.fetchall()

    async def _row(self, sql: str, values: Sequence[Any] = ()) -> Any:
        async with self.pool.connection() as connection:
            cursor = await connection.execute(_pg(sql), values)
            return await cursor.fetchone()

    # -- workflows -------------------------------------------------------------------------

    async def save_workflow(self, workflow: Workflow) -> Workflow:
        workflow_id = workflow.id or f"wf-{uuid.uuid4().hex[:12]}"
        async with self.pool.connection() as connection, connection.transaction():
            # Serialise the writers of one workflow id until the new version is in.
            await connection.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (workflow_id,))
            cursor = await connection.execute(
                "SELECT MAX(version), MIN(created_at) FROM workflows WHERE id = %s",
                (workflow_id,),
            )
            latest, created = await cursor.fetchone() or (None, None)
            now = format_timestamp(time.time())
            stored = attrs.evolve(
                workflow,
                id=workflow_id,
                version=(latest or 0) + 1,
                created_at=created if latest else (workflow.created_at or now),
                updated_at=now,
            )
            await connection.execute(
                "INSERT INTO workflows VALUES (%s, %s, %s, %s, %s, %s, %s)",
                (stored.id, stored.version, stored.name, stored.status, stored.created_at,
                 stored.updated_at, _sql.dump(stored.to_dict())),
            )  # fmt: skip
        return stored

    async def get_workflow(self, workflow_id: str, *, version: int | None = None) -> Workflow:
        if version is None:
            sql = "SELECT document::text FROM workflows WHERE id = ? ORDER BY version DESC LIMIT 1"
            row = await self._row(sql, (workflow_id,))
        else:
            sql = "SELECT document::text FROM workflows WHERE id = ? AND version = ?"
            row = await self._row(sql, (workflow_id, version))
        if row is None:
            raise ExecutionNotFoundError("workflow", workflow_id)
        return _sql.workflow_from_json(row[0])

    async def list_workflows(
        self, *, status: str | None = None, limit: int = 20, offset: int = 0
    ) -> tuple[list[Workflow], int]:
        latest = (
            "FROM workflows w WHERE version = (SELECT MAX(version) FROM workflows WHERE id = w.id)"
            + (" AND status = ?" if status is not None else "")
        )
        values: tuple[Any, ...] = (status,) if status is not None else ()
        rows = await self._rows(
            f"SELECT document::text {latest} ORDER BY updated_at DESC, id LIMIT ? OFFSET ?",
            (*values, limit, offset),
        )
        (total,) = await self._row(f"SELECT COUNT(*) {latest}", values)
        return [_sql.workflow_from_json(row[0]) for row in rows], total

    async def delete_workflow(self, workflow_id: str) -> None:
        cursor = await self._execute("DELETE FROM workflows WHERE id = ?", (workflow_id,))
        if cursor.rowcount == 0:
            raise ExecutionNotFoundError("workflow", workflow_id)

    # -- executions ------------------------------------------------------------------------

    async def create_execution(
        self, execution: Execution, *, lease: LeaseTerms | None = None
    ) -> Lease | None:
        params = _sql.execution_params(execution)
        try:
            if lease is None:
                await self._execute(_sql.EXECUTION_INSERT, params)
                return None
            expires_at = lease.now + lease.ttl
            async with self.pool.connection() as connection, connection.transaction():
                await connection.execute(_pg(_sql.EXECUTION_INSERT), params)
                cursor = await connection.execute(
                    _pg(_sql.LEASE_ACQUIRE), (execution.id, lease.owner, expires_at, lease.now)
                )
                row = await cursor.fetchone()
        except psycopg.errors.UniqueViolation:
            raise StorageError(f"execution {execution.id!r} already exists") from None
        if row is None:
            return None
        return Lease(
            execution_id=execution.id, owner=lease.owner, fence=row[0], expires_at=expires_at
        )

    async def get_execution(self, execution_id: str, *, include_data: bool = False) -> Execution:
        node_columns = _sql.NODE_DATA_COLUMNS if include_data else _sql.NODE_COLUMNS
        async with self.pool.connection() as connection, connection.transaction():
            # One snapshot for the execution row, its node runs and its logs.
            await connection.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            cursor = await connection.execute(
                f"SELECT {_sql.EXECUTION_COLUMNS}, input_data, workflow"
                + (", outputs" if include_data else "")
                + " FROM executions WHERE id = %s",
                (execution_id,),
            )
            row = await cursor.fetchone()
            if row is None:
                raise ExecutionNotFoundError("execution", execution_id)
            nodes = await connection.execute(
                f"SELECT {node_columns} FROM node_executions WHERE execution_id = %s "
                "ORDER BY sequence",
                (execution_id,),
            )
            node_rows = await nodes.fetchall()
            logs = await connection.execute(
                f"SELECT {_sql.LOG_COLUMNS} FROM logs WHERE execution_id = %s ORDER BY id",
                (execution_id,),
            )
            log_rows = await logs.fetchall()
        execution = _sql.execution_of(row)
        execution.input_data = row[14]
        execution.workflow = Workflow.from_dict(row[15]) if row[15] is not None else None
        if include_data:
            execution.outputs = row[16] or {}
        execution.node_executions = [_sql.node_of(r) for r in node_rows]
        execution.logs = [_sql.log_of(r) for r in log_rows]
        return execution

    async def list_executions(self, query: ExecutionQuery) -> tuple[list[Execution], int]:
        where, values = _sql.execution_filters(query)
        rows = await self._rows(
            f"SELECT {_sql.EXECUTION_COLUMNS} FROM executions {where} "
            "ORDER BY created_at DESC LIMIT ? OFFSET ?",
            (*values, query.limit, query.offset),
        )
        (total,) = await self._row(f"SELECT COUNT(*) FROM executions {where}", values)
        return [_sql.execution_of(row) for row in rows], total

    async def transition_execution(
        self,
        execution_id: str,
        *,
        expected: Sequence[ExecutionStatus],
        status: ExecutionStatus,
        started_at: float | None = None,
        finished_at: float | None = None,
        cancelled_at: float | None = None,
        error: ExecutionError | None = None,
        outputs: dict[str, Any] | None = None,
    ) -> bool:
        async with self.pool.connection() as connection:
            changed = await self._transition(
                connection, execution_id, expected, status,
                (started_at, finished_at, cancelled_at, error, outputs),
            )  # fmt: skip
        if not changed:
            await self._require_execution(execution_id)
        return changed

    async def finish_execution(
        self,
        execution_id: str,
        *,
        expected: Sequence[ExecutionStatus],
        status: ExecutionStatus,
        finished_at: float,
        cancelled_at: float | None = None,
        error: ExecutionError | None = None,
        outputs: dict[str, Any] | None = None,
        nodes: Sequence[NodeExecution] = (),
        logs: Sequence[LogEntry] = (),
        events: Sequence[Event] = (),
        fence: int | None = None,
        lease: Lease | None = None,
    ) -> bool:
        writes = _progress_writes(execution_id, nodes, logs, events, fence)
        async with self.pool.connection() as connection, connection.transaction():
            changed = await self._transition(
                connection, execution_id, expected, status,
                (None, finished_at, cancelled_at, error, outputs),
            )  # fmt: skip
            if changed:
                if fence is not None:
                    held = await connection.execute(_LEASE_FENCE, (execution_id,))
                    _require_fence(execution_id, await held.fetchone(), fence)
                async with connection.cursor() as cursor:
                    for statement, params in writes:
                        await cursor.executemany(statement, params)
                if lease is not None:
                    await connection.execute(
                        _pg(_sql.LEASE_RELEASE), (execution_id, lease.owner, lease.fence)
                    )
        if not changed:
            await self._require_execution(execution_id)
        return changed

    async def _transition(
        self,
        connection: psycopg.AsyncConnection[Any],
        execution_id: str,
        expected: Sequence[ExecutionStatus],
        status: ExecutionStatus,
        fields: tuple[float | None, float | None, float | None, ExecutionError | None, Any],
    ) -> bool:
        started_at, finished_at, cancelled_at, error, outputs = fields
        values: tuple[Any, ...] = (
            status.value, started_at, finished_at, cancelled_at,
            None if error is None else _sql.dump(error.to_dict()),
            _sql.dump_optional(outputs), execution_id, [s.value for s in expected],
        )  # fmt: skip
        if status in _NOTIFIED:
            sql, values = _TRANSITION_NOTIFIED, (*values, self.status_channel)
        else:
            sql = _TRANSITION
        cursor = await connection.execute(_pg(sql), values)
        return cursor.rowcount == 1

    async def get_status(self, execution_id: str) -> ExecutionStatus:
        row = await self._row("SELECT status FROM executions WHERE id = ?", (execution_id,))
        if row is None:
            raise ExecutionNotFoundError("execution", execution_id)
        return ExecutionStatus(row[0])

    async def watch_status_changes(
        self,
        changed: Callable[[str], Awaitable[object]],
        *,
        connected: Callable[[], Awaitable[object]],
    ) -> None:
        await listen(self.dsn, self.status_channel, changed, connected)

    async def save_execution_options(self, execution_id: str, options: dict[str, Any]) -> None:
        cursor = await self._execute(
            "UPDATE executions SET options = ?::json WHERE id = ?",
            (_sql.dump(options), execution_id),
        )
        if cursor.rowcount == 0:
            raise ExecutionNotFoundError("execution", execution_id)

    async def _require_execution(self, execution_id: str) -> None:
        if await self._row("SELECT 1 FROM executions WHERE id = ?", (execution_id,)) is None:
            raise ExecutionNotFoundError("execution", execution_id)

    async def save_node_execution(
        self, execution_id: str, node: NodeExecution, *, fence: int | None = None
    ) -> None:
        async with self.pool.connection() as connection, connection.transaction():
            if fence is not None:
                await _check_fence(connection, execution_id, fence)
            params = _sql.node_params(execution_id, node, None)
            written = (await connection.execute(_NODE_UPSERT, params)).rowcount
        if written == 0:
            raise ExecutionNotFoundError("execution", execution_id)

    async def save_progress(
        self,
        execution_id: str,
        *,
        nodes: Sequence[NodeExecution] = (),
        logs: Sequence[LogEntry] = (),
        events: Sequence[Event] = (),
        fence: int | None = None,
    ) -> None:
        writes = _progress_writes(execution_id, nodes, logs, events, fence)
        # One round trip: the transaction goes out as one pipeline, its result read at the end.
        # Every write checks the fence itself, so a stale one commits having written nothing.
        # (BEGIN and COMMIT as statements: psycopg's transaction() adds syncs to a pipeline. On
        # an error the pool rolls back the connection it gets back.)
        async with self.pool.connection() as connection:
            async with connection.pipeline():
                await connection.execute("BEGIN")
                lease = None
                if fence is not None:
                    lease = await connection.execute(_LEASE_FENCE, (execution_id,))
                async with connection.cursor() as cursor:
                    for statement, params in writes:
                        await cursor.executemany(statement, params)
                await connection.execute("COMMIT")
            if lease is not None:
                _require_fence(execution_id, await lease.fetchone(), fence)

    async def append_logs(
        self, execution_id: str, entries: Sequence[LogEntry], *, fence: int | None = None
    ) -> None:
        async with self.pool.connection() as connection, connection.transaction():
            if fence is not None:
                await _check_fence(connection, execution_id, fence)
            cursor = await connection.execute(
                "SELECT 1 FROM executions WHERE id = %s", (execution_id,)
            )
            if await cursor.fetchone() is None:
                raise ExecutionNotFoundError("execution", execution_id)
            async with connection.cursor() as insert:
                await insert.executemany(_LOG_INSERT, _sql.log_params(execution_id, entries))

    async def append_events(self, execution_id: str, events: Sequence[Event]) -> None:
        async with self.pool.connection() as connection, connection.cursor() as cursor:
            await cursor.executemany(_EVENT_UPSERT, _sql.event_params(execution_id, events))

    async def list_events(self, execution_id: str, *, after_sequence: int = 0) -> list[StoredEvent]:
        rows = await self._rows(
            "SELECT sequence, data FROM events WHERE execution_id = ? AND sequence > ? "
            "ORDER BY sequence",
            (execution_id, after_sequence),
        )
        return [
            StoredEvent(execution_id=execution_id, sequence=sequence, data=data)
            for sequence, data in rows
        ]

    async def find_node_outputs(
        self, workflow_id: str, node_ids: Sequence[str]
    ) -> dict[str, NodeExecution]:
        # DISTINCT ON keeps the first row of each node: its latest completed run.
        columns = ", ".join("n." + c for c in _sql.NODE_DATA_COLUMNS.split(", "))
        rows = await self._rows(
            f"SELECT DISTINCT ON (n.node_id) e.id, {columns} "
            "FROM executions e JOIN node_executions n ON n.execution_id = e.id "
            "WHERE e.workflow_id = ? AND n.status = 'completed' AND n.node_id = ANY(?) "
            "ORDER BY n.node_id, e.created_at DESC, n.sequence DESC",
            (workflow_id, list(node_ids)),
        )
        found = {}
        for execution_id, *node_row in rows:
            run = _sql.node_of(node_row)
            source = run.source_execution_id if run.reused else execution_id
            found[run.node_id] = attrs.evolve(run, source_execution_id=source)
        return found

    # -- leases ----------------------------------------------------------------------------

    async def acquire_lease(
        self, execution_id: str, *, owner: str, ttl: float, now: float
    ) -> Lease | None:
        row = await self._row(_sql.LEASE_ACQUIRE, (execution_id, owner, now + ttl, now))
        if row is None:
            return None
        return Lease(execution_id=execution_id, owner=owner, fence=row[0], expires_at=now + ttl)

    async def renew_lease(self, lease: Lease, *, ttl: float, now: float) -> Lease | None:
        cursor = await self._execute(
            _sql.LEASE_RENEW, (now + ttl, lease.execution_id, lease.owner, lease.fence)
        )
        return attrs.evolve(lease, expires_at=now + ttl) if cursor.rowcount else None

    async def release_lease(self, lease: Lease) -> None:
        await self._execute(_sql.LEASE_RELEASE, (lease.execution_id, lease.owner, lease.fence))

    async def recoverable_executions(self, *, now: float) -> list[str]:
        return [row[0] for row in await self._rows(_sql.RECOVERABLE, (now,))]

    # -- history ---------------------------------------------------------------------------

    async def execution_stats(
        self, *, workflow_id: str | None = None, period: str = "day", now: float
    ) -> dict[str, Any]:
        sql = _sql.STATS.format(
            day="floor(created_at / 86400)::bigint",
            finished=_sql.STATS_FINISHED,
            workflow="" if workflow_id is None else "AND workflow_id = ?",
        )
        values: tuple[Any, ...] = (_sql.period_start(period, now), now)
        if workflow_id is not None:
            values = (*values, workflow_id)
        return _sql.stats_from_days(await self._rows(sql, values))

    async def prune(
        self, *, older_than: float | None = None, keep_last_per_workflow: int | None = None
    ) -> int:
        condition = _sql.prune_condition(older_than, keep_last_per_workflow)
        if condition is None:
            return 0
        where, values = condition
        candidates = _pg(_sql.PRUNE_CANDIDATES.format(condition=where))
        async with self.pool.connection() as connection, connection.transaction():
            ids = [
                row[0] for row in await (await connection.execute(candidates, values)).fetchall()
            ]
            for table in _sql.CHILD_TABLES:
                await connection.execute(
                    f"DELETE FROM {table} WHERE execution_id = ANY(%s)", (ids,)
                )
            # The status check again: an execution cannot have left a terminal status, but the
            # guard keeps the rule local to the statement that deletes.
            cursor = await connection.execute(
                "DELETE FROM executions WHERE id = ANY(%s) "
                "AND status IN ('completed', 'failed', 'cancelled')",
                (ids,),
            )
        return cursor.rowcount

    # -- schedule fires and webhook deliveries ---------------------------------------------

    async def record_fire(
        self,
        *,
        workflow_id: str,
        node_id: str,
        scheduled_at: float,
        execution_id: str | None = None,
    ) -> bool:
        cursor = await self._execute(
            "INSERT INTO schedule_fires VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (workflow_id, node_id, round(scheduled_at * 1000), execution_id, time.time()),
        )
        return cursor.rowcount == 1

    async def save_delivery(self, delivery: dict[str, Any]) -> None:
        updates = ", ".join(
            f"{column} = excluded.{column}" for column in _sql.DELIVERY_FIELDS.values()
        )
        await self._execute(
            "INSERT INTO webhook_deliveries VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
            f"ON CONFLICT (id) DO UPDATE SET {updates}",
            _sql.delivery_params(delivery),
        )

    async def pending_deliveries(self, *, now: float, limit: int = 100) -> list[dict[str, Any]]:
        rows = await self._rows(
            f"SELECT {_sql.DELIVERY_COLUMNS} FROM webhook_deliveries "
            "WHERE status = 'pending' AND next_attempt_at <= ? ORDER BY next_attempt_at LIMIT ?",
            (now, limit),
        )
        return [_sql.delivery_of(row) for row in rows]

    async def claim_delivery(self, delivery_id: str, *, due_at: float, until: float) -> bool:
        claimed = await self._execute(
            "UPDATE webhook_deliveries SET next_attempt_at = ? "
            "WHERE id = ? AND status = 'pending' AND next_attempt_at = ?",
            (until, delivery_id, due_at),
        )
        return claimed.rowcount == 1

    async def update_delivery(self, delivery_id: str, **fields: Any) -> None:
        assignments, values = _sql.delivery_assignments(fields)
        if not fields:
            sql, params = "SELECT 1 FROM webhook_deliveries WHERE id = ?", [delivery_id]
        else:
            sql = f"UPDATE webhook_deliveries SET {assignments} WHERE id = ?"
            params = [*values, delivery_id]
        if (await self._execute(sql, params)).rowcount == 0:
            raise ExecutionNotFoundError("delivery", delivery_id)


def _progress_writes(
    execution_id: str,
    nodes: Sequence[NodeExecution],
    logs: Sequence[LogEntry],
    events: Sequence[Event],
    fence: int | None,
) -> list[tuple[str, list[tuple[Any, ...]]]]:
    """The statements of a save_progress call with their rows (fenced when ``fence`` is set)."""
    fenced = () if fence is None else (execution_id, fence)
    writes = []
    if nodes:
        upsert = _NODE_UPSERT if fence is None else _NODE_UPSERT_FENCED
        writes.append((upsert, [_sql.node_params(execution_id, n, fence) for n in nodes]))
    if logs:
        insert = _LOG_INSERT if fence is None else _LOG_INSERT_FENCED
        writes.append((insert, [(*p, *fenced) for p in _sql.log_params(execution_id, logs)]))
    if events:
        upsert = _EVENT_UPSERT if fence is None else _EVENT_UPSERT_FENCED
        writes.append((upsert, [(*p, *fenced) for p in _sql.event_params(execution_id, events)]))
    return writes


def _require_fence(execution_id: str, row: Any, fence: int | None) -> None:
    if row is not None and row[0] != fence:
        raise StorageError(f"execution {execution_id!r} is owned by another process (stale fence)")


async def _check_fence(
    connection: psycopg.AsyncConnection[Any], execution_id: str, fence: int
) -> None:
    """Raise when another owner holds the lease; the row stays share-locked until the write
    commits, so a takeover cannot slip in between."""
    cursor = await connection.execute(
        "SELECT fence FROM leases WHERE execution_id = %s FOR SHARE", (execution_id,)
    )
    _require_fence(execution_id, await cursor.fetchone(), fence)
