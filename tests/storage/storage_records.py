"""Records for the storage contract tests: small, complete and easy to compare."""

from __future__ import annotations

import os
from typing import Any

import attrs

from linkflow_engine.events import Event, EventRecord, ExecutionLogged, NodeCompleted
from linkflow_engine.graph import Workflow
from linkflow_engine.runtime._records import (
    Execution,
    ExecutionError,
    ExecutionMode,
    ExecutionStatus,
    LogEntry,
    NodeExecution,
    NodeStatus,
)

POSTGRES_DSN = os.environ.get(
    "LINKFLOW_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test"
)
T0 = 1_750_000_000.0  # 2025-06-15T15:06:40Z
DAY = 86400.0


def make_workflow(workflow_id: str | None = "wf-1", **fields: Any) -> Workflow:
    """A two-node workflow document (trigger -> noop) as a Workflow."""
    doc = {
        "id": workflow_id,
        "name": fields.pop("name", "Two steps"),
        "nodes": [
            {"id": "start", "type": "manual_trigger", "name": "Start", "config": {}},
            {"id": "step", "type": "noop", "name": "Step", "config": {"b": 1, "a": [1, "x"]}},
        ],
        "connections": [{"source": "start", "target": "step"}],
        **fields,
    }
    if workflow_id is None:
        del doc["id"]
    return Workflow.from_dict(doc)


def make_execution(
    execution_id: str = "ex-1",
    *,
    workflow_id: str | None = "wf-1",
    status: ExecutionStatus = ExecutionStatus.RUNNING,
    mode: ExecutionMode = ExecutionMode.MANUAL,
    created_at: float = T0,
    **fields: Any,
) -> Execution:
    """An execution with a workflow snapshot; started one second after creation."""
    fields.setdefault("started_at", created_at + 1.0)
    fields.setdefault("input_data", {"customer": "ada", "n": 3})
    fields.setdefault("options", {"debug": False, "breakpoints": ["step"]})
    return Execution(
        id=execution_id,
        workflow_id=workflow_id,
        workflow_name="Two steps",
        status=status,
        mode=mode,
        workflow=make_workflow(workflow_id),
        created_at=created_at,
        **fields,
    )


def make_finished(
    execution_id: str, status: ExecutionStatus, created_at: float, seconds: float = 2.0, **kw: Any
) -> Execution:
    """A terminal execution that ran ``seconds`` from start to finish."""
    return make_execution(
        execution_id,
        status=status,
        created_at=created_at,
        started_at=created_at,
        finished_at=created_at + seconds,
        **kw,
    )


def make_node(sequence: int = 0, **fields: Any) -> NodeExecution:
    """A completed node run with input and output."""
    values: dict[str, Any] = {
        "node_id": "step",
        "node_name": "Step",
        "status": NodeStatus.COMPLETED,
        "started_at": T0 + 1.25,
        "finished_at": T0 + 1.5,
        "input": {"customer": "ada"},
        "output": {"total": 12.5, "items": [1, 2, None], "ok": True},
        "attempts": 1,
        "port": "output",
    }
    values.update(fields)
    return NodeExecution(sequence=sequence, **values)


def make_log(message: str = "hello", timestamp: float = T0 + 2) -> LogEntry:
    return LogEntry(
        timestamp=timestamp, level="info", message=message, node_id="step", data={"k": [1]}
    )


def logged(entry: LogEntry, sequence: int) -> EventRecord:
    """The ``execution.log`` event the executor publishes with a log line, as storage keeps
    it: numbered ``sequence``, bearing the line's time."""
    return (ExecutionLogged.type, sequence, entry.timestamp, entry.to_dict())


def make_event(
    sequence: int, execution_id: str = "ex-1", workflow_id: str | None = "wf-1"
) -> Event:
    """A node.completed event with a payload that JSON must escape."""
    return NodeCompleted(
        execution_id=execution_id,
        workflow_id=workflow_id,
        sequence=sequence,
        timestamp=T0 + sequence + 0.123456,
        payload={"nodeId": "step", "output": {"n": sequence, "text": "a\nb"}},
    )


def failure() -> ExecutionError:
    return ExecutionError(
        message="boom", code="HTTP_ERROR", node_id="step", node_name="Step", details={"s": 500}
    )


def execution_fields(execution: Execution) -> dict[str, Any]:
    """Every field of an execution, in a form that compares by value (the workflow as its
    document, since Execution compares by identity)."""
    values = attrs.asdict(execution, recurse=False)
    workflow = values.pop("workflow")
    values["workflow"] = workflow.to_dict() if workflow is not None else None
    return values
