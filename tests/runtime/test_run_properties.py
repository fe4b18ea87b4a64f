"""Properties of the executor over random DAGs of pass-through and branch nodes (Hypothesis)."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from linkflow_engine import NodeContext, NodeRegistry, NodeStatus, run_workflow

PORTS = ("a", "b")


def make_registry() -> NodeRegistry:
    registry = NodeRegistry()

    @registry.register("pass")
    async def pass_through(ctx: NodeContext) -> Any:
        return {}

    @registry.register("branch", outputs=PORTS)
    async def branch(ctx: NodeContext) -> None:
        for port in ctx.config["ports"]:
            ctx.emit(port, {})
        ctx.emit_nothing()

    return registry


REGISTRY = make_registry()


@st.composite
def random_dags(draw: st.DrawFn) -> dict[str, Any]:
    size = draw(st.integers(min_value=1, max_value=12))
    nodes: list[dict[str, Any]] = [{"id": "n0", "type": "manual_trigger"}]
    for index in range(1, size):
        if draw(st.booleans()):
            ports = draw(st.lists(st.sampled_from(PORTS), unique=True, max_size=2))
            nodes.append({"id": f"n{index}", "type": "branch", "config": {"ports": ports}})
        else:
            nodes.append({"id": f"n{index}", "type": "pass"})
    connections = []
    for target in range(1, size):
        sources = draw(st.lists(st.integers(0, target - 1), unique=True, max_size=3))
        for source in sources:
            port = draw(st.sampled_from(PORTS)) if nodes[source]["type"] == "branch" else "output"
            connections.append({"source": f"n{source}", "target": f"n{target}", "sourcePort": port})
    return {"id": "wf-random", "name": "random", "nodes": nodes, "connections": connections}


def expected_statuses(doc: dict[str, Any]) -> dict[str, str]:
    """Simulate the documented rules: a node runs iff some active connection reaches it."""
    status: dict[str, str] = {}
    emits: dict[str, set[str]] = {}
    for node in doc["nodes"]:
        incoming = [c for c in doc["connections"] if c["target"] == node["id"]]
        active = [
            c
            for c in incoming
            if status.get(c["source"]) == "completed" and c["sourcePort"] in emits[c["source"]]
        ]
        if node["type"] == "manual_trigger" or active:
            status[node["id"]] = "completed"
            ports = node.get("config", {}).get("ports")
            emits[node["id"]] = set(ports) if node["type"] == "branch" else {"output"}
        else:
            status[node["id"]] = "skipped"
            emits[node["id"]] = set()
    return status


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_dags())
def test_random_dags_run_each_node_once_after_its_inputs_and_skip_exactly_unreached(
    doc: dict[str, Any],
) -> None:
    """Every node runs at most once, never before its inputs settled, skipped iff unreached."""
    execution = run_workflow(doc, registry=REGISTRY)
    records = {r.node_id: r for r in execution.node_executions}
    assert len(records) == len(execution.node_executions) == len(doc["nodes"])
    assert {k: r.status.value for k, r in records.items()} == expected_statuses(doc)
    for conn in doc["connections"]:
        source, target = records[conn["source"]], records[conn["target"]]
        if target.status is NodeStatus.COMPLETED:
            assert source.sequence < target.sequence
            if source.status is NodeStatus.COMPLETED:
                assert source.finished_at is not None
                assert target.started_at is not None
                assert source.finished_at <= target.started_at
