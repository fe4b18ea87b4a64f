"""Properties over random documents and graphs: round trips, ordering, cycle reports."""

from __future__ import annotations

import itertools
import json
import string
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from linkflow_engine._exceptions import WorkflowValidationError
from linkflow_engine.graph import (
    Connection,
    Node,
    Workflow,
    WorkflowGraph,
    WorkflowSettings,
    validate_workflow,
)

ids = st.text(string.ascii_letters + string.digits + "-_", min_size=1, max_size=6)
short_text = st.text(max_size=8)
# Workflow and node names are stored as text, which holds no NUL character (the schema refuses
# one, and lone surrogates, which the utf-8 codec leaves out).
names = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=8)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**6), 10**6)
    | st.floats(allow_nan=False, allow_infinity=False)
    | short_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(short_text, inner, max_size=3),
    max_leaves=6,
)
json_objects = st.dictionaries(short_text, json_values, max_size=3)
# Keys that no level of the document knows, so they must land in ``extra``.
unknown_fields = st.dictionaries(st.sampled_from(["x-ui", "color", "meta", "tags"]), json_values)
durations = st.sampled_from(["500ms", "30s", "30m", "1h", "1d", "45", "1.5h"])
optional_ints = st.none() | st.integers(1, 10**6)


def _with_unknown_fields(
    docs: st.SearchStrategy[dict[str, Any]],
) -> st.SearchStrategy[dict[str, Any]]:
    return st.tuples(docs, unknown_fields).map(lambda pair: {**pair[1], **pair[0]})


node_docs = st.fixed_dictionaries(
    {
        "id": ids,
        "type": st.sampled_from(["noop", "set", "http_request", "manual_trigger"]),
        "config": json_objects,
    },
    optional={
        "name": names,
        "position": st.none() | st.fixed_dictionaries({"x": st.integers(), "y": st.integers()}),
        "disabled": st.booleans(),
        "retryOnFail": st.booleans(),
        "maxRetries": st.integers(0, 10),
        "retryDelay": st.integers(0, 10**6),
        "timeout": optional_ints,
        "onError": st.sampled_from(["stop", "continue", "errorOutput", None]),
        "breakpoint": st.booleans(),
        "pinnedData": json_values,
        "notes": st.none() | short_text,
    },
)
connection_docs = st.fixed_dictionaries(
    {
        "source": ids,
        "target": ids,
        "sourcePort": st.sampled_from(["output", "true", "0", "output1", "error"]),
        "targetPort": st.sampled_from(["input", "left"]),
    },
    optional={"id": st.none() | ids, "condition": st.none() | short_text},
)
settings_docs = st.fixed_dictionaries(
    {},
    optional={
        "timezone": st.sampled_from(["UTC", "Europe/Paris"]),
        "errorHandling": st.sampled_from(["stop", "continue", "retry"]),
        "timeout": durations | st.integers(0, 10**5) | st.floats(0, 10**5),
        "maxConcurrency": st.integers(1, 100),
        "saveExecutionProgress": st.booleans(),
        "staticData": json_objects,
    },
)
workflow_docs = _with_unknown_fields(
    st.fixed_dictionaries(
        {
            "name": names,
            "nodes": st.lists(_with_unknown_fields(node_docs), max_size=4),
            "connections": st.lists(_with_unknown_fields(connection_docs), max_size=4),
        },
        optional={
            "id": st.none() | ids,
            "description": st.none() | short_text,
            "status": st.sampled_from(["draft", "active", "inactive", "archived"]),
            "settings": _with_unknown_fields(settings_docs),
            "version": st.integers(1, 100),
            "createdAt": st.none() | st.just("2024-01-15T10:00:00Z"),
            "updatedAt": st.none() | st.just("2024-01-15T10:00:00Z"),
        },
    )
)


@st.composite
def workflows(draw: st.DrawFn) -> Workflow:
    """Workflows built in Python (no source document), with unknown fields."""
    nodes = draw(st.lists(_nodes(), max_size=4))
    connections = draw(st.lists(_connections(), max_size=4))
    timeout_text = draw(st.none() | durations)
    settings = WorkflowSettings(
        timezone=draw(st.sampled_from(["UTC", "Asia/Tokyo"])),
        error_handling=draw(st.sampled_from(["stop", "continue", "retry"])),
        timeout=timeout_text if timeout_text is not None else draw(st.floats(0, 10**5)),
        timeout_text=timeout_text,
        max_concurrency=draw(st.integers(1, 50)),
        static_data=draw(json_objects),
        extra=draw(unknown_fields),
    )
    return Workflow(
        id=draw(st.none() | ids),
        name=draw(names),
        description=draw(st.none() | short_text),
        status=draw(st.sampled_from(["draft", "active", "inactive", "archived"])),
        nodes=nodes,
        connections=connections,
        settings=settings,
        version=draw(st.integers(1, 9)),
        extra=draw(unknown_fields),
    )


