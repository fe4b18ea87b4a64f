"""Loops, merges, batches, concurrency."""

from __future__ import annotations

from typing import Any

import anyio

from builders import conn, node, workflow
from linkflow_engine import (
    Engine,
    ExecutionStatus,
    NodeContext,
    NodeRegistry,
    NodeStatus,
    run_workflow,
)
from linkflow_engine.testing import capture_events


def loop_doc(**loop_config: Any) -> dict[str, Any]:
    return workflow(
        node("start", "manual_trigger"),
        node("each", "loop", config={"items": "{{ $input.rows }}", **loop_config}),
        node(
            "double",
            "set",
            config={
                "values": {
                    "n": "{{ $item.n * 2 }}",
                    "index": "{{ $index }}",
                    "first": "{{ $first }}",
                    "last": "{{ $last }}",
                },
                "keepOnlySet": True,
            },
        ),
        node("after", "noop"),
        connections=[
            conn("start", "each"),
            conn("each", "double", sourcePort="loop"),
            conn("each", "after", sourcePort="done"),
        ],
    )


def test_loop_runs_its_body_once_per_item_and_emits_results_on_done() -> None:
    """The body runs per item with $item/$index/$first/$last; done gets every result."""
    execution = run_workflow(loop_doc(), {"rows": [{"n": 1}, {"n": 2}, {"n": 3}]})
    assert execution.status is ExecutionStatus.COMPLETED
    assert execution.node("after").output == [
        {"n": 2, "index": 0, "first": True, "last": False},
        {"n": 4, "index": 1, "first": False, "last": False},
        {"n": 6, "index": 2, "first": False, "last": True},
    ]
    body_runs = [r for r in execution.node_executions if r.node_id == "double"]
    assert [r.iteration for r in body_runs] == [0, 1, 2]
    assert "double" not in execution.outputs


def test_parallel_loop_gives_results_in_item_order() -> None:
    """parallel: iterations run concurrently, results keep item order."""
    registry = NodeRegistry()
    running = {"now": 0, "peak": 0}

    @registry.register("slow_echo")
    async def slow_echo(ctx: NodeContext) -> Any:
        running["now"] += 1
        running["peak"] = max(running["peak"], running["now"])
        await anyio.sleep(0.02 * (3 - ctx.input))
        running["now"] -= 1
        return ctx.input * 10

    doc = workflow(
        node("start", "manual_trigger"),
        node("each", "loop", config={"items": [0, 1, 2], "parallel": True}),
        node("body", "slow_echo"),
        node("after", "noop"),
        connections=[
            conn("start", "each"),
            conn("each", "body", sourcePort="loop"),
            conn("each", "after", sourcePort="done"),
        ],
    )
    execution = run_workflow(doc, registry=registry)
    assert execution.node("after").output == [0, 10, 20]
    assert running["peak"] == 3


def test_loop_batches() -> None:
    """batchSize groups items; $item is the batch."""
    doc = workflow(
        node("start", "manual_trigger"),
        node("each", "loop", config={"items": [1, 2, 3, 4, 5], "batchSize": 2}),
        node(
            "count", "set", config={"values": {"size": "{{ $item.length }}"}, "keepOnlySet": True}
        ),
        node("after", "noop"),
        connections=[
            conn("start", "each"),
            conn("each", "count", sourcePort="loop"),
            conn("each", "after", sourcePort="done"),
        ],
    )
    assert run_workflow(doc).node("after").output == [{"size": 2}, {"size": 2}, {"size": 1}]


def test_loop_over_a_non_array_fails_naming_the_field() -> None:
    """A loop whose items are not an array fails with a message naming config.items."""
    execution = run_workflow(loop_doc(), {"rows": "nope"})
    assert execution.status is ExecutionStatus.FAILED
    assert execution.error is not None and "config.items" in execution.error.message


def test_skipped_loop_skips_its_body() -> None:
    """When a loop is skipped, its body nodes are recorded skipped too."""
    doc = loop_doc()
    doc["nodes"].insert(1, node("gate", "if", config={"condition": False}))
    doc["connections"][0] = conn("start", "gate")
    doc["connections"].append(conn("gate", "each", sourcePort="true"))
    execution = run_workflow(doc, {"rows": []})
    assert execution.node("each").status is NodeStatus.SKIPPED
    assert execution.node("double").status is NodeStatus.SKIPPED


