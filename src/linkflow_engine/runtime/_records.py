"""The execution record: what an execution did, node by node, in the spec's Execution Object shape.

Records are mutable while the execution runs (one writer: the executor that holds the lease) and
are what storage persists. Timestamps are epoch seconds (floats) inside, ISO-8601 UTC on the wire,
so the hot path never formats a date nobody reads.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:
    from ..graph import Workflow

__all__ = [
    "Execution",
    "ExecutionError",
    "ExecutionMode",
    "ExecutionStatus",
    "LogEntry",
    "NodeExecution",
    "NodeStatus",
    "format_timestamp",
    "parse_timestamp",
]


class ExecutionStatus(enum.StrEnum):
    """The statuses of an execution; the last three are terminal."""

    PENDING = "pending"
    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        return self in _TERMINAL


_TERMINAL = frozenset(
    {ExecutionStatus.COMPLETED, ExecutionStatus.FAILED, ExecutionStatus.CANCELLED}
)


class NodeStatus(enum.StrEnum):
    """The statuses of one node run."""

    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    SKIPPED = "skipped"


class ExecutionMode(enum.StrEnum):
    """How an execution was started."""

    MANUAL = "manual"
    SCHEDULE = "schedule"
    WEBHOOK = "webhook"
    API = "api"
    REPLAY = "replay"


def format_timestamp(ts: float | None) -> str | None:
    """Epoch seconds as ISO-8601 UTC with milliseconds and a ``Z``, as the spec writes them."""
    if ts is None:
        return None
    second = int(ts // 1)
    micros = round((ts - second) * 1_000_000)  # as datetime rounds, then truncate to ms
    if micros == 1_000_000:
        second, micros = second + 1, 0
    millis = micros // 1000
    # Every event and log line carries a timestamp: format each second once, not each call.
    prefix = _second_prefix.get(second)
    if prefix is None:
        if len(_second_prefix) > 64:
            _second_prefix.clear()
        prefix = _second_prefix[second] = datetime.fromtimestamp(second, UTC).strftime(
            "%Y-%m-%dT%H:%M:%S"
        )
    return f"{prefix}.{millis:03d}Z"


_second_prefix: dict[int, str] = {}


def parse_timestamp(text: str | None) -> float | None:
    """The inverse of :func:`format_timestamp` (accepts any ISO-8601 form)."""
    if text is None:
        return None
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


@attrs.frozen(kw_only=True)
class ExecutionError:
    """Why a node or an execution failed: ``{message, nodeId, nodeName, code, details}``."""

    message: str
    code: str = "NODE_ERROR"
    node_id: str | None = None
    node_name: str | None = None
    details: Any = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "message": self.message,
            "nodeId": self.node_id,
            "nodeName": self.node_name,
            "code": self.code,
            "details": self.details,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ExecutionError:
        return cls(
            message=data["message"],
            code=data.get("code", "NODE_ERROR"),
            node_id=data.get("nodeId"),
            node_name=data.get("nodeName"),
            details=data.get("details"),
        )


@attrs.define(kw_only=True)
class NodeExecution:
    """One run of one node (a node inside a loop runs once per iteration)."""

    node_id: str
    node_name: str
    sequence: int
    status: NodeStatus = NodeStatus.PENDING
    started_at: float | None = None
    finished_at: float | None = None
    input: Any = None
    output: Any = None
    error: ExecutionError | None = None
    attempts: int = 0
    iteration: int | None = None
    port: str | None = None
    reused: bool = False
    source_execution_id: str | None = None
    timers: list[float] | None = None
    """When the durable sleeps of the run end (epoch seconds), in the order the node began
    them: a run taken up again after a crash sleeps until these, not afresh (storage keeps
    them; records and the API do not show them)."""

    @property
    def duration(self) -> int | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return round((self.finished_at - self.started_at) * 1000)

    def to_dict(self, *, include_data: bool = True) -> dict[str, Any]:
        data: dict[str, Any] = {
            "nodeId": self.node_id,
            "nodeName": self.node_name,
            "status": self.status.value,
            "startedAt": format_timestamp(self.started_at),
            "finishedAt": format_timestamp(self.finished_at),
        }
        if include_data:
            data["input"] = self.input
            data["output"] = self.output
        data["error"] = self.error.to_dict() if self.error else None
        if self.port is not None:
            data["port"] = self.port
        data["sequence"] = self.sequence
        data["attempts"] = self.attempts
        if self.iteration is not None:
            data["iteration"] = self.iteration
        if self.reused:
            data["reused"] = True
            data["sourceExecutionId"] = self.source_execution_id
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NodeExecution:
        error = data.get("error")
        return cls(
            node_id=data["nodeId"],
            node_name=data["nodeName"],
            sequence=data.get("sequence", 0),
            status=NodeStatus(data["status"]),
            started_at=parse_timestamp(data.get("startedAt")),
            finished_at=parse_timestamp(data.get("finishedAt")),
            input=data.get("input"),
            output=data.get("output"),
            error=ExecutionError.from_dict(error) if error else None,
            attempts=data.get("attempts", 0),
            iteration=data.get("iteration"),
            port=data.get("port"),
            reused=data.get("reused", False),
            source_execution_id=data.get("sourceExecutionId"),
        )


@attrs.define(kw_only=True)
class LogEntry:
    """One line of an execution's log: ``{timestamp, level, message, nodeId}`` plus ``data``."""

    timestamp: float
    level: str
    message: str
    node_id: str | None = None
    data: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "timestamp": format_timestamp(self.timestamp),
            "level": self.level,
            "message": self.message,
            "nodeId": self.node_id,
        }
        if self.data:
            entry["data"] = self.data
        return entry

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LogEntry:
        return cls(
            timestamp=parse_timestamp(data["timestamp"]) or 0.0,
            level=data["level"],
            message=data["message"],
            node_id=data.get("nodeId"),
            data=data.get("data"),
        )


