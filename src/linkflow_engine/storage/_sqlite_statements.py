"""The SQLite backend's own statements: how an execution, its snapshot, its status, its lease and
its progress are written in SQLite's dialect (the statements both backends accept are in
:mod:`._sql`).

An execution's rows are keyed by its number (``executions.num``, see migration 6 of
:mod:`._sqlite_schema`): its node runs, log lines and event batches live in rowid tables under
the keys ``num * 2**32 + position``, so every statement that writes one finds the number, and
checks the lease's fence, in the execution's row it reads anyway.
"""

from __future__ import annotations

from . import _sql

__all__ = [
    "APPENDED",
    "DELIVERY_PUT",
    "EVENT_INSERT",
    "EXECUTION_INSERT",
    "EXECUTION_INSERT_SHARING",
    "FINISH",
    "KEY_BITS",
    "KEY_SPAN",
    "LEASE_ACQUIRE",
    "LEASE_RELEASE",
    "LEASE_RENEW",
    "LOG_APPEND",
    "LOG_READ",
    "NODE_PUT_FENCED",
    "NODE_PUT_UNFENCED",
    "RECOVERABLE",
    "SNAPSHOT_INSERT",
    "TRANSITION",
    "keys_of",
]

KEY_BITS = 32
KEY_SPAN = 1 << KEY_BITS
"""The keys of one execution's rows: ``num * KEY_SPAN`` up to (not including) the next one's."""
APPENDED = 1 << 31
"""Where, among an execution's keys in the logs table, the lines written without their events
begin (see LOG_APPEND)."""


def keys_of(num: str, key: str = "key") -> str:
    """SQL: ``key`` is one of the keys of the execution numbered ``num`` (both SQL terms)."""
    return f"{key} >= {num} << {KEY_BITS} AND {key} < ({num} + 1) << {KEY_BITS}"


