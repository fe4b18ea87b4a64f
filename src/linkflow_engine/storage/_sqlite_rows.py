"""Rows of the SQLite backend to records and back: its JSON columns decoded by hand (SQLite keeps
them as text), node rows carrying their events, events stored in a compact form, and the keys
of stored workflow snapshots. The mapping both backends share is in :mod:`._sql`.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Sequence
from typing import Any

from ..events import EventRecord
from ..runtime._records import Execution, NodeExecution, NodeStatus
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
    "node_row",
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


def node_row(execution_id: str, node: NodeExecution, events: str | None) -> tuple[Any, ...]:
    """The parameters of ``NODE_PUT_UNFENCED`` (and, with the fence after them, the fenced one):
    :func:`._sql.node_params` built in one go, once per settled node.

    Every value is a plain ``str``, ``int`` or ``float``: sqlite3 binds those directly but
    looks up an adapter for anything else (None, a bool, a StrEnum member), ~0.3 µs each. So
    the status is its text, ``reused`` a number, and the fields that are usually None (error,
    iteration, source execution, events) go in as ``''`` or ``-1``, which the statement turns
    back into NULL (see ``_NODE_PUT``)."""
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
    )


def event_batch(execution_id: str, events: Sequence[EventRecord], text: str) -> tuple[Any, ...]:
    sequences = [record[1] for record in events]
    return (execution_id, min(sequences), max(sequences), text)


def event_text(events: Sequence[EventRecord]) -> str:
    """A batch of events as stored: their records, ``[type, sequence, timestamp, payload]``
    each (what every event of an execution shares, its ids, is left out)."""
    return _sql.dump(list(events))