def test_split_in_batches_outputs_the_batches() -> None:
    """split_in_batches outputs the array cut into batches."""
    doc = workflow(
        node("start", "manual_trigger"),
        node("split", "split_in_batches", config={"items": "{{ $input.v }}", "batchSize": 2}),
    )
    assert run_workflow(doc, {"v": [1, 2, 3]}).node("split").output == [[1, 2], [3]]


def merge_doc(mode: str, **extra: Any) -> dict[str, Any]:
    return workflow(
        node("start", "manual_trigger"),
        node("a", "set", config={"values": {"a": [1, 2]}, "keepOnlySet": True}),
        node("b", "set", config={"values": {"b": [3]}, "keepOnlySet": True}),
        node("m", "merge", config={"mode": mode, **extra}),
        connections=[conn("start", "a"), conn("start", "b"), conn("a", "m"), conn("b", "m")],
    )


def test_merge_combine_merges_objects() -> None:
    """merge combine: the inputs' objects merged."""
    assert run_workflow(merge_doc("combine")).node("m").output == {"a": [1, 2], "b": [3]}


def test_merge_append_concatenates_in_connection_order() -> None:
    """merge append: arrays concatenated (non-arrays appended as items)."""
    assert run_workflow(merge_doc("append")).node("m").output == [{"a": [1, 2]}, {"b": [3]}]


def test_merge_choose_branch_without_waiting_takes_the_first_to_finish() -> None:
    """merge chooseBranch with waitForAll false runs once, on the first input that arrives."""
    registry = NodeRegistry()

    @registry.register("delay")
    async def delay(ctx: NodeContext) -> Any:
        await anyio.sleep(ctx.config["seconds"])
        return {"from": ctx.node.id}

    doc = workflow(
        node("start", "manual_trigger"),
        node("slow", "delay", config={"seconds": 0.2}),
        node("fast", "delay", config={"seconds": 0.0}),
        node("m", "merge", config={"mode": "chooseBranch", "waitForAll": False}),
        connections=[
            conn("start", "slow"),
            conn("start", "fast"),
            conn("slow", "m"),
            conn("fast", "m"),
        ],
    )
    execution = run_workflow(doc, registry=registry)
    assert execution.node("m").output == {"from": "fast"}
    assert [r.node_id for r in execution.node_executions].count("m") == 1


def _tracking_registry() -> tuple[NodeRegistry, dict[str, int]]:
    """A registry with a ``track`` node (10 ms of work) and the peak of them running at once."""
    registry = NodeRegistry()
    running = {"now": 0, "peak": 0}

    @registry.register("track")
    async def track(ctx: NodeContext) -> Any:
        running["now"] += 1
        running["peak"] = max(running["peak"], running["now"])
        await anyio.sleep(0.01)
        running["now"] -= 1
        return {}

    return registry, running


def test_max_concurrency_bounds_parallel_nodes() -> None:
    """At most settings.maxConcurrency nodes run at once."""
    registry, running = _tracking_registry()
    fan = [node(f"w{i}", "track") for i in range(8)]
    doc = workflow(
        node("start", "manual_trigger"),
        *fan,
        connections=[conn("start", f"w{i}") for i in range(8)],
        settings={"maxConcurrency": 3},
    )
    assert run_workflow(doc, registry=registry).status is ExecutionStatus.COMPLETED
    assert running["peak"] == 3


def _tracked_parallel_loop(
    max_concurrency: int,
) -> tuple[dict[str, Any], NodeRegistry, dict[str, int]]:
    """A parallel loop over 6 items whose body fans out to two tracked nodes per item."""
    registry, running = _tracking_registry()
    doc = workflow(
        node("start", "manual_trigger"),
        node("each", "loop", config={"items": list(range(6)), "parallel": True}),
        node("a", "track"),
        node("b", "track"),
        connections=[
            conn("start", "each"),
            conn("each", "a", sourcePort="loop"),
            conn("each", "b", sourcePort="loop"),
        ],
        settings={"maxConcurrency": max_concurrency},
    )
    return doc, registry, running


def test_max_concurrency_bounds_the_whole_execution_loop_bodies_included() -> None:
    """maxConcurrency counts node runs across the execution: parallel loop iterations, each
    fanning out, never run more nodes at once than it allows (the loop node itself, which only
    waits for its body, takes no slot, so a limit of 1 runs the body one node at a time)."""
    for limit in (3, 1):
        doc, registry, running = _tracked_parallel_loop(limit)
        execution = run_workflow(doc, registry=registry)
        assert execution.status is ExecutionStatus.COMPLETED
        assert running["peak"] == limit
        assert sum(r.node_id in ("a", "b") for r in execution.node_executions) == 12


