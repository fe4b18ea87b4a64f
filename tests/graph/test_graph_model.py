"""The frozen workflow model: defaults, conveniences, identity hashing."""

from __future__ import annotations

import gc
import weakref

import attrs
import pytest

from linkflow_engine.graph import Connection, Node, Workflow, WorkflowSettings, parse_duration


def _workflow() -> Workflow:
    return Workflow(
        name="wf",
        nodes=[
            Node(id="a", type="manual_trigger", name="Start"),
            Node(id="b", type="noop"),
        ],
        connections=[Connection(source="a", target="b")],
    )


def test_node_defaults_follow_the_reference() -> None:
    """A node's name defaults to its id, retries to 3 after 1000 ms, and nothing is disabled."""
    node = Node(id="n1", type="noop")
    assert node.name == "n1"
    assert node.config == {}
    assert (node.disabled, node.retry_on_fail, node.breakpoint) == (False, False, False)
    assert (node.max_retries, node.retry_delay) == (3, 1000)
    assert (node.timeout, node.on_error) == (None, None)


def test_connection_ports_default_to_output_and_input() -> None:
    """A connection leaves from port "output" and arrives at port "input" unless told otherwise."""
    connection = Connection(source="a", target="b")
    assert (connection.source_port, connection.target_port) == ("output", "input")


def test_settings_defaults_follow_the_design() -> None:
    """Settings default to UTC, stop on error, a 30 minute timeout and 10 nodes at once."""
    settings = WorkflowSettings()
    assert settings.timezone == "UTC"
    assert settings.error_handling == "stop"
    assert settings.timeout == 1800
    assert settings.max_concurrency == 10
    assert settings.save_execution_progress is True


def test_settings_timeout_accepts_duration_text() -> None:
    """``WorkflowSettings(timeout="1h")`` stores the timeout in seconds."""
    assert WorkflowSettings(timeout="1h").timeout == 3600


def test_timeout_text_is_presentation_only() -> None:
    """Settings with the same timeout are equal whether it was written "30m" or 1800."""
    assert WorkflowSettings(timeout="30m", timeout_text="30m") == WorkflowSettings(timeout=1800)


def test_public_names_are_pinned() -> None:
    """``linkflow_engine.graph`` exports exactly the documented names, sorted."""
    import linkflow_engine.graph as graph

    assert graph.__all__ == sorted(graph.__all__)
    assert set(graph.__all__) == {
        "Connection",
        "ErrorHandling",
        "Node",
        "NodeTypeCatalog",
        "OnError",
        "Workflow",
        "WorkflowGraph",
        "WorkflowSettings",
        "WorkflowStatus",
        "canonical_port",
        "parse_duration",
        "validate_workflow",
        "workflow_schema",
    }


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("500ms", 0.5), ("30s", 30), ("30m", 1800), ("1h", 3600), ("1d", 86400), ("45", 45), (2, 2)],
)
def test_parse_duration_reads_units(text: str | float, seconds: float) -> None:
    """Durations are numbers of seconds or text with a unit among ms, s, m, h, d."""
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["3 weeks", "", "-5s", -1, True, "1h30m"])
def test_parse_duration_rejects_anything_else(bad: str | float) -> None:
    """Unknown units, negative durations and booleans are not durations."""
    with pytest.raises(ValueError, match="duration"):
        parse_duration(bad)


def test_model_rejects_unknown_enumerated_values() -> None:
    """Statuses, onError and errorHandling values outside the documented sets are refused."""
    with pytest.raises(ValueError, match="status"):
        Workflow(status="running")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="on_error"):
        Node(id="a", type="noop", on_error="ignore")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="error_handling"):
        WorkflowSettings(error_handling="panic")  # type: ignore[arg-type]


def test_model_is_frozen() -> None:
    """Models cannot be changed in place; ``attrs.evolve`` makes a changed copy."""
    node = Node(id="a", type="noop")
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        node.disabled = True  # type: ignore[misc]
    assert attrs.evolve(node, disabled=True).disabled is True


def test_workflows_compare_by_value() -> None:
    """Two workflows built from the same values are equal."""
    assert _workflow() == _workflow()
    assert _workflow() != attrs.evolve(_workflow(), name="other")


def test_workflows_hash_by_identity() -> None:
    """A workflow holding dicts hashes by identity: equal copies are distinct keys."""
    first, second = _workflow(), _workflow()
    assert hash(first) == hash(first)
    assert len({first, second}) == 2


def test_workflow_can_key_a_weak_key_dictionary() -> None:
    """The executor caches per-workflow data in a WeakKeyDictionary keyed by the workflow."""
    cache: weakref.WeakKeyDictionary[Workflow, int] = weakref.WeakKeyDictionary()
    workflow = _workflow()
    cache[workflow] = 1
    assert cache[workflow] == 1
    del workflow
    gc.collect()
    assert len(cache) == 0


def test_node_lookup_by_id() -> None:
    """``workflow.node(id)`` finds a node and raises KeyError for an unknown id."""
    workflow = _workflow()
    assert workflow.node("b").type == "noop"
    with pytest.raises(KeyError):
        workflow.node("zzz")


def test_node_lookup_by_name() -> None:
    """``workflow.node_by_name(name)`` finds a node and raises KeyError for an unknown name."""
    workflow = _workflow()
    assert workflow.node_by_name("Start").id == "a"
    with pytest.raises(KeyError):
        workflow.node_by_name("Nobody")


def test_trigger_nodes_asks_the_given_predicate() -> None:
    """``trigger_nodes`` keeps the nodes the predicate calls triggers, in document order."""
    workflow = _workflow()
    triggers = workflow.trigger_nodes(lambda node: node.type.endswith("_trigger"))
    assert [node.id for node in triggers] == ["a"]


def test_nodes_and_connections_become_tuples() -> None:
    """Lists given for nodes and connections are stored as tuples."""
    workflow = _workflow()
    assert isinstance(workflow.nodes, tuple)
    assert isinstance(workflow.connections, tuple)
