"""validate_workflow: every problem of a document, reported at once with its field path."""

from __future__ import annotations

from typing import Any

import pytest

from linkflow_engine._exceptions import WorkflowValidationError
from linkflow_engine.graph import Node, NodeTypeCatalog, Workflow, validate_workflow


class FakeCatalog:
    """A node-type catalog with a trigger, a plain step, an if and a switch."""

    def node_problems(self, node: Node) -> list[tuple[str, str]]:
        if node.type not in ("trigger", "step", "if", "switch"):
            return [("type", f"unknown node type {node.type!r}")]
        if node.type == "step" and not isinstance(node.config.get("n", 0), int):
            return [("config.n", "must be an integer")]
        return []

    def input_ports(self, node: Node) -> frozenset[str] | None:
        if node.type == "trigger":
            return frozenset()
        return frozenset({"input"}) if node.type in ("step", "if", "switch") else None

    def output_ports(self, node: Node) -> frozenset[str] | None:
        if node.type == "if":
            return frozenset({"true", "false"})
        if node.type == "switch":
            return frozenset(str(i) for i in range(len(node.config.get("rules", [])) + 1))
        return frozenset({"output"}) if node.type in ("trigger", "step") else None

    def is_trigger(self, node: Node) -> bool:
        return node.type == "trigger"


def _doc(nodes: list[dict[str, Any]], connections: list[dict[str, Any]]) -> dict[str, Any]:
    return {"name": "wf", "nodes": nodes, "connections": connections}


def _node(node_id: str, node_type: str = "step", **fields: Any) -> dict[str, Any]:
    return {"id": node_id, "type": node_type, **fields}


def _edge(source: str, target: str, **fields: Any) -> dict[str, Any]:
    return {"source": source, "target": target, **fields}


def _problems(
    doc: dict[str, Any] | Workflow, registry: NodeTypeCatalog | None = None
) -> list[dict[str, str]]:
    with pytest.raises(WorkflowValidationError) as caught:
        validate_workflow(doc, registry)
    assert caught.value.code == "VALIDATION_ERROR"
    return caught.value.details


def test_valid_document_returns_its_workflow() -> None:
    """A valid document comes back as a Workflow."""
    doc = _doc([_node("t", "trigger"), _node("a")], [_edge("t", "a")])
    workflow = validate_workflow(doc, FakeCatalog())
    assert isinstance(workflow, Workflow)
    assert [node.id for node in workflow.nodes] == ["t", "a"]


def test_a_workflow_object_is_validated_too() -> None:
    """``validate_workflow`` also takes a Workflow and returns that same object."""
    workflow = Workflow.from_dict(_doc([_node("a")], []))
    assert validate_workflow(workflow) is workflow


def test_workflow_objects_get_the_shape_check_too() -> None:
    """A Workflow built in Python with values the schema refuses is reported like a document."""
    workflow = Workflow(nodes=[Node(id="", type="step", max_retries=-1)])
    fields = [p["field"] for p in _problems(workflow)]
    assert fields == ["nodes[0].id", "nodes[0].maxRetries"]


def test_shape_problems_come_first_and_alone() -> None:
    """A document of the wrong shape reports its schema problems as a validation error."""
    assert _problems({"nodes": [{"id": "a"}]}) == [
        {"field": "nodes[0].type", "message": "is required"}
    ]


def test_duplicate_node_ids_are_reported_at_the_duplicate() -> None:
    """A node id used twice is reported at the second use, naming the first."""
    problems = _problems(_doc([_node("a"), _node("b"), _node("a")], []))
    assert problems == [
        {"field": "nodes[2].id", "message": "duplicate node id 'a' (also nodes[0].id)"}
    ]


def test_connections_to_missing_nodes_are_reported_per_end() -> None:
    """Each end of a connection naming no node is reported at that end."""
    problems = _problems(_doc([_node("a")], [_edge("a", "a2"), _edge("zz", "a")]))
    assert problems == [
        {"field": "connections[0].target", "message": "no node has id 'a2'"},
        {"field": "connections[1].source", "message": "no node has id 'zz'"},
    ]


def test_cycle_is_reported_with_its_nodes_in_order() -> None:
    """A cycle is reported on ``connections``, listing its nodes in edge order."""
    doc = _doc(
        [_node("A"), _node("B"), _node("C")], [_edge("A", "B"), _edge("B", "C"), _edge("C", "A")]
    )
    assert _problems(doc) == [{"field": "connections", "message": "cycle: A -> B -> C -> A"}]


def test_every_problem_is_reported_at_once() -> None:
    """Duplicates, dangling connections and cycles of one document are reported together."""
    doc = _doc(
        [_node("a"), _node("a"), _node("b")],
        [_edge("a", "b"), _edge("b", "a"), _edge("b", "nowhere")],
    )
    fields = [p["field"] for p in _problems(doc)]
    assert fields == ["nodes[1].id", "connections[2].target", "connections"]


def test_unknown_time_zone_is_reported() -> None:
    """``settings.timezone`` must be an IANA time zone name."""
    doc = {**_doc([_node("a")], []), "settings": {"timezone": "Mars/Olympus"}}
    problems = _problems(doc)
    assert [p["field"] for p in problems] == ["settings.timezone"]
    assert "Mars/Olympus" in problems[0]["message"]


def test_catalog_problems_are_prefixed_with_the_node_path() -> None:
    """Unknown types and bad configs found by the catalog are reported under ``nodes[i].``."""
    doc = _doc([_node("a", "nope"), _node("b", config={"n": "x"})], [])
    assert _problems(doc, FakeCatalog()) == [
        {"field": "nodes[0].type", "message": "unknown node type 'nope'"},
        {"field": "nodes[1].config.n", "message": "must be an integer"},
    ]