@attrs.define(kw_only=True, eq=False)
class Execution:
    """An execution record: the spec's Execution Object plus ``outputs``, ``nodeCount`` and logs."""

    id: str
    workflow_id: str | None
    workflow_name: str | None
    status: ExecutionStatus
    mode: ExecutionMode
    workflow: Workflow | None = None
    input_data: Any = None
    options: dict[str, Any] = attrs.Factory(dict)
    created_at: float = 0.0
    started_at: float | None = None
    finished_at: float | None = None
    cancelled_at: float | None = None
    node_executions: list[NodeExecution] = attrs.Factory(list)
    error: ExecutionError | None = None
    outputs: dict[str, Any] = attrs.Factory(dict)
    retry_count: int = 0
    original_execution_id: str | None = None
    triggered_by: str | None = None
    logs: list[LogEntry] = attrs.Factory(list)

    @property
    def duration(self) -> int | None:
        """Milliseconds from start to finish (``None`` while unfinished)."""
        if self.started_at is None or self.finished_at is None:
            return None
        return round((self.finished_at - self.started_at) * 1000)

    @property
    def node_count(self) -> int:
        """How many node runs actually ran (reused and skipped ones do not count)."""
        return sum(
            1
            for n in self.node_executions
            if not n.reused and n.status in (NodeStatus.COMPLETED, NodeStatus.FAILED)
        )

    def node(self, node_id: str) -> NodeExecution:
        """The latest run of ``node_id`` in this execution (``KeyError`` if it has none)."""
        for run in reversed(self.node_executions):
            if run.node_id == node_id:
                return run
        raise KeyError(node_id)

    def summary_dict(self) -> dict[str, Any]:
        """The list form: no node data, no logs."""
        return {
            "id": self.id,
            "workflowId": self.workflow_id,
            "workflowName": self.workflow_name,
            "status": self.status.value,
            "mode": self.mode.value,
            "startedAt": format_timestamp(self.started_at),
            "finishedAt": format_timestamp(self.finished_at),
            "duration": self.duration,
        }

    def to_dict(self, *, include_data: bool = True) -> dict[str, Any]:
        """The spec's Execution Object; ``include_data=False`` leaves out node input/output."""
        data = self.summary_dict()
        if self.cancelled_at is not None:
            data["cancelledAt"] = format_timestamp(self.cancelled_at)
        data["nodeExecutions"] = [
            n.to_dict(include_data=include_data) for n in self.node_executions
        ]
        data["error"] = self.error.to_dict() if self.error else None
        data["retryCount"] = self.retry_count
        data["triggeredBy"] = self.triggered_by
        if self.original_execution_id is not None:
            data["originalExecutionId"] = self.original_execution_id
        data["outputs"] = self.outputs if include_data else None
        data["nodeCount"] = self.node_count
        data["logs"] = [entry.to_dict() for entry in self.logs]
        return data
