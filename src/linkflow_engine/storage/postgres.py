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
import weakref
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import anyio
import attrs
import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg.types.string import StrDumperUnknown
from psycopg_pool import AsyncConnectionPool

from .._exceptions import ExecutionNotFoundError, StorageError
from .._stored_values import text
from ..events import EventRecord
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
from ._postgres_deliveries import Deliveries, save_deliveries
from ._postgres_listener import listen, status_channel
from ._postgres_progress import (
    TransitionFields,
    check_fence,
    progress_writes,
    transition,
    write_end,
    write_logs,
    write_progress,
)
from ._postgres_reads import read_events, read_execution, read_node_outputs
from ._postgres_schema import migrate
from ._postgres_statements import (
    CHILD_TABLES,
    EVENT_UPSERT,
    LEASE_ACQUIRE,
    LEASE_RELEASE,
    LEASE_RENEW,
    NODE_UPSERT,
    RECOVERABLE,
    pg,
)
from .base import ExecutionQuery, FireKey, FireRecorded, Lease, LeaseTerms, StoredEvent

__all__ = ["PostgresStorage"]

_SCHEMA_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")


def _session_options(dsn: str, schema: str) -> str:
    """The ``options`` of every connection: the DSN's own (``-c synchronous_commit=off``, say)
    and the schema as search path, quoted so that a name with capitals is kept as written."""
    given = conninfo_to_dict(dsn).get("options") or ""
    return f'{given} -c search_path="{schema}"'.strip()


class _TextDumper(StrDumperUnknown):
    """PostgreSQL text cannot hold NUL, which a log line or an error message may carry (psycopg
    refuses the whole write, at every attempt): it is written as U+FFFD, the replacement
    character, as is a lone surrogate. JSON columns keep both (JSON text escapes them)."""

    def dump(self, obj: str) -> Any:
        if "\x00" in obj:
            obj = obj.replace("\x00", "\ufffd")
        try:
            return super().dump(obj)
        except UnicodeEncodeError:
            return super().dump(text(obj))


IDLE_CHECK = 0.25
"""Seconds a pooled connection may sit unused before it is checked (one round trip) as it is
taken: a connection the server or the network dropped meanwhile (a restart, an idle timeout,
a terminated backend) is then replaced before use, not found out by the write it was taken
for, whose run would stop and run that node again after recovery. A run's writes follow one
another closely and go unchecked: checking every connection taken cost a third more per
durable node (one round trip more to each write)."""
_returned: weakref.WeakKeyDictionary[psycopg.AsyncConnection[Any], float] = (
    weakref.WeakKeyDictionary()
)


async def _note_return(connection: psycopg.AsyncConnection[Any]) -> None:
    _returned[connection] = time.monotonic()


async def _check_when_idle(connection: psycopg.AsyncConnection[Any]) -> None:
    returned = _returned.get(connection)
    if returned is None or time.monotonic() - returned >= IDLE_CHECK:
        await AsyncConnectionPool.check_connection(connection)


async def _configure(connection: psycopg.AsyncConnection[Any]) -> None:
    connection.adapters.register_dumper(str, _TextDumper)


_HELD = {
    "lease": "",
    "held": "EXISTS (SELECT 1 FROM leases h WHERE h.execution_id = ranked.id "
    "AND h.owner IS NOT NULL AND h.expires_at > ?)",
}
"""Prune's test of an execution whose lease a run holds (see _sql.PRUNE_CANDIDATES)."""


