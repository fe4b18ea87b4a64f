"""The PostgreSQL backend's own statements: the progress writes of a running execution (plain, and
with the lease's fence checked by each statement) and status transitions (notified when another
process must hear of them), in psycopg's ``%s`` style. The statements both backends accept are in
:mod:`._sql`; :func:`pg` turns them into this style.
"""

from __future__ import annotations

from ..runtime._records import ExecutionStatus
from . import _sql

__all__ = [
    "CHILD_TABLES",
    "EVENT_UPSERT",
    "EVENT_UPSERT_FENCED",
    "EXECUTION_EXISTS",
    "LEASE_ACQUIRE",
    "LEASE_FENCE",
    "LEASE_RELEASE",
    "LEASE_RENEW",
    "LOG_INSERT",
    "LOG_INSERT_FENCED",
    "NODE_UPSERT",
    "NODE_UPSERT_FENCED",
    "NOTIFIED",
    "RECOVERABLE",
    "TRANSITION",
    "TRANSITION_NOTIFIED",
    "pg",
]


def pg(sql: str) -> str:
    """The shared ``?``-placeholder statements in psycopg's ``%s`` style."""
    return sql.replace("?", "%s")


# The fence check is part of the write, so the check and the write are one atomic statement.
_NODE_UPSERT = f"""
INSERT INTO node_executions (execution_id, {_sql.NODE_DATA_COLUMNS})
SELECT id, {{values}} FROM executions WHERE id = ? {{fence}}
ON CONFLICT (execution_id, sequence) DO UPDATE SET
  node_id = excluded.node_id, node_name = excluded.node_name, status = excluded.status,
  started_at = excluded.started_at, finished_at = excluded.finished_at, error = excluded.error,
  attempts = excluded.attempts, iteration = excluded.iteration, port = excluded.port,
  reused = excluded.reused, source_execution_id = excluded.source_execution_id,
  input = excluded.input, output = excluded.output, timers = excluded.timers
"""
# PostgreSQL types the parameters of a SELECT list as text unless told otherwise.
NODE_VALUES_TYPED = (
    "?, ?, ?::integer, ?, ?::float8, ?::float8, ?::json, ?::integer, ?::integer, ?, ?::boolean, "
    "?, ?::json, ?::json, ?::json"
)
FENCE_CONDITION = "AND NOT EXISTS (SELECT 1 FROM leases WHERE execution_id = ? AND fence <> ?)"
# Only a stored execution is leased (``?3`` its id).
LEASE_ACQUIRE = """
INSERT INTO leases (execution_id, owner, fence, expires_at)
SELECT id, ?, 1, ?::float8 FROM executions WHERE id = ?
ON CONFLICT (execution_id) DO UPDATE SET
  owner = excluded.owner, fence = leases.fence + 1, expires_at = excluded.expires_at
WHERE leases.owner = excluded.owner OR leases.expires_at <= ?
RETURNING fence
"""
# A released lease keeps its row (owner NULL), so the next owner's fence still grows.
LEASE_RENEW = "UPDATE leases SET expires_at = ? WHERE execution_id = ? AND owner = ? AND fence = ?"
LEASE_RELEASE = (
    "UPDATE leases SET owner = NULL, expires_at = 0 WHERE execution_id = ? AND owner = ? "
    "AND fence = ?"
)
RECOVERABLE = """
SELECT e.id FROM executions e LEFT JOIN leases l ON l.execution_id = e.id
WHERE e.status IN ('running', 'paused') AND (l.execution_id IS NULL OR l.expires_at <= ?)
ORDER BY e.created_at
"""
CHILD_TABLES = ("node_executions", "logs", "events", "leases")
EXECUTION_EXISTS = "SELECT 1 FROM executions WHERE id = ?"

LOG_INSERT = (
    "INSERT INTO logs (execution_id, timestamp, level, message, node_id, data) "
    "VALUES (%s, %s, %s, %s, %s, %s)"
)
EVENT_UPSERT = (
    "INSERT INTO events VALUES (%s, %s, %s) ON CONFLICT (execution_id, sequence) "
    "DO UPDATE SET data = excluded.data"
)
NODE_UPSERT = pg(_NODE_UPSERT.format(values=NODE_VALUES_TYPED, fence=""))

# save_progress's writes with a fence check in each statement. The lease row is share-locked
# first, so no takeover can commit meanwhile and every statement sees the same fence.
LEASE_FENCE = "SELECT fence FROM leases WHERE execution_id = %s FOR SHARE"
_FENCED = " WHERE NOT EXISTS (SELECT 1 FROM leases WHERE execution_id = %s AND fence <> %s)"
NODE_UPSERT_FENCED = pg(_NODE_UPSERT.format(values=NODE_VALUES_TYPED, fence=FENCE_CONDITION))
LOG_INSERT_FENCED = (
    "INSERT INTO logs (execution_id, timestamp, level, message, node_id, data) "
    "SELECT %s, %s::float8, %s, %s, %s, %s::json" + _FENCED
)
EVENT_UPSERT_FENCED = (
    "INSERT INTO events SELECT %s, %s::integer, %s::json" + _FENCED
    + " ON CONFLICT (execution_id, sequence) DO UPDATE SET data = excluded.data"
)  # fmt: skip

TRANSITION = (
    "UPDATE executions SET status = ?, started_at = COALESCE(?, started_at), "
    "finished_at = COALESCE(?, finished_at), cancelled_at = COALESCE(?, cancelled_at), "
    "error = COALESCE(?::json, error), outputs = COALESCE(?::json, outputs) "
    "WHERE id = ? AND status = ANY(?)"
)
# pg_notify in the statement itself: the notification goes out when the change commits, and
# only when a row changed.
TRANSITION_NOTIFIED = (
    f"WITH changed AS ({TRANSITION} RETURNING id) SELECT pg_notify(?, id) FROM changed"
)
# A cancel and a resume are what the process running an execution must hear of; the other
# changes (pausing, ending) are that process's own writes. PostgreSQL serialises the commits
# that NOTIFY database-wide, so they stay off the path of every execution that ends.
NOTIFIED = frozenset({ExecutionStatus.CANCELLED, ExecutionStatus.RUNNING})
