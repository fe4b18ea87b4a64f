"""Validation of a whole workflow: shape, references, ports, cycles, triggers and expressions.

Every check returns its problems as ``{"field", "message"}`` dicts and ``validate_workflow``
raises them all at once, so a user fixes a document in one round. What a node type accepts is not
known here: a ``NodeTypeCatalog`` (the executor's node registry) answers for it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from .._exceptions import WorkflowValidationError
from ._convert import schema_problems
from ._model import Node, Workflow
from ._topology import WorkflowGraph, canonical_port, format_cycle

__all__ = ["NodeTypeCatalog", "validate_workflow"]

Problems = list[dict[str, str]]

# Every node may route its failure to an ``error`` port (``onError: "errorOutput"``).
ERROR_PORT = "error"


class NodeTypeCatalog(Protocol):
    """What validation asks of the node types; the executor's node registry implements it."""

    def node_problems(self, node: Node) -> list[tuple[str, str]]:
        """The problems of ``node`` for its type, as ``(field, message)`` pairs.

        ``field`` is relative to the node (``"type"`` for an unknown type, ``"config.url"`` for a
        config value that fails the type's JSON Schema); an empty list means the node is fine.
        """
        ...

    def input_ports(self, node: Node) -> frozenset[str] | None:
        """The ports ``node`` accepts connections on: empty for a trigger, ``None`` if unknown."""
        ...

    def output_ports(self, node: Node) -> frozenset[str] | None:
        """The ports ``node`` emits on (without ``error``), ``None`` if unknown.

        May depend on the config: a switch has a port per rule plus its fallback.
        """
        ...

    def is_trigger(self, node: Node) -> bool:
        """Whether ``node`` starts executions (it takes no input)."""
        ...


def validate_workflow(
    doc: Mapping[str, Any] | Workflow, registry: NodeTypeCatalog | None = None
) -> Workflow:
    """The workflow of ``doc`` once it passed every check.

    Raises ``WorkflowValidationError`` whose ``details`` list every problem found. A document
    whose shape is wrong (JSON Schema) reports only its shape problems: the other checks need a
    well-formed workflow. Without ``registry`` the node-type checks (unknown types, configs,
    ports, triggers) are skipped.
    """
    workflow = _well_formed(doc)
    problems = [
        *duplicate_node_ids(workflow),
        *dangling_connections(workflow),
        *cycles(workflow),
        *settings_problems(workflow),
        *expression_problems_of(workflow),
    ]
    if registry is not None:
        problems += node_type_problems(workflow, registry)
        problems += port_problems(workflow, registry)
        problems += trigger_problems(workflow, registry)
    if problems:
        raise WorkflowValidationError(problems)
    return workflow


def _well_formed(doc: Mapping[str, Any] | Workflow) -> Workflow:
    if not isinstance(doc, Workflow):
        return Workflow.from_dict(doc)
    # A workflow built in Python skipped the schema (a negative maxRetries, an empty id): check
    # its document, which is what storage and the API will see anyway.
    problems = schema_problems(doc.to_dict())
    if problems:
        raise WorkflowValidationError(problems)
    return doc


def duplicate_node_ids(workflow: Workflow) -> Problems:
    """Each node whose id an earlier node already has."""
    first: dict[str, int] = {}
    problems = []
    for index, node in enumerate(workflow.nodes):
        if node.id in first:
            message = f"duplicate node id {node.id!r} (also nodes[{first[node.id]}].id)"
            problems.append({"field": f"nodes[{index}].id", "message": message})
        first.setdefault(node.id, index)
    return problems


def dangling_connections(workflow: Workflow) -> Problems:
    """Each connection end that names no node."""
    known = {node.id for node in workflow.nodes}
    problems = []
    for index, connection in enumerate(workflow.connections):
        for end, node_id in (("source", connection.source), ("target", connection.target)):
            if node_id not in known:
                field = f"connections[{index}].{end}"
                problems.append({"field": field, "message": f"no node has id {node_id!r}"})
    return problems


def cycles(workflow: Workflow) -> Problems:
    """One problem per cycle, naming its nodes in order."""
    found = WorkflowGraph.of(workflow).find_cycles()
    return [{"field": "connections", "message": format_cycle(cycle)} for cycle in found]


def settings_problems(workflow: Workflow) -> Problems:
    """Settings the schema cannot judge: the time zone must be a known IANA name."""
    name = workflow.settings.timezone
    if name == "UTC":  # the default: no need to load the time zone database
        return []
    import zoneinfo

    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        message = f"unknown time zone {name!r} (use an IANA name)"
        return [{"field": "settings.timezone", "message": message}]
    return []


def expression_problems_of(workflow: Workflow) -> Problems:
    """Every ``{{ }}`` that does not parse, in node configs and connection conditions."""
    # The expression package loads its grammar on import; only validation needs it here.
    from ..expressions import expression_problems

    problems = []
    for index, node in enumerate(workflow.nodes):
        problems += expression_problems(node.config, f"nodes[{index}].config")
    for index, connection in enumerate(workflow.connections):
        if connection.condition is not None:
            path = f"connections[{index}].condition"
            problems += expression_problems(connection.condition, path)
    return problems


def node_type_problems(workflow: Workflow, registry: NodeTypeCatalog) -> Problems:
    """What the catalog finds wrong with each node (unknown type, config against its schema)."""
    problems = []
    for index, node in enumerate(workflow.nodes):
        for field, message in registry.node_problems(node):
            problems.append({"field": f"nodes[{index}].{field}", "message": message})
    return problems


def port_problems(workflow: Workflow, registry: NodeTypeCatalog) -> Problems:
    """Connections that leave from or arrive at a port their node does not have."""
    nodes = WorkflowGraph.of(workflow).nodes
    problems = []
    for index, connection in enumerate(workflow.connections):
        source, target = nodes.get(connection.source), nodes.get(connection.target)
        if source is not None:
            problems += _source_port_problem(index, connection.source_port, source, registry)
        if target is not None:
            problems += _target_port_problem(index, connection.target_port, target, registry)
    return problems


def _source_port_problem(index: int, port: str, node: Node, registry: NodeTypeCatalog) -> Problems:
    ports = registry.output_ports(node)
    if ports is None:
        return []
    known = {canonical_port(p) for p in ports} | {ERROR_PORT}
    if canonical_port(port) in known:
        return []
    message = f"node {node.id!r} ({node.type}) has no output port {port!r}; it has {_list(known)}"
    return [{"field": f"connections[{index}].sourcePort", "message": message}]


def _target_port_problem(index: int, port: str, node: Node, registry: NodeTypeCatalog) -> Problems:
    ports = registry.input_ports(node)
    if ports is None or port in ports:
        return []
    if not ports:
        message = f"node {node.id!r} ({node.type}) takes no input"
    else:
        message = (
            f"node {node.id!r} ({node.type}) has no input port {port!r}; it has {_list(ports)}"
        )
    return [{"field": f"connections[{index}].targetPort", "message": message}]


def trigger_problems(workflow: Workflow, registry: NodeTypeCatalog) -> Problems:
    """A workflow whose trigger nodes are all disabled can never start."""
    triggers = workflow.trigger_nodes(registry.is_trigger)
    if triggers and all(node.disabled for node in triggers):
        return [{"field": "nodes", "message": "every trigger node is disabled: nothing can start"}]
    return []


def _list(ports: set[str] | frozenset[str]) -> str:
    return ", ".join(repr(p) for p in sorted(ports))