def _nodes() -> st.SearchStrategy[Node]:
    return st.builds(
        Node,
        id=ids,
        type=st.sampled_from(["noop", "set"]),
        name=names,
        config=json_objects,
        disabled=st.booleans(),
        max_retries=st.integers(0, 9),
        timeout=optional_ints,
        on_error=st.sampled_from(["stop", "continue", "errorOutput", None]),
        pinned_data=json_values,
        extra=unknown_fields,
    )


def _connections() -> st.SearchStrategy[Connection]:
    return st.builds(
        Connection,
        id=st.none() | ids,
        source=ids,
        target=ids,
        source_port=st.sampled_from(["output", "false", "output3"]),
        condition=st.none() | short_text,
        extra=unknown_fields,
    )


@given(workflow_docs)
def test_canonical_documents_round_trip_unchanged(doc: dict[str, Any]) -> None:
    """Reading then writing a canonical document, unknown fields included, gives it back."""
    assert Workflow.from_dict(doc).to_dict() == doc


@given(workflows())
def test_workflows_round_trip_through_their_documents(workflow: Workflow) -> None:
    """Writing a workflow and reading the document back gives an equal workflow."""
    assert Workflow.from_dict(workflow.to_dict()) == workflow


@given(workflows())
def test_workflow_documents_survive_json(workflow: Workflow) -> None:
    """A workflow's document goes through JSON text and back to an equal workflow."""
    text = json.dumps(workflow.to_dict())
    assert Workflow.from_dict(json.loads(text)) == workflow


@given(st.dictionaries(st.sampled_from(["name", "nodes", "connections", "settings"]), json_values))
def test_any_document_is_read_or_gets_a_clear_error(doc: dict[str, Any]) -> None:
    """Any JSON object either reads as a workflow or fails with fields and messages."""
    try:
        Workflow.from_dict(doc)
    except WorkflowValidationError as error:
        details = error.details
    else:
        return
    assert details
    assert all(d["field"] and d["message"] for d in details)


Dag = tuple[list[str], list[tuple[str, str]]]


@st.composite
def dags(draw: st.DrawFn) -> Dag:
    """Node ids in a random document order and edges that follow a hidden random order."""
    count = draw(st.integers(1, 12))
    ranked = draw(st.permutations([f"n{i}" for i in range(count)]))
    pairs = st.tuples(st.integers(0, count - 1), st.integers(0, count - 1))
    edges = [(ranked[min(a, b)], ranked[max(a, b)]) for a, b in draw(st.lists(pairs)) if a != b]
    return draw(st.permutations(ranked)), edges


def _workflow(node_ids: list[str], edges: list[tuple[str, str]]) -> Workflow:
    return Workflow(
        nodes=[Node(id=node_id, type="noop") for node_id in node_ids],
        connections=[Connection(source=a, target=b) for a, b in edges],
    )


@given(dags())
def test_topological_order_respects_every_edge(
    dag: tuple[list[str], list[tuple[str, str]]],
) -> None:
    """For a random DAG, the order holds each node once and every source before its target."""
    node_ids, edges = dag
    order = WorkflowGraph.of(_workflow(node_ids, edges)).topological_order()
    assert sorted(order) == sorted(node_ids)
    position = {node_id: index for index, node_id in enumerate(order)}
    assert all(position[a] < position[b] for a, b in edges)


@given(dags(), st.data())
def test_reported_cycles_are_real_cycles(dag: Dag, data: st.DataObject) -> None:
    """With a back edge added, validation reports cycles whose listed nodes form cycles."""
    node_ids, edges = dag
    back = data.draw(st.sampled_from(edges)) if edges else (node_ids[0], node_ids[0])
    edges = [*edges, (back[1], back[0])]
    try:
        validate_workflow(_workflow(node_ids, edges))
    except WorkflowValidationError as error:
        cycles = [d["message"] for d in error.details if d["field"] == "connections"]
    else:
        raise AssertionError("a cycle went unreported")
    assert cycles
    edge_set = set(edges)
    for message in cycles:
        on_cycle = message.removeprefix("cycle: ").split(" -> ")
        assert on_cycle[0] == on_cycle[-1]
        assert all(pair in edge_set for pair in itertools.pairwise(on_cycle))
