"""The runtime: the engine, the executor and the execution records."""

from __future__ import annotations

from ._engine import Engine
from ._records import (
    Execution,
    ExecutionError,
    ExecutionMode,
    ExecutionStatus,
    LogEntry,
    NodeExecution,
    NodeStatus,
)

__all__ = [
    "Engine",
    "Execution",
    "ExecutionError",
    "ExecutionMode",
    "ExecutionStatus",
    "LogEntry",
    "NodeExecution",
    "NodeStatus",
]
