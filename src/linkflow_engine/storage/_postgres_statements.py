"""The PostgreSQL backend's own statements: the progress writes of a running execution (plain, and
with the lease's fence checked by each statement) and status transitions (notified when another
process must hear of them), in psycopg's ``%s`` style. The statements both backends accept are in
:mod:`._sql`; :func:`pg` turns them into this style.
"""

from __future__ import annotations

from ..runtime._records import ExecutionStatus
from . import _sql

__all__ = [
    "EVENT_UPSERT",
    "EVENT_UPSERT_FENCED",
    "LEASE_FENCE",
    "LOG_INSERT",
    "LOG_INSERT_FENCED",
    "NODE_UPSERT",
    "NODE_UPSERT_FENCED",
    "NOTIFIED",
    "TRANSITION",
    "TRANSITION_NOTIFIED",
    "pg",
]


def pg(sql: str) -> str:
    """The shared ``?``-placeholder statements in psycopg's ``%s`` style."""
    return sql.replace("?", "%s")


LOG_INSERT = (
    "INSERT INTO logs (execution_id, timestamp, level, message, node_id, data) "
    "VALUES (%s, %s, %s, %s, %s, %s)"
)
EVENT_UPSERT = (
    "INSERT INTO events VALUES (%s, %s, %s) ON CONFLICT (execution_id, sequence) "
    "DO UPDATE SET data = excluded.data"
)
NODE_UPSERT = pg(_sql.NODE_UPSERT.format(values=_sql.NODE_VALUES_TYPED, fence=""))

# save_progress's writes with a fence check in each statement. The lease row is share-locked
# first, so no takeover can commit meanwhile and every statement sees the same fence.
LEASE_FENCE = "SELECT fence FROM leases WHERE execution_id = %s FOR SHARE"
_FENCED = " WHERE NOT EXISTS (SELECT 1 FROM leases WHERE execution_id = %s AND fence <> %s)"
NODE_UPSERT_FENCED = pg(
    _sql.NODE_UPSERT.format(values=_sql.NODE_VALUES_TYPED, fence=_sql.FENCE_CONDITION)
)
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