class PostgresStorage:
    """Executions in one PostgreSQL schema.

    :param dsn: a libpq connection string or URL. Its ``options`` reach every connection, so
        ``?options=-c%20synchronous_commit%3Doff`` trades the last commits before a *server*
        crash for speed (a crash of the engine's process still loses nothing).
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
        self._deliveries = Deliveries(self._execute, self._rows)

    def __repr__(self) -> str:
        return f"PostgresStorage(schema={self.schema!r})"

    async def open(self) -> None:
        options = _session_options(self.dsn, self.schema)
        async with await psycopg.AsyncConnection.connect(
            self.dsn, autocommit=True, options=options
        ) as connection:
            await migrate(connection, self.schema)
        pool = AsyncConnectionPool(
            self.dsn,
            min_size=self._min_size,
            max_size=self._max_size,
            kwargs={"autocommit": True, "options": options},
            configure=_configure,
            check=_check_when_idle,
            reset=_note_return,
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
            cursor: psycopg.AsyncCursor[Any] = await connection.execute(pg(sql), values)
            return cursor

    async def _rows(self, sql: str, values: Sequence[Any] = ()) -> list[Any]:
        async with self.pool.connection() as connection:
            cursor = await connection.execute(pg(sql), values)
            return await cursor.fetchall()

    async def _row(self, sql: str, values: Sequence[Any] = ()) -> Any:
        async with self.pool.connection() as connection:
            cursor = await connection.execute(pg(sql), values)
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
        self, execution: Execution, *, lease: LeaseTerms | None = None, fire: FireKey | None = None
    ) -> Lease | None:
        params = _sql.execution_params(execution)
        runs = execution.node_executions
        try:
            if lease is None and fire is None and not runs:
                await self._execute(_sql.EXECUTION_INSERT, params)
                return None
            async with self.pool.connection() as connection, connection.transaction():
                if fire is not None:  # a scheduled run: the fire and the execution, or nothing
                    recorded = await connection.execute(
                        pg(_sql.FIRE_INSERT), _sql.fire_params(fire, execution.id)
                    )
                    if recorded.rowcount != 1:
                        raise FireRecorded(f"the fire {fire!r} is recorded already")
                await connection.execute(pg(_sql.EXECUTION_INSERT), params)
                if runs:  # a retry's or partial run's reused runs, stored with it
                    async with connection.cursor() as cursor:
                        await cursor.executemany(
                            NODE_UPSERT, [_sql.node_params(execution.id, n, None) for n in runs]
                        )
                if lease is None:
                    return None
                expires_at = lease.now + lease.ttl
                cursor = await connection.execute(
                    pg(LEASE_ACQUIRE), (lease.owner, expires_at, execution.id, lease.now)
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
        async with self.pool.connection() as connection:
            return await read_execution(connection, execution_id, include_data)

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
        deliveries: Sequence[dict[str, Any]] = (),
    ) -> bool:
        fields: TransitionFields = (started_at, finished_at, cancelled_at, error, outputs)
        async with self.pool.connection() as connection:
            if not deliveries:  # one statement, its own transaction
                changed = await transition(
                    connection, self.status_channel, execution_id, expected, status, fields
                )
            else:
                async with connection.transaction():
                    changed = await transition(
                        connection, self.status_channel, execution_id, expected, status, fields
                    )
                    if changed:
                        await save_deliveries(connection, deliveries)
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
        events: Sequence[EventRecord] = (),
        fence: int | None = None,
        lease: Lease | None = None,
        deliveries: Sequence[dict[str, Any]] = (),
    ) -> bool:
        writes = progress_writes(execution_id, nodes, logs, events, fence)
        fields: TransitionFields = (None, finished_at, cancelled_at, error, outputs)
        with anyio.CancelScope(shield=True):  # see save_progress
            async with self.pool.connection() as connection, connection.transaction():
                changed = await transition(
                    connection, self.status_channel, execution_id, expected, status, fields
                )
                if changed:
                    await write_end(connection, execution_id, writes, fence, lease)
                    await save_deliveries(connection, deliveries)
        if not changed:
            await self._require_execution(execution_id)
        return changed

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
                await check_fence(connection, execution_id, fence)
            params = _sql.node_params(execution_id, node, None)
            written = (await connection.execute(NODE_UPSERT, params)).rowcount
        if written == 0:
            raise ExecutionNotFoundError("execution", execution_id)

    async def save_progress(
        self,
        execution_id: str,
        *,
        nodes: Sequence[NodeExecution] = (),
        logs: Sequence[LogEntry] = (),
        events: Sequence[EventRecord] = (),
        fence: int | None = None,
    ) -> None:
        writes = progress_writes(execution_id, nodes, logs, events, fence)
        # Whole or not at all: a cancel of the run (its own, or its engine closing) waits for
        # the write, which would otherwise stop mid-way, stored or not, and the run's end would
        # go on without what it carried (SQLite's and memory's writes never wait, so never stop).
        with anyio.CancelScope(shield=True):
            async with self.pool.connection() as connection:
                await write_progress(connection, execution_id, writes, fence)
        await anyio.lowlevel.checkpoint_if_cancelled()  # the cancel the write held back

    async def append_logs(
        self, execution_id: str, entries: Sequence[LogEntry], *, fence: int | None = None
    ) -> None:
        async with self.pool.connection() as connection:
            await write_logs(connection, execution_id, entries, fence)

    async def append_events(self, execution_id: str, events: Sequence[EventRecord]) -> None:
        async with self.pool.connection() as connection, connection.cursor() as cursor:
            await cursor.executemany(EVENT_UPSERT, _sql.event_params(execution_id, events))

    async def list_events(self, execution_id: str, *, after_sequence: int = 0) -> list[StoredEvent]:
        async with self.pool.connection() as connection:
            return await read_events(connection, execution_id, after_sequence)

    async def find_node_outputs(
        self, workflow_id: str, node_ids: Sequence[str]
    ) -> dict[str, NodeExecution]:
        async with self.pool.connection() as connection:
            return await read_node_outputs(connection, workflow_id, node_ids)

    # -- leases ----------------------------------------------------------------------------

    async def acquire_lease(
        self, execution_id: str, *, owner: str, ttl: float, now: float
    ) -> Lease | None:
        row = await self._row(LEASE_ACQUIRE, (owner, now + ttl, execution_id, now))
        if row is None:
            return None
        return Lease(execution_id=execution_id, owner=owner, fence=row[0], expires_at=now + ttl)

    async def renew_lease(self, lease: Lease, *, ttl: float, now: float) -> Lease | None:
        cursor = await self._execute(
            LEASE_RENEW, (now + ttl, lease.execution_id, lease.owner, lease.fence)
        )
        return attrs.evolve(lease, expires_at=now + ttl) if cursor.rowcount else None

    async def release_lease(self, lease: Lease) -> None:
        await self._execute(LEASE_RELEASE, (lease.execution_id, lease.owner, lease.fence))

    async def recoverable_executions(self, *, now: float) -> list[str]:
        return [row[0] for row in await self._rows(RECOVERABLE, (now,))]

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
        self,
        *,
        older_than: float | None = None,
        keep_last_per_workflow: int | None = None,
        now: float | None = None,
    ) -> int:
        condition = _sql.prune_condition(older_than, keep_last_per_workflow)
        if condition is None:
            return 0
        where, values = condition
        values.append(_sql.pruned_before(now))
        candidates = pg(_sql.PRUNE_CANDIDATES.format(condition=where, **_HELD))
        async with self.pool.connection() as connection, connection.transaction():
            ids = [
                row[0] for row in await (await connection.execute(candidates, values)).fetchall()
            ]
            for table in CHILD_TABLES:
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
            await connection.execute(_sql.DELIVERIES_PRUNE)
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
        return await self._deliveries.record_fire(workflow_id, node_id, scheduled_at, execution_id)

    async def last_fire(self, *, workflow_id: str, node_id: str) -> float | None:
        return await self._deliveries.last_fire(workflow_id, node_id)

    async def save_delivery(self, delivery: dict[str, Any]) -> None:
        await self._deliveries.save(delivery)

    async def pending_deliveries(self, *, now: float, limit: int = 100) -> list[dict[str, Any]]:
        return await self._deliveries.pending(now, limit)

    async def claim_delivery(self, delivery_id: str, *, due_at: float, until: float) -> bool:
        return await self._deliveries.claim(delivery_id, due_at, until)

    async def update_delivery(self, delivery_id: str, **fields: Any) -> None:
        await self._deliveries.update(delivery_id, fields)