async def test_nodes_waiting_for_a_slot_are_pending_not_running() -> None:
    """A parallel loop of 4 iterations, 2 body nodes each, with 2 slots: cancelled while the
    first two nodes run, those fail CANCELLED and the ones waiting for a slot stay pending
    (they never started); in a full run no node's duration includes its wait for a slot."""
    registry = NodeRegistry()

    @registry.register("slow")
    async def slow(ctx: NodeContext) -> Any:
        await anyio.sleep(0.2)

    doc = workflow(
        node("start", "manual_trigger"),
        node("each", "loop", config={"items": list(range(4)), "parallel": True}),
        node("a", "slow"),
        node("b", "slow"),
        connections=[
            conn("start", "each"),
            conn("each", "a", sourcePort="loop"),
            conn("each", "b", sourcePort="loop"),
        ],
        settings={"maxConcurrency": 2},
    )
    async with Engine(registry=registry) as engine:
        with capture_events(engine, types=["execution.cancelled"]) as ended:
            execution = await engine.execute(doc, wait=False)
            await anyio.sleep(0.1)
            with anyio.fail_after(5):
                await engine.cancel(execution.id)
                while not ended:  # the run's own end, heard once stored
                    await anyio.sleep(0.01)
        cancelled = await engine.get_execution(execution.id)
        full = await engine.execute(doc)
    body = [r.status.value for r in cancelled.node_executions if r.node_id in ("a", "b")]
    assert sorted(body).count("failed") == 2 and "running" not in body
    runs = [r for r in full.node_executions if r.node_id in ("a", "b")]
    # Four rounds of 200 ms: a node that counted its wait for a slot would last about as long
    # as the whole execution; each lasts about a quarter of it.
    assert len(runs) == 8 and full.duration is not None
    assert max(r.duration or 0 for r in runs) < full.duration / 2


def test_a_node_waiting_to_retry_lends_its_slot() -> None:
    """With 2 slots and two loop iterations of three parallel body nodes, the node that failed
    and waits to retry does not hold a slot: two other nodes run meanwhile."""
    registry, running = _tracking_registry()
    failed: set[int] = set()

    @registry.register("flaky")
    async def flaky(ctx: NodeContext) -> Any:
        if ctx.input == 0 and 0 not in failed:
            failed.add(0)
            raise RuntimeError("first attempt fails")
        return {}

    doc = workflow(
        node("start", "manual_trigger"),
        node("each", "loop", config={"items": [0, 1], "parallel": True}),
        node("a", "flaky", retryOnFail=True, maxRetries=1, retryDelay=300),
        node("b", "track"),
        node("c", "track"),
        connections=[
            conn("start", "each"),
            conn("each", "a", sourcePort="loop"),
            conn("each", "b", sourcePort="loop"),
            conn("each", "c", sourcePort="loop"),
        ],
        settings={"maxConcurrency": 2},
    )
    execution = run_workflow(doc, registry=registry)
    assert execution.status is ExecutionStatus.COMPLETED
    assert running["peak"] == 2  # while the failed node waited (holding its slot: 1)


def test_wait_node_waits_then_passes_input() -> None:
    """wait sleeps for its duration and passes its input on."""
    doc = workflow(
        node("start", "manual_trigger"),
        node("w", "wait", config={"duration": 10, "unit": "milliseconds"}),
    )
    execution = run_workflow(doc, {"k": 1})
    assert execution.node("w").output["k"] == 1
    assert (execution.node("w").duration or 0) >= 9


def test_node_fed_from_inside_and_outside_a_loop_body_is_refused() -> None:
    """A node with inputs from a loop body and from outside it is a validation error."""
    import pytest

    from linkflow_engine import WorkflowValidationError

    doc = loop_doc()
    doc["nodes"].append(node("audit", "noop"))
    doc["connections"] += [conn("double", "audit"), conn("start", "audit")]
    with pytest.raises(WorkflowValidationError) as caught:
        run_workflow(doc, {"rows": []})
    assert caught.value.details[0]["field"] == "connections[3]"
    assert "'done' port" in caught.value.details[0]["message"]


def test_choose_branch_keeps_a_list_input_whole() -> None:
    """merge chooseBranch passes on the first input as it is, even when it is an array."""
    doc = workflow(
        node("start", "manual_trigger"),
        node("split", "split_in_batches", config={"items": [1, 2, 3], "batchSize": 2}),
        node("m", "merge", config={"mode": "chooseBranch", "waitForAll": False}),
        connections=[conn("start", "split"), conn("split", "m")],
    )
    assert run_workflow(doc).node("m").output == [[1, 2], [3]]
