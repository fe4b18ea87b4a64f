"""Rows of the SQLite backend to records and back: its JSON columns decoded by hand (SQLite keeps
them as text), node rows carrying their events and log lines, events stored in a compact form,
log lines placed by their events' numbers, and the keys of stored workflow snapshots. The
mapping both backends share is in :mod:`._sql`.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Sequence
from typing import Any

from ..events import EventRecord, ExecutionLogged
from ..runtime._records import Execution, LogEntry, NodeExecution, NodeStatus
from . import _sql

__all__ = [
    "EXECUTION_JSON",
    "LOG_JSON",
    "NODE_DATA_JSON",
    "NODE_JSON",
    "decoded",
    "event_batch",
    "event_text",
    "execution_of",
    "load",
    "log_orders",
    "logs_of",
    "node_row",
    "row_logs",
    "snapshot_key",
]

# Indexes of the JSON columns in the rows of each kind of query.
EXECUTION_JSON = (9, 13)
NODE_JSON = (6,)
NODE_DATA_JSON = (6, 12, 13, 14)
LOG_JSON = (4,)


@functools.lru_cache(maxsize=256)
def snapshot_key(document: str) -> str:
    """The key of a snapshot: a digest of its text (the same text is one stored document)."""
    return hashlib.blake2b(document.encode(), digest_size=16).hexdigest()


def load(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def decoded(row: Sequence[Any], json_indexes: Sequence[int]) -> list[Any]:
    values = list(row)
    for index in json_indexes:
        values[index] = load(values[index])
    return values


def execution_of(row: Sequence[Any]) -> Execution:
    return _sql.execution_of(decoded(row[:14], EXECUTION_JSON))


_STATUS_TEXT = {status: status.value for status in NodeStatus}


def node_row(
    execution_id: str, node: NodeExecution, events: str | None, logs: str | None = None
) -> tuple[Any, ...]:
    """The parameters of ``NODE_PUT_UNFENCED`` (and, with the fence after them, the fenced one):
    :func:`._sql.node_params` built in one go, once per settled node.

    Every value is a plain ``str``, ``int`` or ``float``: sqlite3 binds those directly but
    looks up an adapter for anything else (None, a bool, a StrEnum member), ~0.3 µs each. So
    the status is its text, ``reused`` a number, and the fields that are usually None (error,
    iteration, source execution, events, log lines) go in as ``''`` or ``-1``, which the
    statement turns back into NULL (see ``_NODE_PUT``)."""
    error, data_in, data_out, timers = node.error, node.input, node.output, node.timers
    iteration, source = node.iteration, node.source_execution_id
    return (
        node.node_id,
        node.node_name,
        node.sequence,
        _STATUS_TEXT[node.status],
        node.started_at,
        node.finished_at,
        "" if error is None else _sql.dump(error.to_dict()),
        node.attempts,
        -1 if iteration is None else iteration,
        node.port,
        1 if node.reused else 0,
        "" if source is None else source,
        None if data_in is None else _sql.dump(data_in),
        None if data_out is None else _sql.dump(data_out),
        execution_id,
        "" if events is None else events,
        "" if timers is None else _sql.dump(timers),
        "" if logs is None else logs,
    )


def event_batch(
    execution_id: str, events: Sequence[EventRecord], text: str, logs: str | None = None
) -> tuple[Any, ...]:
    sequences = [record[1] for record in events]
    return (execution_id, min(sequences), max(sequences), text, logs)


def event_text(events: Sequence[EventRecord]) -> str:
    """A batch of events as stored: their records, ``[type, sequence, timestamp, payload]``
    each (what every event of an execution shares, its ids, is left out)."""
    return _sql.dump(list(events))


# -- log lines -------------------------------------------------------------------------------
#
# Each stored log line has its place in the execution's log, its *order*. A line the executor
# wrote takes the sequence number of its ``execution.log`` event, which the same write carries:
# later lines always have greater numbers, also when another process takes the execution over
# (its events go on from the last one stored), so no writer reads the log to place a line. Such
# lines ride in the row the write writes, a node run's or its event batch's (``logs``), as
# its events do: one statement and one b-tree page instead of a transaction over two tables
# (measured on the W3 chain: 6-10% of a durable node's cost). A line written without its event
# (a callback's attempt, appended after the end) goes to the logs table, keyed from
# ``APPENDED`` on, after every line written with its event; so do, first, the lines stored
# before schema version 9 (keyed 1, 2, ...).

_LOGGED = ExecutionLogged.type


def log_orders(logs: Sequence[LogEntry], events: Sequence[EventRecord]) -> list[int] | None:
    """The order of each of ``logs``: the sequence number of its ``execution.log`` event
    among ``events`` (the n-th such event is the n-th line's, as the executor writes them,
    and bears the line's time). None when they do not pair up so."""
    if not logs:
        return []
    logged = [record for record in events if record[0] == _LOGGED]
    if len(logged) != len(logs):
        return None
    if any(entry.timestamp != record[2] for entry, record in zip(logs, logged, strict=True)):
        return None
    return [record[1] for record in logged]


def row_logs(logs: Sequence[LogEntry], orders: Sequence[int]) -> str | None:
    """Log lines as a row keeps them: a JSON array of ``[order, timestamp, level, message,
    node id, data]`` (None for no lines)."""
    if not logs:
        return None
    return _sql.dump(
        [
            [order, e.timestamp, e.level, e.message, e.node_id, e.data]
            for order, e in zip(orders, logs, strict=True)
        ]
    )


def logs_of(rows: Sequence[Sequence[Any]]) -> list[LogEntry]:
    """An execution's log, in order, from ``rows`` of LOG_READ: a logs table row (its order,
    then ``_sql.LOG_COLUMNS``) or, in its last column, the ``logs`` of a row that carries
    lines."""
    lines: list[tuple[int, LogEntry]] = []
    for *table_row, carried in rows:
        if carried is None:
            lines.append((table_row[0], _sql.log_of(decoded(table_row[1:], LOG_JSON))))
            continue
        for order, timestamp, level, message, node_id, data in json.loads(carried):
            entry = LogEntry(
                timestamp=timestamp, level=level, message=message, node_id=node_id, data=data
            )
            lines.append((order, entry))
    lines.sort(key=lambda line: line[0])
    return [entry for _, entry in lines]
