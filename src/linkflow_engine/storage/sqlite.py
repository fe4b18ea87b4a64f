"""SQLite storage: the embedded default of the CLI and the server (stdlib ``sqlite3``).

One connection, used from the event-loop thread: every call is one or a few short synchronous
statements, which costs less than handing the call to a worker thread (~100 µs) would. The
connection is in autocommit mode, so each write call is its own transaction and is on disk when
it returns. WAL lets readers in other processes go on while one writes; ``busy_timeout`` makes a
second process wait for the write lock instead of failing. Multi-statement operations that must
be atomic across processes take the write lock up front with ``BEGIN IMMEDIATE``.
"""

from __future__ import annotations

import os
import sqlite3
import time
import uuid
from collections.abc import Sequence
from typing import Any, Literal

import anyio
import attrs

from .._exceptions import ExecutionNotFoundError, StorageError
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
from ._sqlite_checkpoint import Checkpointer
from ._sqlite_progress import (
    WriteTransaction,
    append_lines,
    check_fence,
    finish,
    transition,
    write_node,
    write_progress,
)
from ._sqlite_reads import read_events, read_execution, read_node_outputs
from ._sqlite_rows import event_batch, event_text, execution_of, log_orders, snapshot_key
from ._sqlite_schema import migrate
from ._sqlite_statements import (
    DELIVERY_PUT,
    EVENT_INSERT,
    EXECUTION_INSERT,
    EXECUTION_INSERT_SHARING,
    LEASE_ACQUIRE,
    LEASE_RELEASE,
    LEASE_RENEW,
    RECOVERABLE,
    SNAPSHOT_INSERT,
    keys_of,
)
from .base import ExecutionQuery, FireKey, FireRecorded, Lease, LeaseTerms, StoredEvent

__all__ = ["SQLiteStorage"]

PAGE_SIZE = 2048
"""Bytes per page of a new database file (SQLite's default is 4096; a file keeps the size it
was made with). Each commit appends every page it changed to the WAL whole, and a node's
progress write changes one page holding a row of a few hundred bytes: half the page, half the
copying, checksumming and writing. Measured on the W3 chain, 4096 against 2048 in alternating
fresh processes: about 10% off the SQLite figure (a node's write alone: 22.0 -> 18.9 µs), with
the list and stats queries at 1M executions unchanged (1.37 -> 0.97 ms, 106 -> 113 ms)."""

_HELD = {
    "lease": "lease_owner, lease_expires,",
    "held": "(lease_owner IS NOT NULL AND lease_expires > ?)",
}
"""Prune's test of an execution whose lease a run holds (see _sql.PRUNE_CANDIDATES)."""


