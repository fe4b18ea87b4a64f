"""The execution plan: what the executor needs to know about a workflow, computed once per
workflow snapshot and registry, then shared by every execution of it.

It resolves node types, compiles every config and connection condition, and carves out the
*branch bodies*: the part of the graph a node such as ``loop`` runs itself, once per item.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping

import attrs

from .._exceptions import WorkflowValidationError
from ..expressions import (
    CompiledValue,
    Expression,
    Template,
    compile_expression,
    compile_template,
    compile_value,
)
from ..graph import Connection, Node, Workflow, WorkflowGraph, canonical_port
from ..nodes import NodeRegistry, NodeType
from ._retry import RetryPolicy

__all__ = ["Body", "ExecutionPlan", "plan_for"]


@attrs.frozen(kw_only=True, eq=False)
class Body:
    """The nodes a branch port of ``owner`` runs per item, and where each item enters."""

    owner: str
    port: str
    nodes: frozenset[str]
    entries: tuple[Connection, ...]


@attrs.frozen(kw_only=True, eq=False)
class ExecutionPlan:
    workflow: Workflow
    graph: WorkflowGraph
    types: Mapping[str, NodeType]
    configs: Mapping[str, CompiledValue]
    conditions: Mapping[int, Template | Expression]
    default_port: Mapping[str, str]
    names: Mapping[str, str]
    """Node name by node id."""
    bodies: Mapping[tuple[str, str], Body]
    owner_of: Mapping[str, Body]
    """For each node inside a branch body, the (innermost) body that runs it."""
    connection_index: Mapping[int, int]
    """Position of each connection (by id()) in the document, for error paths."""
    input_position: Mapping[int, int]
    """Position of each connection (by id()) among its target's inputs: the join order."""
    waits_for_all: Mapping[str, bool]
    """False for nodes that start on their first input (merge with waitForAll false)."""
    main_nodes: frozenset[str]
    """The nodes the main walk runs: all but those inside branch bodies."""
    order: tuple[str, ...]
    """Every node id in topological order (document order among equals)."""
    policies: Mapping[str, RetryPolicy]
    _reach: dict[frozenset[str], frozenset[str]] = attrs.field(factory=dict)

    def reachable_from(self, node_ids: frozenset[str]) -> frozenset[str]:
        """The nodes reachable from ``node_ids`` (inclusive), cached per start set."""
        reach = self._reach.get(node_ids)
        if reach is None:
            reach = self._reach[node_ids] = self.graph.reachable_from(node_ids)
        return reach

    def is_trigger(self, node_id: str) -> bool:
        return self.types[node_id].is_trigger

    def incoming(self, node_id: str) -> tuple[Connection, ...]:
        return self.graph.incoming[node_id]

    def outgoing(self, node_id: str) -> tuple[Connection, ...]:
        return self.graph.outgoing[node_id]


_plans: weakref.WeakKeyDictionary[Workflow, dict[int, ExecutionPlan]] = weakref.WeakKeyDictionary()


def plan_for(workflow: Workflow, registry: NodeRegistry) -> ExecutionPlan:
    """The plan of a (validated) workflow for a registry, built once and cached."""
    per_registry = _plans.setdefault(workflow, {})
    plan = per_registry.get(id(registry))
    if plan is None:
        plan = _build(workflow, registry)
        per_registry[id(registry)] = plan
    return plan


def _build(workflow: Workflow, registry: NodeRegistry) -> ExecutionPlan:
    graph = WorkflowGraph.of(workflow)
    types = {node.id: registry.get(node.type) for node in workflow.nodes}
    bodies = _branch_bodies(graph, types)
    _check_bodies_closed(workflow, graph, bodies)
    return ExecutionPlan(
        workflow=workflow,
        graph=graph,
        types=types,
        configs={node.id: compile_value(node.config) for node in workflow.nodes},
        conditions={
            id(conn): _compile_condition(conn.condition)
            for conn in workflow.connections
            if conn.condition
        },
        default_port={node.id: _first_port(types[node.id], node) for node in workflow.nodes},
        names={node.id: node.name for node in workflow.nodes},
        connection_index={id(conn): index for index, conn in enumerate(workflow.connections)},
        input_position={
            id(conn): index for conns in graph.incoming.values() for index, conn in enumerate(conns)
        },
        waits_for_all={node.id: _waits_for_all(types[node.id], node) for node in workflow.nodes},
        main_nodes=frozenset(graph.nodes) - _owners(bodies).keys(),
        order=tuple(graph.topological_order()),
        policies={
            node.id: RetryPolicy.for_node(node, workflow.settings) for node in workflow.nodes
        },
        bodies={(b.owner, b.port): b for b in bodies},
        owner_of=_owners(bodies),
    )


def _first_port(node_type: NodeType, node: Node) -> str:
    ports = node_type.output_ports(node.config)
    return ports[0] if ports else "output"


def _waits_for_all(node_type: NodeType, node: Node) -> bool:
    return node_type.wait_for_all is None or node_type.wait_for_all(node.config)


def _compile_condition(text: str) -> Template | Expression:
    # Conditions are usually written "{{ … }}"; a bare expression is accepted too.
    return compile_template(text) if "{{" in text else compile_expression(text)


def _branch_bodies(graph: WorkflowGraph, types: Mapping[str, NodeType]) -> list[Body]:
    bodies = []
    for node_id, node_type in types.items():
        for port in node_type.branch_ports:
            entries = tuple(
                c for c in graph.outgoing[node_id] if canonical_port(c.source_port) == port
            )
            nodes = _body_nodes(graph, node_id, entries)
            bodies.append(Body(owner=node_id, port=port, nodes=nodes, entries=entries))
    return bodies


def _body_nodes(
    graph: WorkflowGraph, owner: str, entries: tuple[Connection, ...]
) -> frozenset[str]:
    """Nodes reachable through ``entries`` and only through them: a node with any input from
    outside the body (or from the owner on another port) belongs to the flow after the loop."""
    body = set(graph.reachable_from(c.target for c in entries))
    entry_ids = {id(c) for c in entries}
    changed = True
    while changed:
        changed = False
        for node_id in list(body):
            for conn in graph.incoming[node_id]:
                inside = conn.source in body or id(conn) in entry_ids
                if not inside:
                    body.discard(node_id)
                    changed = True
                    break
    return frozenset(body)


def _check_bodies_closed(workflow: Workflow, graph: WorkflowGraph, bodies: list[Body]) -> None:
    """A node fed both from inside a loop body and from outside it has no sensible run (once
    per item, or once?): refuse it, pointing at the loop's ``done`` port."""
    problems = []
    for body in bodies:
        for index, conn in enumerate(workflow.connections):
            if conn.source in body.nodes and conn.target not in body.nodes:
                problems.append(
                    {
                        "field": f"connections[{index}]",
                        "message": f"{conn.target!r} takes input from inside the body of loop "
                        f"{body.owner!r} ({conn.source!r}) and from outside it; connect it to "
                        "the loop's 'done' port instead",
                    }
                )
    if problems:
        raise WorkflowValidationError(problems)


def _owners(bodies: list[Body]) -> dict[str, Body]:
    owners: dict[str, Body] = {}
    # Smaller bodies are nested inside larger ones: the innermost owner wins.
    for body in sorted(bodies, key=lambda b: len(b.nodes), reverse=True):
        for node_id in body.nodes:
            owners[node_id] = body
    return owners
