"""Durable retries: a node waiting to try again stores how many attempts it made, the last
one's error and when the next is due, so an execution taken up elsewhere goes on with the next
attempt at that time instead of starting the node's attempts over."""

from __future__ import annotations

import itertools
import time
from pathlib import Path
from typing import Any

import anyio
from durable_storages import RefusesWrites, StorageFactory

from linkflow_engine import (
    Engine,
    ExecutionStatus,
    LeaseLostError,
    NodeExecution,
    NodeRegistry,
    NodeStatus,
)
from linkflow_engine.graph import Workflow
from linkflow_engine.runtime._records import Execution, ExecutionError, ExecutionMode
from linkflow_engine.storage.base import LeaseTerms, Storage
from linkflow_engine.storage.sqlite import SQLiteStorage
from linkflow_engine.testing import capture_events

ATTEMPTS = 3


def retrying(delay_ms: int) -> dict[str, Any]:
    """A node that always fails, tried ``ATTEMPTS`` times, ``delay_ms`` apart (then twice that)."""
    return {
        "id": "wf-retry",
        "name": "retry",
        "settings": {"errorHandling": "stop"},
        "nodes": [
            {"id": "start", "type": "manual_trigger"},
            {
                "id": "flaky",
                "type": "flaky",
                "retryOnFail": True,
                "maxRetries": ATTEMPTS - 1,
                "retryDelay": delay_ms,
            },
        ],
        "connections": [{"source": "start", "target": "flaky"}],
    }


def counting(calls: list[float]) -> NodeRegistry:
    registry = NodeRegistry()

    @registry.register("flaky")
    async def flaky(ctx: Any) -> None:
        calls.append(time.time())
        raise RuntimeError(f"attempt {len(calls)} failed")

    return registry


async def test_a_node_taken_up_while_waiting_to_retry_goes_on_with_its_next_attempt(
    make_shared_storage: StorageFactory,
) -> None:
    """The engine closes while the node waits to make its second attempt (its execution left
    running, as a killed process leaves it); another engine makes the second attempt when it
    was due, then the third, and no more: three calls in all, not the first one again and
    three more. While it waited, the stored run said so: one attempt, its error, the time of
    the next."""
    calls: list[float] = []
    registry = counting(calls)
    async with Engine(make_shared_storage(), registry, lease_ttl=1.0) as engine:
        execution = await engine.execute(retrying(3000), wait=False)
        with anyio.fail_after(30):
            while True:
                stored = await engine.storage.get_execution(execution.id, include_data=True)
                flaky = [run for run in stored.node_executions if run.node_id == "flaky"]
                if flaky and flaky[0].timers:
                    break
                await anyio.sleep(0.02)
    waiting = flaky[0]
    assert (waiting.status, waiting.attempts, len(calls)) == (NodeStatus.RUNNING, 1, 1)
    assert waiting.error is not None and waiting.error.message == "attempt 1 failed"
    (due,) = waiting.timers or [0.0]
    assert calls[0] + 2.0 <= due <= calls[0] + 4.0  # 3 s, give or take the jitter

    await anyio.sleep(1.2)  # the closed engine's lease (1 s) runs out
    async with Engine(make_shared_storage(), registry, lease_ttl=1.0, poll_interval=0.05) as engine:
        with anyio.fail_after(60):
            while not (await engine.storage.get_status(execution.id)).is_terminal:
                await anyio.sleep(0.05)
        done = await engine.get_execution(execution.id, include_data=True)
    assert done.status is ExecutionStatus.FAILED
    flaky_run = done.node("flaky")
    assert flaky_run.status is NodeStatus.FAILED and flaky_run.attempts == ATTEMPTS
    assert flaky_run.error is not None and flaky_run.error.message == f"attempt {ATTEMPTS} failed"
    assert len(calls) == ATTEMPTS
    assert due - 0.05 <= calls[1] < due + 1.5  # when it was due, not a new wait's end
    assert flaky_run.timers is None


async def test_a_retry_that_succeeds_leaves_no_error_behind(
    make_shared_storage: StorageFactory,
) -> None:
    """A node whose second attempt succeeds after a stored wait ends completed, with two
    attempts and neither error nor timers."""
    calls: list[float] = []
    registry = NodeRegistry()

    @registry.register("flaky")
    async def flaky(ctx: Any) -> dict[str, int]:
        calls.append(time.time())
        if len(calls) == 1:
            raise RuntimeError("attempt 1 failed")
        return {"ok": len(calls)}

    async with Engine(make_shared_storage(), registry) as engine:
        done = await engine.execute(retrying(1000))
        stored = await engine.get_execution(done.id, include_data=True)
    run = stored.node("flaky")
    assert (stored.status, run.status, run.attempts) == (
        ExecutionStatus.COMPLETED, NodeStatus.COMPLETED, 2,
    )  # fmt: skip
    assert (run.error, run.timers, run.output) == (None, None, {"ok": 2})


def with_ticks(workflow: dict[str, Any], ticks: int) -> dict[str, Any]:
    """``workflow`` with a chain of ``ticks`` nodes beside its flaky node, whose progress writes
    store the flaky node's run as it is meanwhile."""
    nodes = [*workflow["nodes"], *({"id": f"tick{k}", "type": "tick"} for k in range(ticks))]
    ids = ["start", *(f"tick{k}" for k in range(ticks))]
    chain = [{"source": a, "target": b} for a, b in itertools.pairwise(ids)]
    return {**workflow, "nodes": nodes, "connections": [*workflow["connections"], *chain]}


async def left_waiting(storage: Storage, registry: NodeRegistry, seconds: float) -> None:
    """An engine takes the execution up and closes ``seconds`` later, leaving it running."""
    await anyio.sleep(1.2)  # the closed engine's lease (1 s) runs out
    async with Engine(storage, registry, lease_ttl=1.0, poll_interval=0.05):
        await anyio.sleep(seconds)


