"""Durable retries: a node waiting to try again stores how many attempts it made, the last
one's error and when the next is due, so an execution taken up elsewhere goes on with the next
attempt at that time instead of starting the node's attempts over."""

from __future__ import annotations

import time
from typing import Any

import anyio
from durable_storages import StorageFactory

from linkflow_engine import Engine, ExecutionStatus, NodeRegistry, NodeStatus

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