# A webhook callback delivery (the fields of _sql.delivery_params), inserted or replaced by id.
DELIVERY_PUT = "INSERT OR REPLACE INTO webhook_deliveries VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
# Executions refer to their workflow snapshot by key (see migration 5).
SNAPSHOT_INSERT = "INSERT INTO snapshots VALUES (?, ?) ON CONFLICT DO NOTHING"
# An execution, holding its lease from the start when the last three values say so.
EXECUTION_INSERT = (
    f"INSERT INTO executions ({_sql.EXECUTION_COLUMNS}, input_data, workflow, outputs, snapshot, "
    "lease_owner, fence, lease_expires) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
# The same, when the snapshot it refers to (the last ``?``) is stored.
EXECUTION_INSERT_SHARING = (
    f"INSERT INTO executions ({_sql.EXECUTION_COLUMNS}, input_data, workflow, outputs, snapshot, "
    "lease_owner, fence, lease_expires) "
    "SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ? "
    "WHERE EXISTS (SELECT 1 FROM snapshots WHERE key = ?)"
)
# A status change from one of the ``{allowed}`` statuses (one ``?`` each).
TRANSITION = (
    "UPDATE executions SET status = ?, started_at = COALESCE(?, started_at), "
    "finished_at = COALESCE(?, finished_at), cancelled_at = COALESCE(?, cancelled_at), "
    "error = COALESCE(?, error), outputs = COALESCE(?, outputs) "
    "WHERE id = ? AND status IN ({allowed})"
)

# The end of an execution in one of the ``{allowed}`` statuses (the ``?`` after ``?8``), under
# the writer's fence when ``{fence}`` is `` AND fence = ?``: ``?1``-``?5`` the final status,
# finish time, cancel time, error and outputs, ``?6`` its id. The lease of owner ``?7`` with
# fence ``?8`` (NULL for none) is released in the same row write; SET reads the row as it was.
FINISH = """
UPDATE executions SET status = ?1, finished_at = ?2, cancelled_at = COALESCE(?3, cancelled_at),
  error = COALESCE(?4, error), outputs = COALESCE(?5, outputs),
  lease_owner = CASE WHEN lease_owner = ?7 AND fence = ?8 THEN NULL ELSE lease_owner END,
  lease_expires = CASE WHEN lease_owner = ?7 AND fence = ?8 THEN 0 ELSE lease_expires END
WHERE id = ?6 AND status IN ({allowed}){fence}
"""

# The write of a node run (``?1``-``?14`` its fields, ``?15`` the execution's id, ``?16`` the
# events of the write, ``?17`` its timers, ``?18`` the log lines of the write, ``?19`` the
# fence): each write's events are one JSON array, appended to the row's ``events`` as a line;
# its log lines (see _sqlite_rows.row_logs) join the row's ``logs`` array. With a stale fence,
# or no such execution, nothing is written. The error, iteration, source execution, events,
# timers and log lines come as '' or -1 for NULL (see node_row).
_NODE_PUT = f"""
INSERT INTO node_executions (key, {_sql.NODE_DATA_COLUMNS}, events, logs)
SELECT (num << {KEY_BITS}) + ?3, ?1, ?2, ?3, ?4, ?5, ?6, NULLIF(?7, ''), ?8, NULLIF(?9, -1),
  ?10, ?11, NULLIF(?12, ''), ?13, ?14, NULLIF(?17, ''), NULLIF(?16, ''), NULLIF(?18, '')
FROM executions WHERE id = ?15 {{fence}}
ON CONFLICT (key) DO UPDATE SET
  node_id = excluded.node_id, node_name = excluded.node_name, status = excluded.status,
  started_at = excluded.started_at, finished_at = excluded.finished_at, error = excluded.error,
  attempts = excluded.attempts, iteration = excluded.iteration, port = excluded.port,
  reused = excluded.reused, source_execution_id = excluded.source_execution_id,
  input = excluded.input, output = excluded.output, timers = excluded.timers,
  events = CASE WHEN node_executions.events IS NULL THEN excluded.events
    WHEN excluded.events IS NULL THEN node_executions.events
    ELSE node_executions.events || char(10) || excluded.events END,
  logs = CASE WHEN node_executions.logs IS NULL THEN excluded.logs
    WHEN excluded.logs IS NULL THEN node_executions.logs
    ELSE substr(node_executions.logs, 1, length(node_executions.logs) - 1) || ','
      || substr(excluded.logs, 2) END
"""
NODE_PUT_UNFENCED = _NODE_PUT.format(fence="")
NODE_PUT_FENCED = _NODE_PUT.format(fence="AND fence = ?19")
# A log line written without its event (``?1`` the execution's id, then the fields of
# _sql.log_params), after every such line: those are keyed from APPENDED on, after the places
# of the lines written with their events (their events' numbers, see _sqlite_rows.log_orders).
LOG_APPEND = f"""
INSERT INTO logs (key, timestamp, level, message, node_id, data)
SELECT COALESCE((SELECT key FROM logs WHERE key >= (num << {KEY_BITS}) + {APPENDED}
  AND key < (num + 1) << {KEY_BITS} ORDER BY key DESC LIMIT 1),
  (num << {KEY_BITS}) + {APPENDED}) + 1, ?2, ?3, ?4, ?5, ?6
FROM executions WHERE id = ?1
"""
# An execution's log lines (``?1``/``?2`` the range of its keys), in one statement (one
# snapshot): each row of the logs table with its order (its key's offset) and NULL last, then
# the ``logs`` of each node run and event batch that carries lines, in the last column.
LOG_READ = f"""
SELECT key - ?1, {_sql.LOG_COLUMNS}, NULL FROM logs WHERE key >= ?1 AND key < ?2
UNION ALL SELECT NULL, NULL, NULL, NULL, NULL, NULL, logs FROM node_executions
  WHERE key >= ?1 AND key < ?2 AND logs IS NOT NULL
UNION ALL SELECT NULL, NULL, NULL, NULL, NULL, NULL, logs FROM events
  WHERE key >= ?1 AND key < ?2 AND logs IS NOT NULL
"""
# A batch of events: ``?1`` the execution's id, ``?2``/``?3`` its first and last sequence,
# ``?4`` the events, ``?5`` the log lines of the write (see _sqlite_rows.row_logs) or NULL.
# A batch written again (the same first sequence) replaces its events and keeps its lines.
EVENT_INSERT = f"""
INSERT INTO events (key, last_sequence, data, logs)
SELECT (num << {KEY_BITS}) + ?2, ?3, ?4, ?5 FROM executions WHERE id = ?1
ON CONFLICT (key) DO UPDATE SET last_sequence = excluded.last_sequence, data = excluded.data,
  logs = COALESCE(excluded.logs, events.logs)
"""

# A released lease keeps the fence (owner NULL), so the next owner's fence still grows.
LEASE_ACQUIRE = """
UPDATE executions SET lease_owner = ?1, fence = fence + 1, lease_expires = ?2
WHERE id = ?3 AND (lease_owner = ?1 OR COALESCE(lease_expires, 0) <= ?4)
RETURNING fence
"""
LEASE_RENEW = (
    "UPDATE executions SET lease_expires = ? WHERE id = ? AND lease_owner = ? AND fence = ?"
)
LEASE_RELEASE = (
    "UPDATE executions SET lease_owner = NULL, lease_expires = 0 "
    "WHERE id = ? AND lease_owner = ? AND fence = ?"
)
RECOVERABLE = """
SELECT id FROM executions
WHERE status IN ('running', 'paused') AND COALESCE(lease_expires, 0) <= ?
ORDER BY created_at
"""
