"""How a running execution's writes reach SQLite: the write transaction (whose commits the WAL
checkpointer counts), status transitions, and progress writes of node runs, logs and events with
the lease's fence checked by the writing statement itself.

The functions run on the storage's one connection, inside the caller's transaction when it has
one (a progress write and the end of an execution are each one commit).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .._exceptions import ExecutionNotFoundError, LeaseLostError
from ..events import EventRecord
from ..runtime._records import ExecutionError, ExecutionStatus, LogEntry, NodeExecution
from . import _sql
from ._sqlite_checkpoint import Checkpointer
from ._sqlite_rows import event_batch, event_text, log_orders, node_row, row_logs
from ._sqlite_statements import (
    EVENT_INSERT,
    FINISH,
    LOG_APPEND,
    NODE_PUT_FENCED,
    NODE_PUT_UNFENCED,
    TRANSITION,
)

if TYPE_CHECKING:
    from .base import Lease

__all__ = [
    "WriteTransaction",
    "append_lines",
    "check_fence",
    "finish",
    "transition",
    "write_node",
    "write_progress",
    "written_nothing",
]


class WriteTransaction:
    """``with``: BEGIN IMMEDIATE, then COMMIT, or ROLLBACK on an exception (a class, not a
    generator-based context manager: entered once per node, it costs a third as much). The
    connection never stays inside a transaction: a COMMIT that fails is rolled back too, or
    every later write would join an open transaction and keep the database's write lock."""

    __slots__ = ("_checkpointer", "_db")

    def __init__(self, db: sqlite3.Connection, checkpointer: Checkpointer | None) -> None:
        self._db = db
        self._checkpointer = checkpointer

    def __enter__(self) -> sqlite3.Connection:
        self._db.execute("BEGIN IMMEDIATE")
        return self._db

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        if kind is not None:
            self._roll_back()
            return
        try:
            self._db.execute("COMMIT")
        except BaseException:
            self._roll_back()
            raise
        if self._checkpointer is not None:
            self._checkpointer.committed()

    def _roll_back(self) -> None:
        # SQLite may have rolled back already (some errors do): ROLLBACK would then raise
        # "no transaction is active" and hide the error being handled.
        if self._db.in_transaction:
            self._db.execute("ROLLBACK")


def transition(
    db: sqlite3.Connection,
    execution_id: str,
    expected: Sequence[ExecutionStatus],
    status: ExecutionStatus,
    started_at: float | None,
    finished_at: float | None,
    cancelled_at: float | None,
    error: ExecutionError | None,
    outputs: dict[str, Any] | None,
) -> bool:
    """Change the status of an execution that is in one of the ``expected`` statuses."""
    if not expected:
        return False
    allowed = ", ".join("?" * len(expected))
    changed: int = db.execute(
        TRANSITION.format(allowed=allowed),
        (status.value, started_at, finished_at, cancelled_at,
         _sql.error_json(error),
         _sql.dump_optional(outputs), execution_id, *(s.value for s in expected)),
    ).rowcount  # fmt: skip
    return changed == 1


def finish(
    db: sqlite3.Connection,
    execution_id: str,
    expected: Sequence[ExecutionStatus],
    status: ExecutionStatus,
    finished_at: float,
    cancelled_at: float | None,
    error: ExecutionError | None,
    outputs: dict[str, Any] | None,
    fence: int | None,
    lease: Lease | None,
) -> bool:
    """Set the final status of an execution that is in one of the ``expected`` statuses, and
    release ``lease``, in one statement that also checks ``fence`` (raising when another owner
    holds the lease). False when the status was not one of ``expected``."""
    if not expected:
        return False
    sql = FINISH.format(
        allowed=", ".join("?" * len(expected)), fence="" if fence is None else " AND fence = ?"
    )
    owner, lease_fence = (None, None) if lease is None else (lease.owner, lease.fence)
    values = (
        status.value, finished_at, cancelled_at,
        _sql.error_json(error), _sql.dump_optional(outputs),
        execution_id, owner, lease_fence, *(s.value for s in expected),
    )  # fmt: skip
    if db.execute(sql, values if fence is None else (*values, fence)).rowcount:
        return True
    if fence is not None:  # not finished: no such execution, another status, or a stale fence
        row = db.execute("SELECT status FROM executions WHERE id = ?", (execution_id,)).fetchone()
        if row is not None and row[0] in {s.value for s in expected}:
            raise _sql.lost_lease(execution_id)
    return False