class SQLiteStorage:
    """Executions in one SQLite file, shareable by several processes.

    :param path: the database file (created when missing).
    :param synchronous: ``"NORMAL"`` (default) survives a crash or kill of the process; with
        ``"FULL"`` the last transactions also survive a power loss, at the cost of an fsync per
        write.
    :param busy_timeout: how long (seconds) a write waits for another process's lock.
    """

    durable = True

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        synchronous: Literal["NORMAL", "FULL"] = "NORMAL",
        busy_timeout: float = 5.0,
    ) -> None:
        if synchronous not in ("NORMAL", "FULL"):
            raise ValueError(f"synchronous must be 'NORMAL' or 'FULL', not {synchronous!r}")
        self.path = os.fspath(path)
        self.synchronous = synchronous
        self.busy_timeout = busy_timeout
        self._connection: sqlite3.Connection | None = None
        self._writer: sqlite3.Cursor | None = None
        self._checkpointer: Checkpointer | None = None

    def __repr__(self) -> str:
        return f"SQLiteStorage({self.path!r}, synchronous={self.synchronous!r})"

    async def open(self) -> None:
        try:
            connection = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, cached_statements=256
            )
        except sqlite3.OperationalError as error:  # no such directory, no permission
            raise StorageError(f"cannot open SQLite database {self.path!r}: {error}") from None
        try:
            connection.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
            connection.execute(f"PRAGMA page_size = {PAGE_SIZE}")  # a new file's only
            connection.execute("PRAGMA journal_mode = WAL")
            connection.execute(f"PRAGMA synchronous = {self.synchronous}")
            migrate(connection, f"SQLite database {self.path!r}")
        except BaseException:
            connection.close()
            raise
        self._connection = connection
        self._writer = connection.cursor()
        self._checkpointer = Checkpointer(self.path, busy_timeout=self.busy_timeout)
        self._checkpointer.start(connection)

    async def aclose(self) -> None:
        checkpointer, self._checkpointer = self._checkpointer, None
        if checkpointer is not None:
            checkpointer.stop()
        connection, self._connection, self._writer = self._connection, None, None
        if connection is not None:
            connection.close()

    @property
    def _db(self) -> sqlite3.Connection:
        if self._connection is None:
            raise StorageError(f"{self!r} is not open (call await storage.open())")
        return self._connection

    @property
    def _cursor(self) -> sqlite3.Cursor:
        """The cursor for writes that return no rows (see :func:`write_node`)."""
        if self._writer is None:
            raise StorageError(f"{self!r} is not open (call await storage.open())")
        return self._writer

    def _write_lock(self) -> WriteTransaction:
        """A transaction holding the database's write lock from its first statement."""
        return WriteTransaction(self._db, self._checkpointer)

    # -- workflows -------------------------------------------------------------------------

    async def save_workflow(self, workflow: Workflow) -> Workflow:
        workflow_id = workflow.id or f"wf-{uuid.uuid4().hex[:12]}"
        with self._write_lock() as db:
            latest, created = db.execute(
                "SELECT MAX(version), MIN(created_at) FROM workflows WHERE id = ?", (workflow_id,)
            ).fetchone()
            now = format_timestamp(time.time())
            stored = attrs.evolve(
                workflow,
                id=workflow_id,
                version=(latest or 0) + 1,
                created_at=created if latest else (workflow.created_at or now),
                updated_at=now,
            )
            db.execute(
                "INSERT INTO workflows VALUES (?, ?, ?, ?, ?, ?, ?)",
                (stored.id, stored.version, stored.name, stored.status, stored.created_at,
                 stored.updated_at, _sql.dump(stored.to_dict())),
            )  # fmt: skip
        return stored

    async def get_workflow(self, workflow_id: str, *, version: int | None = None) -> Workflow:
        if version is None:
            sql = "SELECT document FROM workflows WHERE id = ? ORDER BY version DESC LIMIT 1"
            row = self._db.execute(sql, (workflow_id,)).fetchone()
        else:
            sql = "SELECT document FROM workflows WHERE id = ? AND version = ?"
            row = self._db.execute(sql, (workflow_id, version)).fetchone()
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
        rows = self._db.execute(
            f"SELECT document {latest} ORDER BY updated_at DESC, id LIMIT ? OFFSET ?",
            (*values, limit, offset),
        ).fetchall()
        (total,) = self._db.execute(f"SELECT COUNT(*) {latest}", values).fetchone()
        return [_sql.workflow_from_json(row[0]) for row in rows], total

    async def delete_workflow(self, workflow_id: str) -> None:
        if self._db.execute("DELETE FROM workflows WHERE id = ?", (workflow_id,)).rowcount == 0:
            raise ExecutionNotFoundError("workflow", workflow_id)

    # -- executions ------------------------------------------------------------------------

    async def create_execution(
        self, execution: Execution, *, lease: LeaseTerms | None = None, fire: FireKey | None = None
    ) -> Lease | None:
        *fields, snapshot, outputs = _sql.execution_params(execution)
        key = None if snapshot is None else snapshot_key(snapshot)
        # The lease is taken in the execution's own row: a new execution's first fence is 1.
        granted = None
        holder: tuple[Any, ...] = (None, 0, None)
        if lease is not None:
            granted = Lease(
                execution_id=execution.id,
                owner=lease.owner,
                fence=1,
                expires_at=lease.now + lease.ttl,
            )
            holder = (granted.owner, granted.fence, granted.expires_at)
        row = (*fields, None, outputs, key, *holder)
        runs = execution.node_executions
        try:
            if fire is None and not runs:
                # Usually the snapshot is stored already (every run of a workflow version
                # shares it): then the execution is one statement, its own transaction, which
                # checks that the snapshot is still there (a prune elsewhere may have just
                # dropped it).
                if key is None:
                    self._cursor.execute(EXECUTION_INSERT, row)
                    return granted
                if self._cursor.execute(EXECUTION_INSERT_SHARING, (*row, key)).rowcount:
                    return granted
            # A scheduled run: the fire and the execution, or nothing. A retry or partial
            # run: the execution with the runs it reuses.
            with self._write_lock() as db:
                if fire is not None:
                    fired = db.execute(_sql.FIRE_INSERT, _sql.fire_params(fire, execution.id))
                    if not fired.rowcount:
                        raise FireRecorded(f"the fire {fire!r} is recorded already")
                if key is not None:
                    db.execute(SNAPSHOT_INSERT, (key, snapshot))
                db.execute(EXECUTION_INSERT, row)
                for run in runs:
                    write_node(self._cursor, execution.id, run, (), None)
        except sqlite3.IntegrityError:
            raise StorageError(f"execution {execution.id!r} already exists") from None
        return granted

    async def get_execution(self, execution_id: str, *, include_data: bool = False) -> Execution:
        return read_execution(self._db, execution_id, include_data)

    async def list_executions(self, query: ExecutionQuery) -> tuple[list[Execution], int]:
        where, values = _sql.execution_filters(query)
        rows = self._db.execute(
            f"SELECT {_sql.EXECUTION_COLUMNS} FROM executions {where} "
            "ORDER BY created_at DESC LIMIT ? OFFSET ?",
            (*values, query.limit, query.offset),
        ).fetchall()
        (total,) = self._db.execute(f"SELECT COUNT(*) FROM executions {where}", values).fetchone()
        return [execution_of(row) for row in rows], total

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
        fields = (started_at, finished_at, cancelled_at, error, outputs)
        if not deliveries:  # one statement, its own transaction
            changed = transition(self._db, execution_id, expected, status, *fields)
        else:
            with self._write_lock() as db:
                changed = transition(db, execution_id, expected, status, *fields)
                if changed:
                    db.executemany(DELIVERY_PUT, map(_sql.delivery_params, deliveries))
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
        with self._write_lock() as db:
            changed = finish(
                db, execution_id, expected, status, finished_at, cancelled_at, error, outputs,
                fence, lease,
            )  # fmt: skip
            if changed:  # under the fence the finish checked, with the write lock held since
                write_progress(self._cursor, execution_id, nodes, logs, events, None)
                if deliveries:
                    db.executemany(DELIVERY_PUT, map(_sql.delivery_params, deliveries))
        if not changed:
            await self._require_execution(execution_id)
        return changed

    async def _require_execution(self, execution_id: str) -> None:
        found = self._db.execute("SELECT 1 FROM executions WHERE id = ?", (execution_id,))
        if found.fetchone() is None:
            raise ExecutionNotFoundError("execution", execution_id)

    async def get_status(self, execution_id: str) -> ExecutionStatus:
        row = self._db.execute("SELECT status FROM executions WHERE id = ?", (execution_id,))
        found = row.fetchone()
        if found is None:
            raise ExecutionNotFoundError("execution", execution_id)
        return ExecutionStatus(found[0])

    async def save_execution_options(self, execution_id: str, options: dict[str, Any]) -> None:
        changed = self._db.execute(
            "UPDATE executions SET options = ? WHERE id = ?", (_sql.dump(options), execution_id)
        ).rowcount
        if changed == 0:
            raise ExecutionNotFoundError("execution", execution_id)

    async def save_node_execution(
        self, execution_id: str, node: NodeExecution, *, fence: int | None = None
    ) -> None:
        write_node(self._cursor, execution_id, node, (), fence)

    async def save_progress(
        self,
        execution_id: str,
        *,
        nodes: Sequence[NodeExecution] = (),
        logs: Sequence[LogEntry] = (),
        events: Sequence[EventRecord] = (),
        fence: int | None = None,
    ) -> None:
        # One transaction (one commit) for the whole step: the per-node cost of durability.
        if len(nodes) == 1 and (orders := log_orders(logs, events)) is not None:
            # The usual step, one node settled (its log lines in its row), is one statement:
            # in autocommit mode it is its own transaction, taking the write lock up front as
            # BEGIN IMMEDIATE would, and skipping BEGIN and COMMIT saves a third of the write
            # (measured: 27 -> 19 µs).
            write_node(self._cursor, execution_id, nodes[0], events, fence, logs, orders)
            if self._checkpointer is not None:
                self._checkpointer.committed()
            return
        with self._write_lock():
            write_progress(self._cursor, execution_id, nodes, logs, events, fence)

    async def append_logs(
        self, execution_id: str, entries: Sequence[LogEntry], *, fence: int | None = None
    ) -> None:
        with self._write_lock() as db:
            await self._require_execution(execution_id)
            if fence is not None:
                check_fence(db, execution_id, fence)
            append_lines(self._cursor, execution_id, entries)

    async def append_events(self, execution_id: str, events: Sequence[EventRecord]) -> None:
        if events:
            self._db.execute(EVENT_INSERT, event_batch(execution_id, events, event_text(events)))

    async def list_events(self, execution_id: str, *, after_sequence: int = 0) -> list[StoredEvent]:
        return read_events(self._db, execution_id, after_sequence)

    async def find_node_outputs(
        self, workflow_id: str, node_ids: Sequence[str]
    ) -> dict[str, NodeExecution]:
        if not node_ids:
            return {}
        return read_node_outputs(self._db, workflow_id, node_ids)

    # -- leases ----------------------------------------------------------------------------

    async def acquire_lease(
        self, execution_id: str, *, owner: str, ttl: float, now: float
    ) -> Lease | None:
        expires_at = now + ttl
        row = self._db.execute(LEASE_ACQUIRE, (owner, expires_at, execution_id, now)).fetchone()
        if row is None:
            return None
        return Lease(execution_id=execution_id, owner=owner, fence=row[0], expires_at=expires_at)

    async def renew_lease(self, lease: Lease, *, ttl: float, now: float) -> Lease | None:
        renewed = self._db.execute(
            LEASE_RENEW, (now + ttl, lease.execution_id, lease.owner, lease.fence)
        ).rowcount
        return attrs.evolve(lease, expires_at=now + ttl) if renewed else None

    async def release_lease(self, lease: Lease) -> None:
        self._db.execute(LEASE_RELEASE, (lease.execution_id, lease.owner, lease.fence))

    async def recoverable_executions(self, *, now: float) -> list[str]:
        return [row[0] for row in self._db.execute(RECOVERABLE, (now,))]

    # -- history ---------------------------------------------------------------------------

    async def execution_stats(
        self, *, workflow_id: str | None = None, period: str = "day", now: float
    ) -> dict[str, Any]:
        # One small query per day, each one pass over a range of a covering index, summing
        # as it goes: grouping the month by a computed day made SQLite sort 500k rows, and
        # grouping each day by status sorted each day (or, once ANALYZE had run, looked every
        # row up through the status index). At 1M executions: 313 -> 204 ms for a month.
        # Only finished executions have a finish time, so the duration is counted for those
        # that also started (as the other backends do).
        where = "" if workflow_id is None else " AND workflow_id = ?"
        sql = (
            "SELECT COUNT(*), SUM(status = 'completed'), SUM(status = 'failed'), "
            "SUM(status = 'cancelled'), SUM(finished_at - started_at), "
            "COUNT(finished_at - started_at) FROM executions "
            f"WHERE created_at >= ? AND created_at < ?{where}"
        )
        extra = () if workflow_id is None else (workflow_id,)
        ranges = _sql.day_ranges(_sql.period_start(period, now), now)
        if self.path == ":memory:" or len(ranges) < 2:
            days = _count_days(self._db, sql, ranges, extra)
        else:
            # Two threads, each with a read connection of its own, count every other day: WAL
            # lets them read beside the writer, and sqlite3 lets go of the GIL while a query
            # steps, so both cores count (a month at 1M executions: 315 -> 160 ms), and the
            # event loop is free meanwhile.
            halves: list[list[tuple[Any, ...]]] = [[], []]

            async def count(half: int) -> None:
                share = ranges[half::2]
                halves[half] = await anyio.to_thread.run_sync(self._count_apart, sql, share, extra)

            async with anyio.create_task_group() as group:
                group.start_soon(count, 0)
                group.start_soon(count, 1)
            days = sorted(halves[0] + halves[1])
        return _sql.stats_from_days(days)

    def _count_apart(
        self, sql: str, ranges: Sequence[tuple[int, float, float]], extra: tuple[Any, ...]
    ) -> list[tuple[Any, ...]]:
        """:func:`_count_days` on a read connection of its own (in a worker thread)."""
        reader = sqlite3.connect(self.path, timeout=self.busy_timeout)
        try:
            return _count_days(reader, sql, ranges, extra)
        finally:
            reader.close()

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
        with self._write_lock() as db:
            db.execute("CREATE TEMP TABLE IF NOT EXISTS pruned (num INTEGER PRIMARY KEY)")
            db.execute("DELETE FROM pruned")
            db.execute(
                "INSERT INTO pruned SELECT num FROM executions WHERE id IN "
                f"({_sql.PRUNE_CANDIDATES.format(condition=where, **_HELD)})",
                values,
            )
            for table in ("node_executions", "logs", "events"):  # each a range of keys
                db.execute(
                    f"DELETE FROM {table} WHERE key IN (SELECT t.key FROM pruned p "
                    f"JOIN {table} t ON {keys_of('p.num', 't.key')})"
                )
            deleted: int = db.execute(
                "DELETE FROM executions WHERE num IN (SELECT num FROM pruned)"
            ).rowcount
            db.execute(
                "DELETE FROM snapshots WHERE NOT EXISTS "
                "(SELECT 1 FROM executions WHERE snapshot = snapshots.key)"
            )
            db.execute(_sql.DELIVERIES_PRUNE)
        return deleted

    # -- schedule fires and webhook deliveries ---------------------------------------------

    async def record_fire(
        self,
        *,
        workflow_id: str,
        node_id: str,
        scheduled_at: float,
        execution_id: str | None = None,
    ) -> bool:
        fire = (workflow_id, node_id, scheduled_at)
        fired = self._db.execute(_sql.FIRE_INSERT, _sql.fire_params(fire, execution_id))
        return fired.rowcount == 1

    async def last_fire(self, *, workflow_id: str, node_id: str) -> float | None:
        (latest,) = self._db.execute(_sql.FIRE_LAST, (workflow_id, node_id)).fetchone()
        return _sql.fire_slot(latest)

    async def save_delivery(self, delivery: dict[str, Any]) -> None:
        self._db.execute(DELIVERY_PUT, _sql.delivery_params(delivery))

    async def pending_deliveries(self, *, now: float, limit: int = 100) -> list[dict[str, Any]]:
        rows = self._db.execute(
            f"SELECT {_sql.DELIVERY_COLUMNS} FROM webhook_deliveries "
            "WHERE status = 'pending' AND next_attempt_at <= ? ORDER BY next_attempt_at LIMIT ?",
            (now, limit),
        )
        return [_sql.delivery_of(row) for row in rows]

    async def claim_delivery(self, delivery_id: str, *, due_at: float, until: float) -> bool:
        claimed = self._db.execute(
            "UPDATE webhook_deliveries SET next_attempt_at = ? "
            "WHERE id = ? AND status = 'pending' AND next_attempt_at = ?",
            (until, delivery_id, due_at),
        ).rowcount
        return claimed == 1

    async def update_delivery(self, delivery_id: str, **fields: Any) -> None:
        assignments, values = _sql.delivery_assignments(fields)
        if not fields:
            found = self._db.execute(
                "SELECT 1 FROM webhook_deliveries WHERE id = ?", (delivery_id,)
            )
            changed = len(found.fetchall())
        else:
            changed = self._db.execute(
                f"UPDATE webhook_deliveries SET {assignments} WHERE id = ?", (*values, delivery_id)
            ).rowcount
        if changed == 0:
            raise ExecutionNotFoundError("delivery", delivery_id)


def _count_days(
    db: sqlite3.Connection,
    sql: str,
    ranges: Sequence[tuple[int, float, float]],
    extra: tuple[Any, ...],
) -> list[tuple[Any, ...]]:
    """The stats ``sql`` of each day of ``ranges`` that has executions, with its day first."""
    days = []
    for day, low, high in ranges:
        counts = db.execute(sql, (low, high, *extra)).fetchone()
        if counts[0]:
            days.append((day, *counts))
    return days
