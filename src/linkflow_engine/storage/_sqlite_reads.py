"""The SQLite backend's reads of what a run wrote: an execution with its node runs and logs, its
events (kept in batches in two tables, see :func:`._sqlite_progress.write_progress`), and the
latest completed run of given nodes across a workflow's executions.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Any

import attrs

from .._exceptions import ExecutionNotFoundError
from ..graph import Workflow
from ..runtime._records import Execution, NodeExecution
from . import _sql
from ._sqlite_rows import (
    NODE_DATA_JSON,
    NODE_JSON,
    decoded,
    execution_of,
    load,
    logs_of,
)
from ._sqlite_statements import KEY_SPAN, LOG_READ, keys_of
from .base import StoredEvent

__all__ = ["key_range", "read_events", "read_execution", "read_node_outputs"]


def read_execution(db: sqlite3.Connection, execution_id: str, include_data: bool) -> Execution:
    """An execution with its node runs and logs (and its data when ``include_data``), read
    in one transaction: all as of one moment, whatever other processes write meanwhile."""
    if db.in_transaction:
        return _read_execution(db, execution_id, include_data)
    db.execute("BEGIN")
    try:
        return _read_execution(db, execution_id, include_data)
    finally:
        db.execute("COMMIT")


def _read_execution(db: sqlite3.Connection, execution_id: str, include_data: bool) -> Execution:
    row = db.execute(
        f"SELECT {_sql.EXECUTION_COLUMNS}, num, input_data, "
        "COALESCE(workflow, (SELECT document FROM snapshots WHERE key = snapshot))"
        + (", outputs" if include_data else "")
        + " FROM executions WHERE id = ?",
        (execution_id,),
    ).fetchone()
    if row is None:
        raise ExecutionNotFoundError("execution", execution_id)
    execution = execution_of(row)
    keys = key_range(row[14])
    execution.input_data = load(row[15])
    snapshot = load(row[16])
    execution.workflow = Workflow.from_dict(snapshot) if snapshot is not None else None
    if include_data:
        execution.outputs = load(row[17]) or {}
    columns, json_columns = (
        (_sql.NODE_DATA_COLUMNS, NODE_DATA_JSON) if include_data else
        (_sql.NODE_COLUMNS, NODE_JSON)
    )  # fmt: skip
    nodes = db.execute(
        f"SELECT {columns} FROM node_executions WHERE key >= ? AND key < ? ORDER BY key", keys
    )
    execution.node_executions = [_sql.node_of(decoded(r, json_columns)) for r in nodes]
    execution.logs = logs_of(db.execute(LOG_READ, keys).fetchall())
    return execution


def key_range(num: int) -> tuple[int, int]:
    """The keys of the rows of execution number ``num`` (from, up to but excluding)."""
    return num * KEY_SPAN, (num + 1) * KEY_SPAN


def read_events(
    db: sqlite3.Connection, execution_id: str, after_sequence: int
) -> list[StoredEvent]:
    """The events of an execution after ``after_sequence``, in order, in their wire form."""
    found_row = db.execute(
        "SELECT num, workflow_id FROM executions WHERE id = ?", (execution_id,)
    ).fetchone()
    if found_row is None:
        return []
    num, workflow_id = found_row
    low, high = key_range(num)
    # Batches of events live in the events table and in node rows (see save_progress).
    rows = db.execute(
        "SELECT data FROM events WHERE key >= ? AND key < ? AND last_sequence > ? UNION ALL "
        "SELECT events FROM node_executions WHERE key >= ? AND key < ? AND events IS NOT NULL",
        (low, high, after_sequence, low, high),
    ).fetchall()
    items = [
        item
        for (text,) in rows
        for batch in text.split("\n")
        for item in json.loads(batch)
        if _sequence_of(item) > after_sequence
    ]
    runs = _runs(db, num, _sql.runs_referred_to(items))
    found = [_sql.wire_event(item, execution_id, workflow_id, runs) for item in items]
    found.sort(key=lambda event: event["sequence"])
    return [StoredEvent(execution_id=execution_id, sequence=e["sequence"], data=e) for e in found]


def _sequence_of(item: Any) -> int:
    """The sequence of a stored event: its record's, or (0.1.0.dev0) its wire form's."""
    return int(item["sequence"] if isinstance(item, dict) else item[1])


def _runs(db: sqlite3.Connection, num: int, sequences: set[int]) -> dict[int, NodeExecution]:
    """The node runs numbered ``sequences`` of execution number ``num``, by number."""
    if not sequences:
        return {}
    # The keys as one JSON array: one parameter however many runs (SQLite limits parameters).
    keys = _sql.dump([num * KEY_SPAN + sequence for sequence in sequences])
    rows = db.execute(
        f"SELECT {_sql.RUN_COLUMNS} FROM node_executions "
        "WHERE key IN (SELECT value FROM json_each(?))",
        (keys,),
    )
    return {run.sequence: run for run in (_sql.node_of(decoded(r, NODE_DATA_JSON)) for r in rows)}


def read_node_outputs(
    db: sqlite3.Connection, workflow_id: str, node_ids: Sequence[str]
) -> dict[str, NodeExecution]:
    """The latest completed run of each of ``node_ids`` in the workflow's executions."""
    wanted = set(node_ids)
    found: dict[str, NodeExecution] = {}
    rows = db.execute(
        f"SELECT e.id, {', '.join('n.' + c for c in _sql.NODE_DATA_COLUMNS.split(', '))} "
        "FROM executions e JOIN node_executions n "
        f"ON {keys_of('e.num', 'n.key')} "
        f"WHERE e.workflow_id = ? AND n.status = 'completed' AND n.node_id IN "
        f"({', '.join('?' * len(wanted))}) ORDER BY e.created_at DESC, n.key DESC",
        (workflow_id, *wanted),
    )
    # The cursor is lazy: stop reading as soon as every node has its latest run.
    for execution_id, *node_row in rows:
        run = _sql.node_of(decoded(node_row, NODE_DATA_JSON))
        if run.node_id not in found:
            source = run.source_execution_id if run.reused else execution_id
            found[run.node_id] = attrs.evolve(run, source_execution_id=source)
            if len(found) == len(wanted):
                break
    return found
