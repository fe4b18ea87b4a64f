"""Topology queries: order, cycles, reachability, port routing, and the per-workflow cache."""

from __future__ import annotations

import gc
import itertools
import weakref

import pytest

from linkflow_engine._exceptions import WorkflowValidationError
from linkflow_engine.graph import Connection, Node, Workflow, WorkflowGraph, canonical_port


def _graph(node_ids: str, edges: str) -> WorkflowGraph:
    """``_graph("abc", "a>b b>c")``: one noop node per letter, one connection per pair."""
    nodes = [Node(id=node_id, type="noop") for node_id in node_ids]
    connections = [Connection(source=e[0], target=e[2]) for e in edges.split()]
    return WorkflowGraph.of(Workflow(nodes=nodes, connections=connections))


def test_topological_order_puts_each_node_after_its_inputs() -> None:
    """Every node comes after the nodes that feed it."""
    assert _graph("dcba", "a>b b>c c>d").topological_order() == ["a", "b", "c", "d"]


def test_topological_order_breaks_ties_in_document_order() -> None:
    """Among nodes ready at the same time, the one written first comes first."""
    assert _graph("axcb", "a>b a>c a>x").topological_order() == ["a", "x", "c", "b"]


def test_topological_order_refuses_a_cycle() -> None:
    """Ordering a cyclic graph raises a validation error naming the cycle."""
    with pytest.raises(WorkflowValidationError) as caught:
        _graph("abc", "a>b b>c c>b").topological_order()
    assert caught.value.details == [{"field": "connections", "message": "cycle: b -> c -> b"}]


def test_find_cycle_lists_the_nodes_in_edge_order() -> None:
    """``find_cycle`` gives the nodes of a cycle in the order its edges run."""
    assert _graph("abcd", "a>b b>c c>d d>b").find_cycle() == ["b", "c", "d"]


def test_find_cycle_is_none_for_a_dag() -> None:
    """A graph without cycles has none to find."""
    assert _graph("abcd", "a>b a>c b>d c>d").find_cycle() is None


def test_find_cycle_sees_a_self_loop() -> None:
    """A node connected to itself is a cycle of one."""
    assert _graph("ab", "a>b b>b").find_cycle() == ["b"]


def test_find_cycles_reports_each_separate_cycle() -> None:
    """Two separate cycles are both found, in document order."""
    assert _graph("abcde", "a>b b>a c>d d>e e>c").find_cycles() == [["a", "b"], ["c", "d", "e"]]


def test_downstream_is_strictly_after_the_node() -> None:
    """``downstream`` gives every node reachable from a node, without the node itself."""
    graph = _graph("abcde", "a>b b>c a>d")
    assert graph.downstream("a") == {"b", "c", "d"}
    assert graph.downstream("e") == frozenset()


def test_upstream_is_strictly_before_the_node() -> None:
    """``upstream`` gives every node that reaches a node, without the node itself."""
    assert _graph("abcde", "a>b b>c d>c").upstream("c") == {"a", "b", "d"}


def test_reachable_from_includes_the_start_nodes() -> None:
    """``reachable_from`` gives the start nodes and everything after them."""
    assert _graph("abcde", "a>b b>c d>e").reachable_from(["b", "d"]) == {"b", "c", "d", "e"}


def test_reachability_of_an_unknown_node_is_a_key_error() -> None:
    """Asking about a node id the workflow lacks raises KeyError."""
    graph = _graph("ab", "a>b")
    with pytest.raises(KeyError):
        graph.downstream("zzz")
    with pytest.raises(KeyError):
        graph.reachable_from(["zzz"])


def test_roots_and_leaves_in_document_order() -> None:
    """Roots have no incoming connection, leaves no outgoing one."""
    graph = _graph("cabd", "a>b c>b")
    assert graph.roots() == ["c", "a", "d"]
    assert graph.leaves() == ["b", "d"]


def test_incoming_and_outgoing_keep_document_order() -> None:
    """Each node's connections are listed in the order the document wrote them."""
    graph = _graph("abc", "a>c b>c a>b")
    assert [c.source for c in graph.incoming["c"]] == ["a", "b"]
    assert [c.target for c in graph.outgoing["a"]] == ["c", "b"]
    assert graph.incoming["a"] == ()


def test_dangling_connections_are_left_out_of_the_index() -> None:
    """A connection to a node that does not exist is not an edge of the graph."""
    graph = _graph("ab", "a>b a>z")
    assert [c.target for c in graph.outgoing["a"]] == ["b"]


@pytest.mark.parametrize(
    ("port", "canonical"),
    [("output0", "0"), ("output12", "12"), ("0", "0"), ("output", "output"), ("true", "true")],
)
def test_canonical_port_maps_switch_aliases(port: str, canonical: str) -> None:
    """``output0`` and ``"0"`` name the same switch port; other names are unchanged."""
    assert canonical_port(port) == canonical


def test_outgoing_on_routes_by_port_with_aliases() -> None:
    """``outgoing_on`` gives the connections of one port, whichever alias they were written with."""
    workflow = Workflow(
        nodes=[Node(id=n, type="noop") for n in ("s", "x", "y", "z")],
        connections=[
            Connection(source="s", target="x", source_port="output0"),
            Connection(source="s", target="y", source_port="1"),
            Connection(source="s", target="z", source_port="0"),
        ],
    )
    graph = WorkflowGraph.of(workflow)
    assert [c.target for c in graph.outgoing_on("s", "0")] == ["x", "z"]
    assert [c.target for c in graph.outgoing_on("s", "output1")] == ["y"]
    assert graph.outgoing_on("s", "error") == ()


def test_graph_is_built_once_per_workflow() -> None:
    """``WorkflowGraph.of`` returns the same index for the same workflow object."""
    workflow = Workflow(nodes=[Node(id="a", type="noop")])
    assert WorkflowGraph.of(workflow) is WorkflowGraph.of(workflow)
    assert workflow.graph is WorkflowGraph.of(workflow)


def test_graph_cache_does_not_keep_the_workflow_alive() -> None:
    """A workflow that is no longer used is freed along with its cached graph."""
    workflow = Workflow(nodes=[Node(id="a", type="noop")])
    WorkflowGraph.of(workflow)
    alive = weakref.ref(workflow)
    del workflow
    gc.collect()
    assert alive() is None


def test_long_chains_do_not_hit_the_recursion_limit() -> None:
    """Cycle search and ordering are iterative: a 5,000-node chain is fine."""
    ids = [f"n{i}" for i in range(5000)]
    workflow = Workflow(
        nodes=[Node(id=i, type="noop") for i in ids],
        connections=[Connection(source=a, target=b) for a, b in itertools.pairwise(ids)],
    )
    graph = WorkflowGraph.of(workflow)
    assert graph.find_cycle() is None
    assert graph.topological_order() == ids
