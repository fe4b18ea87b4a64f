"""The variables an expression sees (``$input``, ``$node``, ``$execution`` …)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._executor import ExecutionRun, RunServices

__all__ = ["NodeOutputs", "base_scope", "condition_scope", "node_scope"]


class NodeOutputs(Mapping[str, Any]):
    """``$node``: the output of every node that completed so far, by node name.

    ``$node["Fetch"].data`` (and ``.json``, n8n's spelling) is that node's output. Read-only and
    lazy: nothing is copied when a node runs.
    """

    __slots__ = ("_outputs",)

    def __init__(self, outputs: Mapping[str, Any]) -> None:
        self._outputs = outputs

    def __getitem__(self, name: str) -> dict[str, Any]:
        output = self._outputs[name]
        return {"data": output, "json": output}

    def __iter__(self) -> Iterator[str]:
        return iter(self._outputs)

    def __len__(self) -> int:
        return len(self._outputs)


def base_scope(run: ExecutionRun, services: RunServices) -> dict[str, Any]:
    """The variables that are the same for every node of a run."""
    execution = run.execution
    workflow = run.workflow
    return {
        "$executionId": execution.id,
        "$workflowId": workflow.id,
        "$timestamp": round((execution.started_at or execution.created_at) * 1000),
        "$execution": {
            "id": execution.id,
            "mode": execution.mode.value,
            "triggeredBy": execution.triggered_by,
            "retryCount": execution.retry_count,
        },
        "$workflow": {
            "id": workflow.id,
            "name": workflow.name,
            "active": workflow.status == "active",
        },
        "$env": services.env,
        "$vars": services.variables,
        "$credentials": {},
    }


def node_scope(
    base: Mapping[str, Any],
    named: Mapping[str, Any],
    variables: Mapping[str, Any],
    node_id: str,
    value: Any,
) -> dict[str, Any]:
    """What a node's config expressions see: ``$input``/``$json`` is the node's input."""
    scope = dict(base)
    scope["$input"] = scope["$json"] = value
    scope["$nodeId"] = node_id
    scope["$node"] = NodeOutputs(named)
    if variables:
        scope.update(variables)
    return scope


def condition_scope(
    base: Mapping[str, Any], named: Mapping[str, Any], value: Any
) -> dict[str, Any]:
    """What a connection condition sees: ``$output`` (and ``$json``) is the source's output."""
    scope = dict(base)
    scope["$output"] = scope["$json"] = value
    scope["$node"] = NodeOutputs(named)
    return scope
