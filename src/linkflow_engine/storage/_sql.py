"""What the SQL backends share: the statements that both dialects accept, and the mapping between
rows and records.

Statements are written with ``?`` placeholders (SQLite's); the PostgreSQL backend turns them into
``%s``. Row tuples come back in the column order of the ``*_COLUMNS`` constants, with JSON
columns already decoded (by the SQLite backend, by psycopg natively), so one set of functions maps
rows of either database.
"""

from __future__ import annotations

import functools
import json
import math
import time
import weakref
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from .._exceptions import LeaseLostError, StorageError
from .._stored_values import dump as dump  # the JSON text of every stored value
from ..events import wire_form
from ..graph import Workflow
from ..runtime._records import (
    Execution,
    ExecutionError,
    ExecutionMode,
    ExecutionStatus,
    LogEntry,
    NodeExecution,
    NodeStatus,
)

if TYPE_CHECKING:
    from ..events import EventRecord
    from .base import ExecutionQuery

Row = Sequence[Any]

FINISHED = ("completed", "failed", "cancelled")
PERIOD_DAYS = {"day": 1, "week": 7, "month": 30}
DAY = 86400.0

# Payload-free columns first: a list or a metadata read never selects the ones after them.
EXECUTION_COLUMNS = (
    "id, workflow_id, workflow_name, status, mode, created_at, started_at, finished_at, "
    "cancelled_at, error, retry_count, original_execution_id, triggered_by, options"
)
EXECUTION_INSERT = (
    f"INSERT INTO executions ({EXECUTION_COLUMNS}, input_data, workflow, outputs) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
NODE_COLUMNS = (
    "node_id, node_name, sequence, status, started_at, finished_at, error, attempts, "
    "iteration, port, reused, source_execution_id"
)
NODE_DATA_COLUMNS = f"{NODE_COLUMNS}, input, output, timers"
LOG_COLUMNS = "timestamp, level, message, node_id, data"
DELIVERY_COLUMNS = "id, execution_id, url, body, attempts, next_attempt_at, status, last_error"
# Wire name of a delivery field -> its column.
DELIVERY_FIELDS = {
    "id": "id",
    "executionId": "execution_id",
    "url": "url",
    "body": "body",
    "attempts": "attempts",
    "nextAttemptAt": "next_attempt_at",
    "status": "status",
    "lastError": "last_error",
}

DELIVERIES_PRUNE = (
    "DELETE FROM webhook_deliveries WHERE status <> 'pending' AND NOT EXISTS "
    "(SELECT 1 FROM executions WHERE executions.id = webhook_deliveries.execution_id)"
)
"""Prune's last statement: the deliveries done (delivered or given up) whose execution is gone.
A pending one stays, to be delivered after its execution is gone; the next prune deletes it."""

STATS = """
SELECT {day} AS day, COUNT(*),
  SUM(CASE WHEN status = 'completed' THEN 1 ELSE 0 END),
  SUM(CASE WHEN status = 'failed' THEN 1 ELSE 0 END),
  SUM(CASE WHEN status = 'cancelled' THEN 1 ELSE 0 END),
  SUM(CASE WHEN {finished} THEN finished_at - started_at ELSE 0 END),
  SUM(CASE WHEN {finished} THEN 1 ELSE 0 END)
FROM executions WHERE created_at >= ? AND created_at <= ? {workflow}
GROUP BY day ORDER BY day
"""
STATS_FINISHED = (
    "status IN ('completed', 'failed', 'cancelled') AND started_at IS NOT NULL "
    "AND finished_at IS NOT NULL"
)
# Rank within each workflow, newest first; only finished executions are ever selected, and
# not one whose lease a run still holds (``{held}``, the backend's test of a ``ranked`` row,
# which has the executions' columns ``{lease}`` too; its last parameter the time): a run
# cancelled from elsewhere writes its end after the cancel.
PRUNE_CANDIDATES = """
SELECT id FROM (
  SELECT id, status, created_at, {lease}
    ROW_NUMBER() OVER (PARTITION BY workflow_id ORDER BY created_at DESC, id DESC) AS rank
  FROM executions
) ranked
WHERE status IN ('completed', 'failed', 'cancelled') AND ({condition}) AND NOT {held}
"""


# A schedule fire (workflow id, node id, slot in ms, execution id, recorded at), once per key.
FIRE_INSERT = "INSERT INTO schedule_fires VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"
# The latest slot recorded for a trigger (workflow id, node id), in ms: one step of the key.
FIRE_LAST = "SELECT MAX(scheduled_ms) FROM schedule_fires WHERE workflow_id = ? AND node_id = ?"


def fire_slot(scheduled_ms: int | None) -> float | None:
    """A recorded slot (ms) as epoch seconds."""
    return None if scheduled_ms is None else scheduled_ms / 1000


def fire_params(fire: tuple[str, str, float], execution_id: str | None) -> tuple[Any, ...]:
    workflow_id, node_id, scheduled_at = fire
    return (workflow_id, node_id, round(scheduled_at * 1000), execution_id, time.time())


@functools.lru_cache(maxsize=256)
def workflow_from_json(document: str) -> Workflow:
    """A stored workflow document as a :class:`Workflow`, parsed once per distinct text.

    Parsing checks the document against the JSON Schema, the dominant cost of running a stored
    workflow by id (measured through the HTTP adapter: ~45% of the server's CPU). A stored
    version's text never changes, and the same Workflow object also keeps the engine's
    validation and plan caches warm. Workflows are immutable, so sharing them is safe.
    """
    return Workflow.from_dict(json.loads(document))


def dump_optional(value: Any) -> str | None:
    return None if value is None else dump(value)


def check_schema_version(found: int, known: int, where: str) -> None:
    """Refuse a database written by a newer linkflow-engine before touching anything."""
    if found > known:
        raise StorageError(
            f"{where} has schema version {found}, newer than this linkflow-engine knows "
            f"(up to {known}); upgrade linkflow-engine to open it"
        )


def lost_lease(execution_id: str) -> LeaseLostError:
    """The error of a write whose fence is stale: another process has taken the execution over."""
    return LeaseLostError(f"execution {execution_id!r} is owned by another process (stale fence)")


# -- records -> parameters -----------------------------------------------------------------


_snapshots: weakref.WeakKeyDictionary[Workflow, str] = weakref.WeakKeyDictionary()


def snapshot_json(workflow: Workflow | None) -> str | None:
    """The workflow snapshot an execution stores, serialized once per Workflow object (every
    execution of a workflow stores the same text; to_dict + dump cost ~5% of a served run)."""
    if workflow is None:
        return None
    text = _snapshots.get(workflow)
    if text is None:
        text = _snapshots[workflow] = dump(workflow.to_dict())
    return text


def execution_params(execution: Execution) -> tuple[Any, ...]:
    return (
        execution.id,
        execution.workflow_id,
        execution.workflow_name,
        execution.status.value,
        execution.mode.value,
        execution.created_at,
        execution.started_at,
        execution.finished_at,
        execution.cancelled_at,
        error_json(execution.error),
        execution.retry_count,
        execution.original_execution_id,
        execution.triggered_by,
        dump(execution.options),
        dump_optional(execution.input_data),
        snapshot_json(execution.workflow),
        dump(execution.outputs),
    )


def node_params(execution_id: str, node: NodeExecution, fence: int | None) -> tuple[Any, ...]:
    params: tuple[Any, ...] = (
        node.node_id,
        node.node_name,
        node.sequence,
        node.status.value,
        node.started_at,
        node.finished_at,
        error_json(node.error),
        node.attempts,
        node.iteration,
        node.port,
        node.reused,
        node.source_execution_id,
        dump_optional(node.input),
        dump_optional(node.output),
        dump_optional(node.timers),
        execution_id,
    )
    return params if fence is None else (*params, execution_id, fence)


def event_params(execution_id: str, events: Iterable[EventRecord]) -> list[tuple[Any, ...]]:
    """Rows of the events table: each event's record (its wire form is made when read)."""
    return [(execution_id, record[1], dump(record)) for record in events]


def wire_event(
    item: Any, execution_id: str, workflow_id: str | None, runs: Mapping[int, NodeExecution]
) -> dict[str, Any]:
    """A stored event in its wire form: stored as its record, or (as databases of 0.1.0.dev0
    kept it) as the wire form itself. ``runs``: the node runs the events made from a run refer
    to (see :func:`runs_referred_to`)."""
    if isinstance(item, dict):
        return item
    try:
        return wire_form(item, execution_id, workflow_id, runs)
    except KeyError:
        raise StorageError(
            f"event {item[1]} of execution {execution_id!r} is made from node run {item[3]},"
            " which is not stored"
        ) from None


# A node run as events made from it need it (see events.RUN_PAYLOADS): all but its input.
RUN_COLUMNS = f"{NODE_COLUMNS}, NULL, output, NULL"


def runs_referred_to(items: Iterable[Any]) -> set[int]:
    """The sequence numbers of the node runs that stored events (records or, from databases of
    0.1.0.dev0, wire forms) are made from (see :data:`~linkflow_engine.events.EventRecord`)."""
    return {item[3] for item in items if not isinstance(item, dict) and type(item[3]) is int}


def log_params(execution_id: str, entries: Iterable[LogEntry]) -> list[tuple[Any, ...]]:
    return [
        (execution_id, e.timestamp, e.level, e.message, e.node_id, dump_optional(e.data))
        for e in entries
    ]


def delivery_params(delivery: dict[str, Any]) -> tuple[Any, ...]:
    return (
        delivery["id"],
        delivery["executionId"],
        delivery["url"],
        delivery["body"],
        delivery.get("attempts", 0),
        delivery["nextAttemptAt"],
        delivery.get("status", "pending"),
        delivery.get("lastError"),
    )


def delivery_assignments(fields: dict[str, Any]) -> tuple[str, list[Any]]:
    """``"col = ?, …"`` and its values for an update of delivery fields (ValueError if unknown)."""
    unknown = sorted(set(fields) - (DELIVERY_FIELDS.keys() - {"id"}))
    if unknown:
        raise ValueError(f"unknown delivery field(s): {', '.join(unknown)}")
    columns = ", ".join(f"{DELIVERY_FIELDS[name]} = ?" for name in fields)
    return columns, list(fields.values())


def error_json(error: ExecutionError | None) -> str | None:
    """An error as stored (JSON text), or None."""
    return None if error is None else dump(error.to_dict())


# -- rows -> records -----------------------------------------------------------------------


def execution_of(row: Row) -> Execution:
    """An execution from the ``EXECUTION_COLUMNS`` of a row (no data, no node runs)."""
    return Execution(
        id=row[0],
        workflow_id=row[1],
        workflow_name=row[2],
        status=ExecutionStatus(row[3]),
        mode=ExecutionMode(row[4]),
        created_at=row[5],
        started_at=row[6],
        finished_at=row[7],
        cancelled_at=row[8],
        error=_error_of(row[9]),
        retry_count=row[10],
        original_execution_id=row[11],
        triggered_by=row[12],
        options=row[13] or {},
    )


def node_of(row: Row) -> NodeExecution:
    """A node run from ``NODE_COLUMNS`` (plus ``input, output, timers`` when the row has them)."""
    with_data = len(row) > 12
    return NodeExecution(
        node_id=row[0],
        node_name=row[1],
        sequence=row[2],
        status=NodeStatus(row[3]),
        started_at=row[4],
        finished_at=row[5],
        error=_error_of(row[6]),
        attempts=row[7],
        iteration=row[8],
        port=row[9],
        reused=bool(row[10]),
        source_execution_id=row[11],
        input=row[12] if with_data else None,
        output=row[13] if with_data else None,
        timers=row[14] if with_data else None,
    )


def log_of(row: Row) -> LogEntry:
    return LogEntry(timestamp=row[0], level=row[1], message=row[2], node_id=row[3], data=row[4])


def delivery_of(row: Row) -> dict[str, Any]:
    return dict(zip(DELIVERY_FIELDS, row, strict=True))


def _error_of(value: Any) -> ExecutionError | None:
    return None if value is None else ExecutionError.from_dict(value)


# -- queries -------------------------------------------------------------------------------


def execution_filters(query: ExecutionQuery) -> tuple[str, list[Any]]:
    """The WHERE clause (possibly empty) and its values for a list query."""
    conditions: list[str] = []
    values: list[Any] = []
    for column, value, operator in (
        ("workflow_id", query.workflow_id, "="),
        ("status", query.status.value if query.status else None, "="),
        ("mode", query.mode.value if query.mode else None, "="),
        ("started_at", query.started_after, ">="),
        ("started_at", query.started_before, "<"),
    ):
        if value is not None:
            conditions.append(f"{column} {operator} ?")
            values.append(value)
    where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
    return where, values


def period_start(period: str, now: float) -> float:
    try:
        return now - PERIOD_DAYS[period] * DAY
    except KeyError:
        raise ValueError(f"period must be one of day, week, month, not {period!r}") from None


def day_ranges(start: float, end: float) -> list[tuple[int, float, float]]:
    """``(epoch day, low, high)`` half-open ranges covering ``[start, end]`` day by day."""
    ranges = []
    day = int(start // DAY)
    high_end = math.nextafter(end, math.inf)  # make the end itself part of the last range
    while day * DAY < high_end:
        ranges.append((day, max(start, day * DAY), min(high_end, (day + 1) * DAY)))
        day += 1
    return ranges


def prune_condition(
    older_than: float | None, keep_last_per_workflow: int | None
) -> tuple[str, list[Any]] | None:
    """The deletion condition of :meth:`Storage.prune` over the ranked executions, if any."""
    conditions: list[str] = []
    values: list[Any] = []
    if older_than is not None:
        conditions.append("created_at < ?")
        values.append(older_than)
    if keep_last_per_workflow is not None:
        conditions.append("rank > ?")
        values.append(keep_last_per_workflow)
    return (" OR ".join(conditions), values) if conditions else None


def pruned_before(now: float | None) -> float:
    """The time a prune checks leases against (see :meth:`Storage.prune`)."""
    return time.time() if now is None else now


def stats_from_days(rows: Iterable[Row]) -> dict[str, Any]:
    """The stats dictionary from per-day rows ``(epoch day, count, completed, failed,
    cancelled, sum of finished durations in s, finished count)`` (at most 31 rows)."""
    total = completed = failed = cancelled = finished = 0
    seconds = 0.0
    by_day = []
    for day, count, day_completed, day_failed, day_cancelled, day_seconds, day_finished in rows:
        # int()/float(): PostgreSQL sums integers as numeric (Decimal).
        total += int(count)
        completed += int(day_completed)
        failed += int(day_failed)
        cancelled += int(day_cancelled)
        seconds += float(day_seconds or 0.0)
        finished += int(day_finished)
        date = datetime.fromtimestamp(int(day) * DAY, UTC).date().isoformat()
        by_day.append({"date": date, "count": int(count), "failed": int(day_failed)})
    ended = completed + failed + cancelled
    return {
        "total": total,
        "completed": completed,
        "failed": failed,
        "cancelled": cancelled,
        "avgDuration": round(seconds / finished * 1000) if finished else 0,
        "successRate": round(completed / ended * 100, 1) if ended else 0.0,
        "byDay": by_day,
    }