def write_progress(
    writer: sqlite3.Cursor,
    execution_id: str,
    nodes: Sequence[NodeExecution],
    logs: Sequence[LogEntry],
    events: Sequence[EventRecord],
    fence: int | None,
) -> None:
    """save_progress's statements, inside the caller's transaction, on the storage's
    ``writer`` cursor (see :func:`write_node`). The events, and the log lines written with
    their events (see _sqlite_rows.log_orders), ride in the first node's row, or without
    one in the batch of events; lines without their events go after every line."""
    orders = log_orders(logs, events)
    carried = logs if orders is not None else ()
    if nodes:
        write_node(writer, execution_id, nodes[0], events, fence, carried, orders)
        for node in nodes[1:]:
            writer.execute(NODE_PUT_UNFENCED, node_row(execution_id, node, None))
    else:
        if fence is not None:
            check_fence(writer.connection, execution_id, fence)
        if events:
            lines = row_logs(carried, orders or ())
            batch = event_batch(execution_id, events, event_text(events), lines)
            writer.execute(EVENT_INSERT, batch)
    if orders is None:
        append_lines(writer, execution_id, logs)


def write_node(
    writer: sqlite3.Cursor,
    execution_id: str,
    node: NodeExecution,
    events: Sequence[EventRecord],
    fence: int | None,
    logs: Sequence[LogEntry] = (),
    orders: Sequence[int] | None = None,
) -> None:
    """Write a node run with ``events`` in its row, and ``logs`` placed at ``orders``: the
    usual step (one node settled) then writes one row of one b-tree (a separate events row
    cost a second b-tree page per commit; measured: 27 -> 19 µs per write). The fence is
    checked by that same statement, in the execution's row it reads for the row's key.

    ``writer`` is a cursor the storage keeps for statements that return no rows:
    ``Connection.execute`` makes a cursor per call. (A kept cursor must never hold a
    half-read SELECT, whose open read transaction would outlive the call.)"""
    lines = row_logs(logs, orders) if logs and orders is not None else None
    row = node_row(execution_id, node, event_text(events) if events else None, lines)
    if fence is None:
        written = writer.execute(NODE_PUT_UNFENCED, row)
    else:
        written = writer.execute(NODE_PUT_FENCED, (*row, fence))
    if not written.rowcount:
        raise written_nothing(writer.connection, execution_id)


def append_lines(writer: sqlite3.Cursor, execution_id: str, logs: Sequence[LogEntry]) -> None:
    """Write log lines that came without their events after every line stored."""
    if logs:
        writer.executemany(LOG_APPEND, _sql.log_params(execution_id, logs))


def check_fence(db: sqlite3.Connection, execution_id: str, fence: int) -> None:
    """Raise when another owner holds the execution's lease (or there is no such execution)."""
    row = db.execute("SELECT fence FROM executions WHERE id = ?", (execution_id,)).fetchone()
    if row is None:
        raise ExecutionNotFoundError("execution", execution_id)
    if row[0] != fence:
        raise _sql.lost_lease(execution_id)


def written_nothing(
    db: sqlite3.Connection, execution_id: str
) -> ExecutionNotFoundError | LeaseLostError:
    """Why a write that reads the execution's row wrote nothing: no such execution, or (its
    fence being stale) a lost lease."""
    found = db.execute("SELECT 1 FROM executions WHERE id = ?", (execution_id,)).fetchone()
    if found is None:
        return ExecutionNotFoundError("execution", execution_id)
    return _sql.lost_lease(execution_id)
