"""Topology of a workflow: a frozen index of its edges and pure queries over it.

``WorkflowGraph.of(workflow)`` builds the index once per workflow object and caches it beside the
workflow (weakly, so the cache never keeps a workflow alive). Only connections whose two ends are
nodes of the workflow are indexed; ``validate_workflow`` reports the others.
"""

from __future__ import annotations

import heapq
import re
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING

import attrs

from .._exceptions import WorkflowValidationError

if TYPE_CHECKING:
    from ._model import Connection, Node, Workflow

__all__ = ["WorkflowGraph", "canonical_port", "format_cycle"]

_NUMBERED_OUTPUT = re.compile(r"^output(\d+)$")


def canonical_port(port: str) -> str:
    """The canonical name of a port: switch's ``output0``, ``output1``… are ``"0"``, ``"1"``…"""
    match = _NUMBERED_OUTPUT.match(port)
    return match[1] if match else port


def format_cycle(cycle: list[str]) -> str:
    """``["A", "B"]`` -> ``"cycle: A -> B -> A"``."""
    return "cycle: " + " -> ".join([*cycle, cycle[0]])


# The graphs of live workflows. Weak keys: a workflow that is gone takes its graph with it.
_GRAPHS: weakref.WeakKeyDictionary[Workflow, WorkflowGraph] = weakref.WeakKeyDictionary()


@attrs.frozen(kw_only=True, eq=False)
class WorkflowGraph:
    """The edges of one workflow, indexed by node id, each list in document order.

    Build it with ``WorkflowGraph.of(workflow)``. It holds no reference to the workflow itself,
    so that caching it by workflow does not keep the workflow alive.
    """

    nodes: Mapping[str, Node]
    """Node id -> node, in document order (the first node wins a duplicated id)."""
    incoming: Mapping[str, tuple[Connection, ...]]
    outgoing: Mapping[str, tuple[Connection, ...]]
    _routes: Mapping[tuple[str, str], tuple[Connection, ...]]

    @classmethod
    def of(cls, workflow: Workflow) -> WorkflowGraph:
        """The graph of ``workflow``, built on first use and cached for the workflow object."""
        graph = _GRAPHS.get(workflow)
        if graph is None:
            graph = _GRAPHS[workflow] = cls._build(workflow)
        return graph

    @classmethod
    def _build(cls, workflow: Workflow) -> WorkflowGraph:
        nodes: dict[str, Node] = {}
        for node in workflow.nodes:
            nodes.setdefault(node.id, node)
        incoming: dict[str, list[Connection]] = {node_id: [] for node_id in nodes}
        outgoing: dict[str, list[Connection]] = {node_id: [] for node_id in nodes}
        routes: dict[tuple[str, str], list[Connection]] = {}
        for connection in workflow.connections:
            if connection.source in nodes and connection.target in nodes:
                outgoing[connection.source].append(connection)
                incoming[connection.target].append(connection)
                route = (connection.source, canonical_port(connection.source_port))
                routes.setdefault(route, []).append(connection)
        return cls(
            nodes=nodes,
            incoming={key: tuple(value) for key, value in incoming.items()},
            outgoing={key: tuple(value) for key, value in outgoing.items()},
            routes={key: tuple(value) for key, value in routes.items()},
        )

    def outgoing_on(self, node_id: str, port: str) -> tuple[Connection, ...]:
        """The connections that leave ``node_id`` from ``port`` (``output0`` and ``"0"`` agree)."""
        return self._routes.get((node_id, canonical_port(port)), ())

    def successors(self, node_id: str) -> list[str]:
        """The ids of the nodes ``node_id`` feeds directly, each once, in connection order."""
        return list(dict.fromkeys(c.target for c in self.outgoing[node_id]))

    def predecessors(self, node_id: str) -> list[str]:
        """The ids of the nodes feeding ``node_id`` directly, each once, in connection order."""
        return list(dict.fromkeys(c.source for c in self.incoming[node_id]))

    def roots(self) -> list[str]:
        """The nodes without an incoming connection, in document order."""
        return [node_id for node_id, edges in self.incoming.items() if not edges]

    def leaves(self) -> list[str]:
        """The nodes without an outgoing connection, in document order."""
        return [node_id for node_id, edges in self.outgoing.items() if not edges]

    def downstream(self, node_id: str) -> frozenset[str]:
        """Every node reachable from ``node_id`` (itself only if it is on a cycle)."""
        return self._closure(self.successors(node_id), self.successors)

    def upstream(self, node_id: str) -> frozenset[str]:
        """Every node from which ``node_id`` is reachable (itself only if it is on a cycle)."""
        return self._closure(self.predecessors(node_id), self.predecessors)

    def reachable_from(self, node_ids: Iterable[str]) -> frozenset[str]:
        """``node_ids`` and every node reachable from them."""
        start = list(node_ids)
        for node_id in start:
            if node_id not in self.nodes:
                raise KeyError(node_id)
        return self._closure(start, self.successors) | frozenset(start)

    def _closure(self, start: list[str], step: Callable[[str], list[str]]) -> frozenset[str]:
        seen: set[str] = set()
        stack = list(start)
        while stack:
            node_id = stack.pop()
            if node_id not in seen:
                seen.add(node_id)
                stack.extend(step(node_id))
        return frozenset(seen)

    def topological_order(self) -> list[str]:
        """Every node once, each after the nodes that feed it; ties go in document order.

        Raises ``WorkflowValidationError`` (field ``connections``) if the graph has a cycle.
        """
        rank = {node_id: index for index, node_id in enumerate(self.nodes)}
        waiting = {node_id: len(self.predecessors(node_id)) for node_id in self.nodes}
        ready = [rank[node_id] for node_id, count in waiting.items() if count == 0]
        heapq.heapify(ready)
        order: list[str] = []
        ids = list(self.nodes)
        while ready:
            node_id = ids[heapq.heappop(ready)]
            order.append(node_id)
            for child in self.successors(node_id):
                waiting[child] -= 1
                if waiting[child] == 0:
                    heapq.heappush(ready, rank[child])
        if len(order) < len(self.nodes):
            cycle = self.find_cycle() or []
            raise WorkflowValidationError(
                [{"field": "connections", "message": format_cycle(cycle)}]
            )
        return order

    def find_cycle(self) -> list[str] | None:
        """The nodes of one cycle in edge order (first node not repeated), or ``None``."""
        cycles = self.find_cycles()
        return cycles[0] if cycles else None

    def find_cycles(self) -> list[list[str]]:
        """One cycle per strongly connected component that has one, in document order."""
        return [self._cycle_within(component) for component in self._cyclic_components()]

    def _cyclic_components(self) -> list[set[str]]:
        rank = {node_id: index for index, node_id in enumerate(self.nodes)}
        components = _strongly_connected(self.nodes, self.successors)
        cyclic = [c for c in components if len(c) > 1 or _has_self_loop(self, next(iter(c)))]
        return sorted(cyclic, key=lambda component: min(rank[n] for n in component))

    def _cycle_within(self, component: set[str]) -> list[str]:
        # Every node of a strongly connected component is on a cycle through its first node.
        start = next(node_id for node_id in self.nodes if node_id in component)
        parent: dict[str, str] = {}
        stack = [start]
        while stack:
            node_id = stack.pop()
            for child in self.successors(node_id):
                if child == start:
                    return _path_to(parent, node_id, start)
                if child in component and child not in parent:
                    parent[child] = node_id
                    stack.append(child)
        raise AssertionError("a strongly connected component always holds a cycle")