async def test_a_node_taken_up_twice_while_waiting_to_retry_still_makes_its_attempts_once(
    make_shared_storage: StorageFactory,
) -> None:
    """The engine that took the node's wait up closes during it too, while other nodes write
    their progress: the wait's state is still stored, and the third engine makes the second
    attempt when it was due, then the third; three calls in all."""
    calls: list[float] = []
    registry = counting(calls)

    @registry.register("tick")
    async def tick(ctx: Any) -> dict[str, int]:
        await anyio.sleep(0.3)
        return {"tick": 1}

    workflow = with_ticks(retrying(6000), ticks=40)
    async with Engine(make_shared_storage(), registry, lease_ttl=1.0) as engine:
        execution = await engine.execute(workflow, wait=False)
        with anyio.fail_after(30):
            while not calls:
                await anyio.sleep(0.02)
            await anyio.sleep(0.5)  # the wait's state is stored
    await left_waiting(make_shared_storage(), registry, 1.5)
    assert len(calls) == 1
    stored = await stored_run(make_shared_storage(), execution.id, "flaky")
    assert (stored.status, stored.attempts) == (NodeStatus.RUNNING, 1)
    assert stored.error is not None and stored.timers
    (due,) = stored.timers

    await anyio.sleep(1.2)
    async with Engine(make_shared_storage(), registry, lease_ttl=1.0, poll_interval=0.05) as engine:
        with anyio.fail_after(60):
            while not (await engine.storage.get_status(execution.id)).is_terminal:
                await anyio.sleep(0.05)
        done = await engine.get_execution(execution.id, include_data=True)
    assert len(calls) == ATTEMPTS and done.node("flaky").attempts == ATTEMPTS
    assert due - 0.05 <= calls[1] < due + 1.5


async def stored_run(storage: Storage, execution_id: str, node_id: str) -> NodeExecution:
    await storage.open()
    try:
        stored = await storage.get_execution(execution_id, include_data=True)
    finally:
        await storage.aclose()
    return stored.node(node_id)


async def test_a_lease_lost_at_a_retrys_wait_leaves_the_execution_without_failing_the_node(
    tmp_path: Path,
) -> None:
    """When the write of the wait finds another process running the execution, this one
    leaves it at once: the node is not failed here, nothing says so, no attempt follows."""
    calls: list[float] = []
    storage = RefusesWrites(
        SQLiteStorage(tmp_path / "linkflow.db"),
        lambda run: run.status is NodeStatus.RUNNING and run.error is not None,
        lambda execution_id: LeaseLostError(f"execution {execution_id!r} is owned elsewhere"),
    )
    async with Engine(storage, counting(calls)) as engine:  # type: ignore[arg-type]
        with capture_events(engine) as heard:
            left = await engine.execute(retrying(2000))
    assert storage.refused == 1 and len(calls) == 1
    assert "execution.node.failed" not in heard.types()
    assert not [e.message for e in left.logs if "failed" in e.message and "Node" in e.message]
    assert left.node("flaky").status is not NodeStatus.FAILED


async def test_a_run_waiting_to_retry_that_the_taking_over_never_reaches_ends_pending(
    make_shared_storage: StorageFactory,
) -> None:
    """An execution taken up fails before it reaches a node run stored waiting to retry (one
    slot, the failing node first): that run is stored pending, as never run, with neither the
    old attempt's error nor its deadline."""
    workflow = Workflow.from_dict(
        {
            **retrying(60_000),
            "settings": {"maxConcurrency": 1},
            "nodes": [*retrying(60_000)["nodes"], {"id": "gate", "type": "stop_and_error"}],
            "connections": [
                {"source": "start", "target": "gate"},
                {"source": "start", "target": "flaky"},
            ],
        }
    )
    now = time.time()
    started = NodeExecution(
        node_id="start", node_name="start", sequence=0, status=NodeStatus.COMPLETED,
        started_at=now - 5, finished_at=now - 5, attempts=1, port="output", output={"n": 1},
    )  # fmt: skip
    waiting = NodeExecution(
        node_id="flaky", node_name="flaky", sequence=1, status=NodeStatus.RUNNING,
        started_at=now - 4, attempts=1, timers=[now + 60],
        error=ExecutionError(message="attempt 1 failed", code="NODE_ERROR", node_id="flaky"),
    )  # fmt: skip
    crashed = Execution(
        id="exec-crashed", workflow_id="wf-retry", workflow_name="retry",
        status=ExecutionStatus.RUNNING, mode=ExecutionMode.MANUAL, workflow=workflow,
        created_at=now - 5, started_at=now - 5, input_data={"n": 1},
    )  # fmt: skip
    storage = make_shared_storage()
    await storage.open()
    try:
        dead = LeaseTerms(owner="a process that died", ttl=1.0, now=now - 10)
        await storage.create_execution(crashed, lease=dead)
        await storage.save_progress(crashed.id, nodes=[started, waiting])
    finally:
        await storage.aclose()
    calls: list[float] = []
    async with Engine(make_shared_storage(), counting(calls), poll_interval=0.05) as engine:
        with anyio.fail_after(30):
            while not (await engine.storage.get_status(crashed.id)).is_terminal:
                await anyio.sleep(0.05)
        done = await engine.get_execution(crashed.id, include_data=True)
    assert done.status is ExecutionStatus.FAILED and done.node("gate").status is NodeStatus.FAILED
    run = done.node("flaky")
    assert (run.status, run.attempts, run.error, run.timers) == (NodeStatus.PENDING, 0, None, None)
    assert calls == []
