"""Where a run starts and what it takes over: start nodes, partial runs and retries.

Each answer is a list of *starts* (node id and the input it gets) plus the node runs *reused*
from earlier executions, which the run records as settled without running them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs

from .._exceptions import WorkflowValidationError
from ..graph import Workflow, WorkflowGraph
from ..nodes import NodeRegistry
from ._plan import ExecutionPlan
from ._records import Execution, ExecutionMode, NodeExecution, NodeStatus

__all__ = ["Starts", "retry_starts", "start_nodes", "stored_starts", "upstream_to_reuse"]

Starts = list[tuple[str, Any]]


def _invalid(field: str, message: str) -> WorkflowValidationError:
    return WorkflowValidationError([{"field": field, "message": message}])


def start_nodes(
    workflow: Workflow,
    registry: NodeRegistry,
    input_data: Any,
    start_node_id: str | None,
    mode: ExecutionMode,
) -> Starts:
    """``start_node_id``, else the first trigger of the mode's kind (manual trigger for manual
    and api, schedule or interval trigger for schedule, webhook trigger for webhook), else the
    first trigger, else every node without inputs; each gets ``input_data``, a trigger ``{}``
    when there is none (the spec's execution object shows a trigger's input so)."""
    graph = WorkflowGraph.of(workflow)
    given = {} if input_data is None else input_data  # what a trigger gets
    if start_node_id is not None:
        if start_node_id not in graph.nodes:
            raise _invalid("startNodeId", f"no node with id {start_node_id!r}")
        chosen = graph.nodes[start_node_id]
        return [(start_node_id, given if registry.is_trigger(chosen) else input_data)]
    triggers = [n for n in workflow.nodes if registry.is_trigger(n) and not n.disabled]
    if not triggers:
        return [(node_id, input_data) for node_id in graph.roots()]
    fitting = [n for n in triggers if n.type in _TRIGGERS_OF_MODE.get(mode, ())]
    chosen = fitting[0] if fitting else triggers[0]
    return [(chosen.id, given)]


# Which trigger starts a run of each mode, when the caller does not name one.
_TRIGGERS_OF_MODE = {
    ExecutionMode.MANUAL: ("manual_trigger",),
    ExecutionMode.API: ("manual_trigger",),
    ExecutionMode.SCHEDULE: ("schedule_trigger", "interval_trigger"),
    ExecutionMode.WEBHOOK: ("webhook_trigger",),
}


def stored_starts(execution: Execution) -> Starts:
    """The starts an execution recorded in its options (empty when it recorded none)."""
    return [(node_id, value) for node_id, value in execution.options.get("starts") or ()]


def upstream_to_reuse(
    workflow: Workflow, start_node_id: str | None
) -> tuple[set[str], list[NodeExecution]]:
    """For a partial run: the upstream node ids, and the runs pinned data gives for them."""
    if start_node_id is None:
        raise _invalid("startNodeId", "runPartial needs a startNodeId")
    upstream = set(WorkflowGraph.of(workflow).upstream(start_node_id))
    pinned = [
        NodeExecution(
            node_id=n.id,
            node_name=n.name,
            sequence=0,
            status=NodeStatus.COMPLETED,
            output=n.pinned_data,
        )
        for n in workflow.nodes
        if n.id in upstream and n.pinned_data is not None
    ]
    return upstream - {r.node_id for r in pinned}, pinned


def _settled(record: NodeExecution) -> bool:
    return record.status is NodeStatus.COMPLETED or (
        record.status is NodeStatus.FAILED and record.port is not None
    )


def retry_starts(
    original: Execution,
    plan: ExecutionPlan,
    from_node: str | None,
    input_overrides: dict[str, Any] | None,
    default_starts: Sequence[tuple[str, Any]],
) -> tuple[Starts, list[NodeExecution]]:
    """A replay of ``original`` from ``from_node`` (default: the node that failed, else the
    start): that node and what is downstream run again, with ``input_overrides`` merged into the
    node's recorded input; every other node that settled is reused."""
    graph = plan.graph
    if from_node is not None and not isinstance(from_node, str):
        raise _invalid("fromNode", f"{from_node!r} is not a node id (a string)")
    node_id = from_node or _failed_node(original, graph) or default_starts[0][0]
    if node_id not in graph.nodes:
        raise _invalid("fromNode", f"no node with id {node_id!r} in the workflow")
    if node_id in plan.owner_of:
        owner = plan.owner_of[node_id].owner
        raise _invalid("fromNode", f"{node_id!r} runs inside loop {owner!r}: retry from {owner!r}")
    if input_overrides is not None and not isinstance(input_overrides, dict):
        raise _invalid("inputOverrides", "must be an object")
    rerun = graph.downstream(node_id) | {node_id}
    reused = [
        attrs.evolve(r, source_execution_id=r.source_execution_id if r.reused else original.id)
        for r in original.node_executions
        if r.iteration is None and r.node_id not in rerun and _settled(r)
    ]
    return [(node_id, _retry_input(original, node_id, input_overrides, default_starts))], reused


def _failed_node(original: Execution, graph: WorkflowGraph) -> str | None:
    node_id = original.error.node_id if original.error else None
    return node_id if node_id in graph.nodes else None


def _retry_input(
    original: Execution,
    node_id: str,
    overrides: dict[str, Any] | None,
    default_starts: Sequence[tuple[str, Any]],
) -> Any:
    try:
        record: NodeExecution | None = original.node(node_id)
    except KeyError:
        record = None
    if record is not None and record.started_at is not None:  # what it ran with, None too
        base = record.input
    else:  # never ran: a start node's input, else the execution's own
        base = dict(default_starts).get(node_id, original.input_data)
    if not overrides:
        return base
    return {**base, **overrides} if isinstance(base, dict) else dict(overrides)