def _path_to(parent: Mapping[str, str], last: str, start: str) -> list[str]:
    path = [last]
    while path[-1] != start:
        path.append(parent[path[-1]])
    return path[::-1]


def _has_self_loop(graph: WorkflowGraph, node_id: str) -> bool:
    return node_id in graph.successors(node_id)


def _strongly_connected(
    node_ids: Iterable[str], successors: Callable[[str], list[str]]
) -> list[set[str]]:
    """Tarjan's algorithm, iterative so that a long chain cannot exhaust the recursion limit."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def visit(node_id: str) -> None:
        index[node_id] = low[node_id] = len(index)
        stack.append(node_id)
        on_stack.add(node_id)
        work.append((node_id, iter(successors(node_id))))

    for root in node_ids:
        if root in index:
            continue
        work: list[tuple[str, Iterator[str]]] = []
        visit(root)
        while work:
            node_id, children = work[-1]
            for child in children:
                if child not in index:
                    visit(child)
                    break
                if child in on_stack:
                    low[node_id] = min(low[node_id], index[child])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node_id])
                if low[node_id] == index[node_id]:
                    components.append(_pop_component(stack, on_stack, node_id))
    return components


def _pop_component(stack: list[str], on_stack: set[str], root: str) -> set[str]:
    component: set[str] = set()
    while not component or root not in component:
        member = stack.pop()
        on_stack.discard(member)
        component.add(member)
    return component
