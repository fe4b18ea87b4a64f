"""The exceptions linkflow-engine raises.

Every exception carries a ``code`` from the documented set, keeps its structured arguments as
attributes and builds its message from them::

    LinkflowError                      code: (abstract base)
    ├── WorkflowValidationError        VALIDATION_ERROR  a document, request or config is invalid
    ├── ExpressionError                EXPRESSION_ERROR  a {{ }} expression failed to parse or run
    ├── NodeError                      NODE_ERROR        raised by node handlers (and subclasses)
    │   ├── HttpError                  HTTP_ERROR
    │   ├── RateLimitedError           RATE_LIMITED      optional ``retry_after`` seconds
    │   ├── NodeTimeoutError           TIMEOUT
    │   └── CredentialError            CREDENTIAL_ERROR
    ├── ExecutionNotFoundError         NOT_FOUND         no execution (or workflow) with that id
    ├── ExecutionConflictError         CONFLICT          the status does not allow that action
    └── StorageError                   STORAGE_ERROR     the storage cannot serve the request

``CANCELLED`` and ``TIMEOUT`` also appear as codes of recorded execution errors.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

__all__ = [
    "CredentialError",
    "ExecutionConflictError",
    "ExecutionNotFoundError",
    "ExpressionError",
    "HttpError",
    "LeaseLostError",
    "LinkflowError",
    "NodeError",
    "NodeTimeoutError",
    "RateLimitedError",
    "StorageError",
    "WorkflowValidationError",
]


class LinkflowError(Exception):
    """Base class of every error the engine raises; ``code`` names the kind of failure."""

    code: ClassVar[str] = "LINKFLOW_ERROR"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: ``{code, message, details}``."""
        return {"code": self.code, "message": self.message, "details": None}


class WorkflowValidationError(LinkflowError):
    """A workflow document (or a request, or a config) is invalid.

    ``details`` lists every problem found as ``{"field": path, "message": text}``, where the path
    uses dots and brackets as in ``nodes[2].config.url``.
    """

    code: ClassVar[str] = "VALIDATION_ERROR"

    def __init__(self, details: Sequence[Mapping[str, str]], message: str | None = None) -> None:
        self.details: list[dict[str, str]] = [dict(d) for d in details]
        if message is None:
            shown = "; ".join(f"{d['field']}: {d['message']}" for d in self.details[:5])
            more = f" (and {len(self.details) - 5} more)" if len(self.details) > 5 else ""
            message = f"invalid workflow: {shown}{more}" if shown else "invalid workflow"
        super().__init__(message)

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "details": self.details}


class ExpressionError(LinkflowError):
    """An expression failed to parse or to evaluate.

    ``expression`` is the text between the braces (or the whole template), ``column`` the
    1-based column in it when known; ``node_id`` and ``path`` (the config path, such as
    ``config.url``) are filled in when the expression was evaluated for a node.
    """

    code: ClassVar[str] = "EXPRESSION_ERROR"

    def __init__(
        self,
        reason: str,
        *,
        expression: str | None = None,
        column: int | None = None,
        node_id: str | None = None,
        path: str | None = None,
    ) -> None:
        self.reason = reason
        self.expression = expression
        self.column = column
        self.node_id = node_id
        self.path = path
        super().__init__(self._build_message())

    def _build_message(self) -> str:
        where = []
        if self.node_id is not None:
            where.append(f"node {self.node_id!r}")
        if self.path is not None:
            where.append(self.path)
        if self.column is not None:
            where.append(f"column {self.column}")
        prefix = f"{', '.join(where)}: " if where else ""
        shown = f" in {self.expression!r}" if self.expression is not None else ""
        return f"{prefix}{self.reason}{shown}"

    def located(self, *, node_id: str | None = None, path: str | None = None) -> ExpressionError:
        """A copy of this error that also names the node and/or config path."""
        return ExpressionError(
            self.reason,
            expression=self.expression,
            column=self.column,
            node_id=node_id if node_id is not None else self.node_id,
            path=path if path is not None else self.path,
        )

    def to_dict(self) -> dict[str, Any]:
        details = {"expression": self.expression, "column": self.column, "path": self.path}
        return {"code": self.code, "message": self.message, "details": details}


class NodeError(LinkflowError):
    """Raised by node handlers: the node failed. ``details`` is any JSON value."""

    code: ClassVar[str] = "NODE_ERROR"

    def __init__(self, message: str, *, details: Any = None, code: str | None = None) -> None:
        super().__init__(message)
        self.details = details
        if code is not None:
            self.code = code  # type: ignore[misc]  # instance override of the class default

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "details": self.details}


class HttpError(NodeError):
    """An HTTP request failed; ``details`` holds ``{statusCode, response}`` when there was one."""

    code: ClassVar[str] = "HTTP_ERROR"


class RateLimitedError(NodeError):
    """An external API rate-limited the request; ``retry_after`` is in seconds when known."""

    code: ClassVar[str] = "RATE_LIMITED"

    def __init__(
        self, message: str, *, details: Any = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message, details=details)
        self.retry_after = retry_after


class NodeTimeoutError(NodeError):
    """A node attempt or the whole execution ran past its timeout."""

    code: ClassVar[str] = "TIMEOUT"


class CredentialError(NodeError):
    """A credential is missing, cannot be decrypted or does not fit the node."""

    code: ClassVar[str] = "CREDENTIAL_ERROR"


class ExecutionNotFoundError(LinkflowError):
    """No execution (or workflow) has the given id."""

    code: ClassVar[str] = "NOT_FOUND"

    def __init__(self, kind: str, id: str) -> None:
        self.kind = kind
        self.id = id
        super().__init__(f"{kind} {id!r} not found")


class ExecutionConflictError(LinkflowError):
    """The status does not allow the action (cancel a finished run, retry a running one)."""

    code: ClassVar[str] = "CONFLICT"

    def __init__(self, execution_id: str, status: str, action: str) -> None:
        self.execution_id = execution_id
        self.status = status
        self.action = action
        super().__init__(f"cannot {action} execution {execution_id!r}: it is {status}")


class StorageError(LinkflowError):
    """The storage cannot serve the request (schema too new, lost lease, connection lost)."""

    code: ClassVar[str] = "STORAGE_ERROR"


class LeaseLostError(StorageError):
    """A write under a stale lease fence: another process has taken the execution over, and
    the write changed nothing."""
