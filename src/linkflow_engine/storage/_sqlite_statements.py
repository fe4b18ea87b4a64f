"""The SQLite backend's own statements: how an execution, its snapshot, its status and its progress
are written in SQLite's dialect (the statements both backends accept are in :mod:`._sql`).
"""

from __future__ import annotations

from . import _sql

__all__ = [
    "EVENT_INSERT",
    "EXECUTION_INSERT",
    "LOG_INSERT",
    "NODE_PUT_FENCED",
    "NODE_PUT_UNFENCED",
    "NODE_UPSERT",
    "NODE_UPSERT_FENCED",
    "SNAPSHOT_INSERT",
    "TRANSITION",
]

NODE_UPSERT = _sql.NODE_UPSERT.format(values=_sql.NODE_VALUES, fence="")
NODE_UPSERT_FENCED = _sql.NODE_UPSERT.format(values=_sql.NODE_VALUES, fence=_sql.FENCE_CONDITION)
LOG_INSERT = (
    "INSERT INTO logs (execution_id, timestamp, level, message, node_id, data) "
    "VALUES (?, ?, ?, ?, ?, ?)"
)
EVENT_INSERT = "INSERT OR REPLACE INTO events VALUES (?, ?, ?, ?)"
# Executions refer to their workflow snapshot by key (see migration 5).
SNAPSHOT_INSERT = "INSERT INTO snapshots VALUES (?, ?) ON CONFLICT DO NOTHING"
EXECUTION_INSERT = (
    f"INSERT INTO executions ({_sql.EXECUTION_COLUMNS}, input_data, workflow, outputs, snapshot) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
# A status change from one of the ``{allowed}`` statuses (one ``?`` each).
TRANSITION = (
    "UPDATE executions SET status = ?, started_at = COALESCE(?, started_at), "
    "finished_at = COALESCE(?, finished_at), cancelled_at = COALESCE(?, cancelled_at), "
    "error = COALESCE(?, error), outputs = COALESCE(?, outputs) "
    "WHERE id = ? AND status IN ({allowed})"
)

# save_progress's write of a node run, for an execution the executor holds (no existence check),
# carrying the events of the write: each write's events are one JSON array, appended to the
# row's ``events`` as a line. ``{fence}`` makes a stale fence write nothing.
_NODE_PUT = f"""
INSERT INTO node_executions (execution_id, {_sql.NODE_DATA_COLUMNS}, events)
SELECT ?, {_sql.NODE_VALUES}, ? {{fence}}
ON CONFLICT (execution_id, sequence) DO UPDATE SET
  node_id = excluded.node_id, node_name = excluded.node_name, status = excluded.status,
  started_at = excluded.started_at, finished_at = excluded.finished_at, error = excluded.error,
  attempts = excluded.attempts, iteration = excluded.iteration, port = excluded.port,
  reused = excluded.reused, source_execution_id = excluded.source_execution_id,
  input = excluded.input, output = excluded.output,
  events = CASE WHEN node_executions.events IS NULL THEN excluded.events
    WHEN excluded.events IS NULL THEN node_executions.events
    ELSE node_executions.events || char(10) || excluded.events END
"""
NODE_PUT_UNFENCED = _NODE_PUT.format(fence="WHERE true")
NODE_PUT_FENCED = _NODE_PUT.format(
    fence="WHERE NOT EXISTS (SELECT 1 FROM leases WHERE execution_id = ? AND fence <> ?)"
)
