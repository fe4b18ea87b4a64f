"""Error workflows: when an execution fails, the active workflows whose ``error_trigger`` watches
it start, with the documented payload::

    {"error": {"message", "nodeId", "timestamp", "nodeName", "code"},
     "execution": {"id", "workflowId", "workflowName", "mode"}}

An ``error_trigger`` without ``workflowIds`` watches every *other* workflow; with
``workflowIds: [...]`` only those. Error workflows start in mode ``api`` (started by the engine,
not by a person or a schedule; the spec has no ``error`` mode) with ``triggeredBy`` set to
``error:<failed execution id>``. Two rules keep them from feeding on themselves: a workflow never
handles its own failures, and an execution started by an error trigger triggers no error
workflow when it fails.

Starting them is durable: a failure that may have error workflows stores, in the same write as
the failure itself, a delivery to :data:`TARGET` (see :mod:`._callbacks`), which an engine on
the storage then delivers by starting the watching workflows. Each start has an id made from the
failure, the workflow and its trigger, so a delivery attempted again (its engine died mid-way)
starts nothing twice.
"""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .._exceptions import ExecutionNotFoundError, StorageError, WorkflowValidationError
from ..graph import Node, Workflow
from ._records import Execution, ExecutionMode, ExecutionStatus, format_timestamp

if TYPE_CHECKING:
    from ._engine import Engine

__all__ = ["TARGET", "ErrorWorkflows", "error_payload", "should_handle"]

logger = logging.getLogger("linkflow_engine.scheduler")

_PAGE = 100

TARGET = "linkflow:error-workflows"
"""The address of a delivery that starts the error workflows of the failure it carries (not an
http(s) URL, so no callback URL a user gives can name it)."""


def error_payload(execution: Execution) -> dict[str, Any]:
    """What an error trigger receives about a failed execution."""
    error = execution.error
    return {
        "error": {
            "message": error.message if error else "execution failed",
            "nodeId": error.node_id if error else None,
            "timestamp": format_timestamp(execution.finished_at),
            "nodeName": error.node_name if error else None,
            "code": error.code if error else None,
        },
        "execution": {
            "id": execution.id,
            "workflowId": execution.workflow_id,
            "workflowName": execution.workflow_name,
            "mode": execution.mode.value,
        },
    }


def should_handle(execution: Execution) -> bool:
    """A failure that is not itself an error workflow's."""
    return execution.status is ExecutionStatus.FAILED and not _started_by_error_trigger(execution)


class ErrorWorkflows:
    """Delivers :data:`TARGET` deliveries: starts the error workflows of a stored failure."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def __repr__(self) -> str:
        return "ErrorWorkflows()"

    async def deliver(self, delivery: dict[str, Any]) -> tuple[str, str | None, bool]:
        """Start every active workflow whose error trigger watches the failure ``delivery``
        carries: (what happened, "" when nothing watches it; the error, when some start
        failed for a reason that may pass, such as storage; False: retrying may help)."""
        payload = json.loads(delivery["body"])
        failed_id = delivery["executionId"]
        try:
            watchers = await self._watchers(payload["execution"]["workflowId"])
        except Exception as error:  # storage unreachable a moment: the delivery is retried
            logger.exception("error workflows of %s not looked up", failed_id)
            return f"failed: {type(error).__name__}: {error}", str(error) or "error", False
        said, retry = [], None
        for workflow, node in watchers:
            try:
                execution_id = await self._start(workflow, node, failed_id, payload)
            except WorkflowValidationError as error:  # invalid now: retrying cannot help
                logger.exception("error workflow %s cannot start", workflow.id)
                said.append(f"{workflow.id} cannot start ({error})")
            except Exception as error:  # storage, say: the delivery is retried
                logger.exception("error workflow %s did not start", workflow.id)
                said.append(f"{workflow.id} not started ({type(error).__name__}: {error})")
                retry = f"{type(error).__name__}: {error}"
            else:
                said.append(f"{workflow.id} started as {execution_id}")
        return "; ".join(said), retry, False

    async def _watchers(self, failed_workflow_id: str | None) -> list[tuple[Workflow, Node]]:
        found: list[tuple[Workflow, Node]] = []
        offset = 0
        while True:
            page, total = await self._engine.list_workflows(
                status="active", limit=_PAGE, offset=offset
            )
            found.extend(
                (workflow, node)
                for workflow in page
                if workflow.id != failed_workflow_id
                for node in workflow.nodes
                if _watches(node, failed_workflow_id)
            )
            offset += len(page)
            if not page or offset >= total:
                return found

    async def _start(
        self, workflow: Workflow, node: Node, failed_id: str, payload: dict[str, Any]
    ) -> str:
        """Start ``workflow`` at ``node`` for the failure; its execution id, also when an
        earlier attempt of the delivery started it."""
        execution_id = _start_id(failed_id, workflow, node, payload)
        try:
            await self._engine.execute(
                workflow,
                payload,
                start_node_id=node.id,
                mode=ExecutionMode.API,
                triggered_by=f"error:{failed_id}",
                wait=False,
                _execution_id=execution_id,
            )
        except StorageError:
            if not await self._exists(execution_id):
                raise
        return execution_id

    async def _exists(self, execution_id: str) -> bool:
        """Whether the execution is stored (an earlier attempt of the delivery started it)."""
        try:
            await self._engine.storage.get_execution(execution_id)
        except ExecutionNotFoundError:
            return False
        return True


def _start_id(failed_id: str, workflow: Workflow, node: Node, payload: dict[str, Any]) -> str:
    """The id of the execution of ``workflow`` that ``node`` starts for the failure: the same
    at every attempt. Like any execution id, it begins with a time in ms (the failure's)."""
    try:
        failed_at = datetime.fromisoformat(payload["error"]["timestamp"]).timestamp()
    except (TypeError, ValueError):
        failed_at = 0.0
    digest = hashlib.blake2b(
        "\0".join((failed_id, str(workflow.id), node.id)).encode(), digest_size=10
    ).hexdigest()
    return f"exec-{int(failed_at * 1000):012x}{digest}"


def _watches(node: Node, workflow_id: str | None) -> bool:
    if node.type != "error_trigger" or node.disabled:
        return False
    watched = node.config.get("workflowIds")
    return watched is None or workflow_id in watched


def _started_by_error_trigger(execution: Execution) -> bool:
    if execution.workflow is None:
        return False
    starts = {node_id for node_id, _ in execution.options.get("starts") or ()}
    starts.add(execution.options.get("startNodeId"))
    return any(n.type == "error_trigger" for n in execution.workflow.nodes if n.id in starts)
