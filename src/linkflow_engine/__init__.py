"""linkflow-engine: an embeddable workflow engine that runs LinkFlow workflows in-process.

>>> from linkflow_engine import run_workflow
>>> execution = run_workflow(document, input_data={"name": "Ada"})
>>> execution.status, execution.outputs
"""

from __future__ import annotations

from ._api import arun_workflow, run_workflow
from ._exceptions import (
    CredentialError,
    ExecutionConflictError,
    ExecutionNotFoundError,
    ExpressionError,
    HttpError,
    LeaseLostError,
    LinkflowError,
    NodeError,
    NodeTimeoutError,
    RateLimitedError,
    StorageError,
    WorkflowValidationError,
)
from .events import Event
from .graph import Connection, Node, Workflow, WorkflowSettings, validate_workflow
from .nodes import NodeContext, NodeRegistry, NodeType
from .runtime import (
    Engine,
    Execution,
    ExecutionError,
    ExecutionMode,
    ExecutionStatus,
    LogEntry,
    NodeExecution,
    NodeStatus,
)

__version__ = "0.1.0.dev0"

__all__ = [
    "Connection",
    "CredentialError",
    "Engine",
    "Event",
    "Execution",
    "ExecutionConflictError",
    "ExecutionError",
    "ExecutionMode",
    "ExecutionNotFoundError",
    "ExecutionStatus",
    "ExpressionError",
    "HttpError",
    "LeaseLostError",
    "LinkflowError",
    "LogEntry",
    "Node",
    "NodeContext",
    "NodeError",
    "NodeExecution",
    "NodeRegistry",
    "NodeStatus",
    "NodeTimeoutError",
    "NodeType",
    "RateLimitedError",
    "StorageError",
    "Workflow",
    "WorkflowSettings",
    "WorkflowValidationError",
    "arun_workflow",
    "run_workflow",
    "validate_workflow",
]
