"""The PostgreSQL backend's reads of what a run wrote: an execution with its node runs and logs
(read in one snapshot), its events, and the latest completed run of given nodes across a workflow's
executions. psycopg decodes the JSON columns itself, so rows map to records through :mod:`._sql`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs
import psycopg

from .._exceptions import ExecutionNotFoundError
from ..graph import Workflow
from ..runtime._records import Execution, NodeExecution
from . import _sql
from .base import StoredEvent

__all__ = ["read_events", "read_execution", "read_node_outputs"]


async def read_execution(
    connection: psycopg.AsyncConnection[Any], execution_id: str, include_data: bool
) -> Execution:
    """An execution with its node runs and logs (and its data when ``include_data``)."""
    node_columns = _sql.NODE_DATA_COLUMNS if include_data else _sql.NODE_COLUMNS
    async with connection.transaction():
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
            f"SELECT {node_columns} FROM node_executions WHERE execution_id = %s ORDER BY sequence",
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


async def read_node_outputs(
    connection: psycopg.AsyncConnection[Any], workflow_id: str, node_ids: Sequence[str]
) -> dict[str, NodeExecution]:
    """The latest completed run of each of ``node_ids`` in the workflow's executions."""
    # DISTINCT ON keeps the first row of each node: its latest completed run.
    columns = ", ".join("n." + c for c in _sql.NODE_DATA_COLUMNS.split(", "))
    cursor = await connection.execute(
        f"SELECT DISTINCT ON (n.node_id) e.id, {columns} "
        "FROM executions e JOIN node_executions n ON n.execution_id = e.id "
        "WHERE e.workflow_id = %s AND n.status = 'completed' AND n.node_id = ANY(%s) "
        "ORDER BY n.node_id, e.created_at DESC, n.sequence DESC",
        (workflow_id, list(node_ids)),
    )
    found = {}
    for execution_id, *node_row in await cursor.fetchall():
        run = _sql.node_of(node_row)
        source = run.source_execution_id if run.reused else execution_id
        found[run.node_id] = attrs.evolve(run, source_execution_id=source)
    return found


async def read_events(
    connection: psycopg.AsyncConnection[Any], execution_id: str, after_sequence: int
) -> list[StoredEvent]:
    """The events of an execution after ``after_sequence``, in order."""
    cursor = await connection.execute(
        "SELECT v.sequence, v.data, x.workflow_id FROM events v "
        "JOIN executions x ON x.id = v.execution_id "
        "WHERE v.execution_id = %s AND v.sequence > %s ORDER BY v.sequence",
        (execution_id, after_sequence),
    )
    rows = await cursor.fetchall()
    wanted = _sql.runs_referred_to(data for _, data, _ in rows)
    runs = {}
    if wanted:
        found = await connection.execute(
            f"SELECT {_sql.RUN_COLUMNS} FROM node_executions "
            "WHERE execution_id = %s AND sequence = ANY(%s)",
            (execution_id, sorted(wanted)),
        )
        runs = {run.sequence: run for run in map(_sql.node_of, await found.fetchall())}
    return [
        StoredEvent(
            execution_id=execution_id,
            sequence=sequence,
            data=_sql.wire_event(data, execution_id, workflow_id, runs),
        )
        for sequence, data, workflow_id in rows
    ]
