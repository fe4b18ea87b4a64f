"""The package's front door: exactly the intended public names, importable and cheap."""

from __future__ import annotations

import subprocess
import sys

import linkflow_engine

PUBLIC = [
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


def test_public_names_are_exactly_the_intended_ones() -> None:
    """__all__ is sorted, complete, and every name in it exists."""
    assert linkflow_engine.__all__ == PUBLIC
    for name in PUBLIC:
        assert getattr(linkflow_engine, name) is not None


def test_every_error_has_a_documented_code() -> None:
    """Each exception class carries its code from the documented set."""
    codes = {
        linkflow_engine.WorkflowValidationError: "VALIDATION_ERROR",
        linkflow_engine.ExpressionError: "EXPRESSION_ERROR",
        linkflow_engine.NodeError: "NODE_ERROR",
        linkflow_engine.HttpError: "HTTP_ERROR",
        linkflow_engine.RateLimitedError: "RATE_LIMITED",
        linkflow_engine.NodeTimeoutError: "TIMEOUT",
        linkflow_engine.CredentialError: "CREDENTIAL_ERROR",
        linkflow_engine.ExecutionNotFoundError: "NOT_FOUND",
        linkflow_engine.ExecutionConflictError: "CONFLICT",
    }
    for cls, code in codes.items():
        assert cls.code == code
        assert issubclass(cls, linkflow_engine.LinkflowError)


def test_import_loads_no_optional_or_heavy_dependency() -> None:
    """import linkflow_engine loads no database driver, web framework, jsonschema or lark."""
    code = (
        "import sys, linkflow_engine; "
        "print(sorted(m for m in ('psycopg', 'starlette', 'uvicorn', 'jsonschema', 'lark', "
        "'httpx', 'linkflow_engine.http') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
