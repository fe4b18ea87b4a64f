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
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from ..graph import Node, Workflow
from ._records import Execution, ExecutionMode, ExecutionStatus, format_timestamp

if TYPE_CHECKING:
    from ._engine import Engine

__all__ = ["ErrorWorkflows", "error_payload"]

logger = logging.getLogger("linkflow_engine.scheduler")

_PAGE = 100


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


class ErrorWorkflows:
    """Starts the error workflows of failed executions (the engine calls :meth:`handle`)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def __repr__(self) -> str:
        return "ErrorWorkflows()"

    def should_handle(self, execution: Execution) -> bool:
        """A failure that is not itself an error workflow's."""
        return execution.status is ExecutionStatus.FAILED and not _started_by_error_trigger(
            execution
        )

    async def handle(self, execution: Execution) -> None:
        """Start every active workflow whose error trigger watches ``execution``'s workflow."""
        try:
            for workflow, node in await self._watchers(execution.workflow_id):
                await self._start(workflow, node, execution)
        except Exception:
            # Runs in the engine's task group: a storage hiccup here must not take it down.
            logger.exception("error workflows of %s not started", execution.id)

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

    async def _start(self, workflow: Workflow, node: Node, failed: Execution) -> None:
        try:
            await self._engine.execute(
                workflow,
                error_payload(failed),
                start_node_id=node.id,
                mode=ExecutionMode.API,
                triggered_by=f"error:{failed.id}",
                wait=False,
            )
        except Exception:
            logger.exception("error workflow %s did not start", workflow.id)


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
