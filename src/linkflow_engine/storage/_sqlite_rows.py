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

from ..events import Event
from ..runtime._records import Execution, NodeExecution, format_timestamp
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
    "wire_event",
]

# Indexes of the JSON columns in the rows of each kind of query.
EXECUTION_JSON = (9, 13)
NODE_JSON = (6,)
NODE_DATA_JSON = (6, 12, 13)
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


def node_row(execution_id: str, node: NodeExecution, events: str | None) -> tuple[Any, ...]:
    """The parameters of ``NODE_PUT_UNFENCED`` (and, with the fence after them, the fenced one):
    :func:`._sql.node_params` built in one go, once per settled node. The status goes in as the
    StrEnum member, which sqlite3 binds as its text (``.value`` is a property costing ~0.5 µs)."""
    error, data_in, data_out = node.error, node.input, node.output
    return (
        node.node_id,
        node.node_name,
        node.sequence,
        node.status,
        node.started_at,
        node.finished_at,
        None if error is None else _sql.dump(error.to_dict()),
        node.attempts,
        node.iteration,
        node.port,
        node.reused,
        node.source_execution_id,
        None if data_in is None else _sql.dump(data_in),
        None if data_out is None else _sql.dump(data_out),
        execution_id,
        events,
    )


def event_batch(execution_id: str, events: Sequence[Event], text: str) -> tuple[Any, ...]:
    sequences = [event.sequence for event in events]
    return (execution_id, min(sequences), max(sequences), text)


def event_text(events: Sequence[Event]) -> str:
    """A batch of events as stored: ``[type, sequence, timestamp, payload]`` each. What every
    event of an execution shares (its ids) is left out and the timestamp stays a number, which
    halves what a node's progress write stores and skips building the wire form."""
    return _sql.dump([(e.type, e.sequence, e.timestamp, e.payload) for e in events])


def wire_event(item: Any, execution_id: str, workflow_id: str | None) -> dict[str, Any]:
    """A stored event in its wire form (databases of 0.1.0.dev0 kept the wire form itself)."""
    if isinstance(item, dict):
        return item
    kind, sequence, timestamp, payload = item
    return {
        "type": kind,
        "executionId": execution_id,
        "workflowId": workflow_id,
        "sequence": sequence,
        "timestamp": format_timestamp(timestamp),
        "payload": payload,
    }