def test_node_type_checks_are_skipped_without_a_catalog() -> None:
    """With no registry, unknown types and ports are not checked."""
    doc = _doc([_node("a", "nope"), _node("b")], [_edge("a", "b", sourcePort="anything")])
    assert validate_workflow(doc).node("a").type == "nope"


def test_unknown_output_port_is_reported() -> None:
    """A connection leaving from a port its node does not have is an error, listing the ports."""
    doc = _doc([_node("i", "if"), _node("a")], [_edge("i", "a", sourcePort="maybe")])
    problems = _problems(doc, FakeCatalog())
    assert [p["field"] for p in problems] == ["connections[0].sourcePort"]
    assert "'maybe'" in problems[0]["message"]
    assert "'false', 'true'" in problems[0]["message"]


def test_error_port_is_valid_on_every_node() -> None:
    """Every node may route failures to port ``error``."""
    doc = _doc(
        [_node("t", "trigger"), _node("a"), _node("b")],
        [_edge("t", "a"), _edge("a", "b", sourcePort="error")],
    )
    validate_workflow(doc, FakeCatalog())


def test_switch_port_aliases_are_accepted() -> None:
    """Switch ports may be written ``"1"`` or ``output1``; a port past the rules is an error."""
    switch = _node("s", "switch", config={"rules": [{"value": 1}]})
    doc = _doc(
        [switch, _node("a"), _node("b"), _node("c")],
        [
            _edge("s", "a", sourcePort="output0"),
            _edge("s", "b", sourcePort="1"),
            _edge("s", "c", sourcePort="output2"),
        ],
    )
    problems = _problems(doc, FakeCatalog())
    assert [p["field"] for p in problems] == ["connections[2].sourcePort"]


def test_connection_into_a_trigger_is_reported() -> None:
    """A trigger takes no input, so a connection into it is an error."""
    doc = _doc([_node("t", "trigger"), _node("a")], [_edge("t", "a"), _edge("a", "t")])
    problems = _problems(doc, FakeCatalog())
    assert {
        "field": "connections[1].targetPort",
        "message": "node 't' (trigger) takes no input",
    } in problems


def test_unknown_input_port_is_reported() -> None:
    """A connection arriving at a port its node does not have is an error."""
    doc = _doc([_node("t", "trigger"), _node("a")], [_edge("t", "a", targetPort="side")])
    problems = _problems(doc, FakeCatalog())
    assert [p["field"] for p in problems] == ["connections[0].targetPort"]


def test_ports_of_unknown_types_are_not_checked() -> None:
    """When the catalog does not know a node's ports, any port name passes the port check."""
    doc = _doc([_node("x", "nope"), _node("a")], [_edge("x", "a", sourcePort="whatever")])
    fields = [p["field"] for p in _problems(doc, FakeCatalog())]
    assert fields == ["nodes[0].type"]


def test_every_trigger_disabled_is_reported() -> None:
    """A workflow whose triggers are all disabled can never start."""
    doc = _doc(
        [_node("t1", "trigger", disabled=True), _node("t2", "trigger", disabled=True), _node("a")],
        [_edge("t1", "a"), _edge("t2", "a")],
    )
    assert _problems(doc, FakeCatalog()) == [
        {"field": "nodes", "message": "every trigger node is disabled: nothing can start"}
    ]


def test_one_enabled_trigger_is_enough() -> None:
    """A disabled trigger beside an enabled one is fine, and so is a disabled breakpoint node."""
    doc = _doc(
        [
            _node("t1", "trigger", disabled=True),
            _node("t2", "trigger"),
            _node("a", disabled=True, breakpoint=True),
        ],
        [_edge("t1", "a"), _edge("t2", "a")],
    )
    validate_workflow(doc, FakeCatalog())


def test_workflow_without_triggers_is_not_a_trigger_problem() -> None:
    """The all-disabled rule applies only to workflows that have trigger nodes."""
    validate_workflow(_doc([_node("a", disabled=True)], []), FakeCatalog())


def test_bad_expression_in_config_is_reported_at_its_path() -> None:
    """An expression that does not parse is reported at its config path."""
    doc = _doc([_node("a"), _node("b", config={"url": "https://x/{{ $input.id ( }}"})], [])
    problems = _problems(doc)
    assert [p["field"] for p in problems] == ["nodes[1].config.url"]
    assert "column" in problems[0]["message"].lower()


def test_bad_expression_in_condition_is_reported_at_its_path() -> None:
    """A connection condition that does not parse is reported at ``connections[i].condition``."""
    doc = _doc([_node("a"), _node("b")], [_edge("a", "b", condition="{{ $output.ok ( }}")])
    assert [p["field"] for p in _problems(doc)] == ["connections[0].condition"]


def test_good_expressions_pass() -> None:
    """Expressions that parse, in configs and conditions, are no problem."""
    doc = _doc(
        [_node("a"), _node("b", config={"url": "https://x/{{ $input.id }}"})],
        [_edge("a", "b", condition="{{ $output.ok }}")],
    )
    validate_workflow(doc)


def test_error_details_serialise_for_the_api() -> None:
    """The error's JSON form carries the code and the list of problems."""
    with pytest.raises(WorkflowValidationError) as caught:
        validate_workflow(_doc([_node("a"), _node("a")], []))
    body = caught.value.to_dict()
    assert body["code"] == "VALIDATION_ERROR"
    assert body["details"] == [
        {"field": "nodes[1].id", "message": "duplicate node id 'a' (also nodes[0].id)"}
    ]
