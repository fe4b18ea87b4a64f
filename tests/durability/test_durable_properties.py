"""Properties of durable runs over random DAGs (Hypothesis): what is stored is what ran."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from linkflow_engine import Engine, NodeContext, NodeRegistry
from linkflow_engine.storage.sqlite import SQLiteStorage

PORTS = ("a", "b")


def make_registry() -> NodeRegistry:
    registry = NodeRegistry()

    @registry.register("step")
    async def step(ctx: NodeContext) -> Any:
        await anyio.lowlevel.checkpoint()  # let parallel branches interleave
        return {"by": ctx.node.id, "seen": sorted(ctx.inputs)}

    @registry.register("branch", outputs=PORTS)
    async def branch(ctx: NodeContext) -> None:
        await anyio.lowlevel.checkpoint()
        for port in ctx.config["ports"]:
            ctx.emit(port, {"port": port})
        ctx.emit_nothing()

    return registry


REGISTRY = make_registry()


@st.composite
def random_dags(draw: st.DrawFn) -> dict[str, Any]:
    size = draw(st.integers(min_value=1, max_value=10))
    nodes: list[dict[str, Any]] = [{"id": "n0", "type": "manual_trigger", "name": "n0"}]
    for index in range(1, size):
        kind = draw(st.sampled_from(["step", "branch"]))
        config = {"ports": draw(st.lists(st.sampled_from(PORTS), unique=True, max_size=2))}
        nodes.append(
            {
                "id": f"n{index}",
                "type": kind,
                "name": f"n{index}",
                **({"config": config} if kind == "branch" else {}),
            }
        )
    connections = []
    for target in range(1, size):
        sources = draw(st.lists(st.integers(0, target - 1), unique=True, min_size=1, max_size=3))
        for source in sources:
            port = draw(st.sampled_from(PORTS)) if nodes[source]["type"] == "branch" else "output"
            connections.append({"source": f"n{source}", "target": f"n{target}", "sourcePort": port})
    concurrency = draw(st.integers(min_value=1, max_value=4))
    return {
        "id": "wf-random",
        "name": "random",
        "nodes": nodes,
        "connections": connections,
        "settings": {"maxConcurrency": concurrency},
    }


async def run_and_read(doc: dict[str, Any], path: Path) -> tuple[Any, Any, list[Any], list[Any]]:
    async with Engine(SQLiteStorage(path), REGISTRY) as engine:
        heard: list[dict[str, Any]] = []
        with engine.subscribe(lambda event: heard.append(event.to_dict()), inline=True):
            execution = await engine.execute(doc, {"x": 1})
        unheard = await engine.execute(doc, {"x": 1})
    async with Engine(SQLiteStorage(path), REGISTRY) as reader:  # as another process would
        stored = await reader.get_execution(execution.id, include_data=True)
        replayed = [e.data for e in await reader.storage.list_events(execution.id)]
        replayed_unheard = [e.data for e in await reader.storage.list_events(unheard.id)]
    return execution, stored, [heard, replayed], [unheard, replayed_unheard]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_dags())
def test_a_durable_run_stores_every_node_run_and_replays_what_was_heard(
    doc: dict[str, Any],
) -> None:
    """On SQLite, whatever the graph and its concurrency: every node run is stored as the run
    recorded it (the last one with the end), and the replay equals what a subscriber heard,
    or, unheard, says the same types and node outputs."""
    with tempfile.TemporaryDirectory() as tmp:
        execution, stored, (heard, replayed), (unheard, replayed_unheard) = anyio.run(
            run_and_read, doc, Path(tmp) / "linkflow.db"
        )
    runs = [(r.node_id, r.status, r.output, r.port) for r in execution.node_executions]
    assert [(r.node_id, r.status, r.output, r.port) for r in stored.node_executions] == runs
    assert stored.status is execution.status
    assert [entry.message for entry in stored.logs] == [entry.message for entry in execution.logs]
    assert replayed == heard
    by_id = {r.node_id: r for r in stored.node_executions}
    for event in replayed:  # the payloads docs/websocket.md gives them, from the stored runs
        if event["type"] not in ("execution.node.started", "execution.node.completed"):
            continue
        run = by_id[event["payload"]["nodeId"]]
        if event["type"] == "execution.node.completed":
            assert event["payload"] == {
                "nodeId": run.node_id,
                "nodeName": run.node_name,
                "port": run.port,
                "output": run.output,
                "duration": run.duration,
            }
        else:
            assert event["payload"] == {"nodeId": run.node_id, "nodeName": run.node_name}
    assert [e["type"] for e in replayed_unheard] == [e["type"] for e in heard]
    outputs = {
        e["payload"]["nodeId"]: e["payload"]["output"]
        for e in replayed_unheard
        if e["type"] == "execution.node.completed"
    }
    assert outputs == {
        r.node_id: r.output for r in unheard.node_executions if r.status.value == "completed"
    }
