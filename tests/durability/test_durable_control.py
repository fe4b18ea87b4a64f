"""Control of durable executions: cancel from another engine, retry, partial runs, debug mode."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import anyio
import pytest
from durable_counting import Counting
from durable_storages import StorageFactory

from builders import chain, conn, node, workflow
from linkflow_engine import (
    Engine,
    ExecutionConflictError,
    ExecutionMode,
    ExecutionStatus,
    NodeRegistry,
    NodeStatus,
    StorageError,
    WorkflowValidationError,
)
from linkflow_engine.storage.sqlite import SQLiteStorage


def counting_chain(**fail: bool) -> dict[str, Any]:
    """start -> a -> b -> c, each a `count` node (b fails when fail_b)."""
    return chain(
        node("a", "count"),
        node("b", "count", config={"fail": fail.get("fail_b", False)}),
        node("c", "count"),
        id="wf-count",
    )


async def wait_for_status(engine: Engine, execution_id: str, status: ExecutionStatus) -> None:
    with anyio.fail_after(10):  # liveness bound, not a speed check
        while (await engine.storage.get_status(execution_id)) is not status:
            await anyio.sleep(0.01)


async def test_cancel_from_another_engine_stops_the_run(
    make_shared_storage: StorageFactory,
) -> None:
    """An engine sharing the database cancels a run another engine holds; it stops, recorded."""
    counting = Counting()
    doc = chain(node("s", "slow", config={"seconds": 30}), "noop")
    async with Engine(make_shared_storage(), counting.registry, poll_interval=0.05) as runner:
        execution = await runner.execute(doc, wait=False)
        async with Engine(make_shared_storage(), counting.registry) as other:
            with anyio.fail_after(10):
                while counting.calls["s"] == 0:
                    await anyio.sleep(0.01)
            cancelled = await other.cancel(execution.id)
            assert cancelled.status is ExecutionStatus.CANCELLED
            assert cancelled.cancelled_at is not None
            with anyio.fail_after(10):
                while execution.node("s").status is NodeStatus.RUNNING:
                    await anyio.sleep(0.01)
            stored = await other.get_execution(execution.id)
            with pytest.raises(ExecutionConflictError):
                await other.cancel(execution.id)
    assert stored.status is ExecutionStatus.CANCELLED
    assert execution.node("s").error is not None
    assert execution.node("s").error.code == "CANCELLED"


async def test_retry_reruns_from_the_failed_node_with_overrides(
    make_storage: StorageFactory,
) -> None:
    """retry() replays from the failed node: upstream reused (not re-run), overrides merged."""
    counting = Counting()
    async with Engine(make_storage(), counting.registry) as engine:
        failed = await engine.execute(counting_chain(fail_b=True), {"n": 0})
        assert failed.status is ExecutionStatus.FAILED
        assert counting.calls == {"a": 1, "b": 1}
        replay = await engine.retry(failed.id, input_overrides={"fixed": True})
        stored = await engine.get_execution(replay.id, include_data=True)
    assert replay.status is ExecutionStatus.COMPLETED
    assert counting.calls == {"a": 1, "b": 2, "c": 1}
    assert replay.mode is ExecutionMode.REPLAY
    assert replay.original_execution_id == failed.id
    assert replay.retry_count == 1
    reused = stored.node("a")
    assert reused.reused
    assert reused.source_execution_id == failed.id
    assert stored.node("b").input["fixed"] is True
    assert stored.node("b").input["n"] == 1
    assert stored.outputs["c"]["n"] == 3
    record = stored.to_dict()
    assert record["originalExecutionId"] == failed.id


async def test_retry_from_a_chosen_node_and_of_a_replay(make_storage: StorageFactory) -> None:
    """fromNode picks where the replay starts; a replay of a replay counts retries up."""
    counting = Counting()
    async with Engine(make_storage(), counting.registry) as engine:
        first = await engine.execute(counting_chain(), {"n": 0})
        second = await engine.retry(first.id, from_node="c")
        third = await engine.retry(second.id, from_node="b")
    assert counting.calls == {"a": 1, "b": 2, "c": 3}
    assert third.retry_count == 2
    assert third.node("a").reused
    assert third.node("a").source_execution_id == first.id


async def test_retry_errors(make_storage: StorageFactory) -> None:
    """Retrying a running execution is a conflict; an unknown fromNode names the field."""
    counting = Counting()
    doc = chain(node("s", "slow", config={"seconds": 30}))
    async with Engine(make_storage(), counting.registry) as engine:
        done = await engine.execute(counting_chain(), {"n": 0})
        with pytest.raises(WorkflowValidationError) as caught:
            await engine.retry(done.id, from_node="nope")
        assert caught.value.details[0]["field"] == "fromNode"
        running = await engine.execute(doc, wait=False)
        with pytest.raises(ExecutionConflictError):
            await engine.retry(running.id)
        await engine.cancel(running.id)


async def test_a_retry_from_a_node_that_never_ran_takes_the_start_input(
    make_storage: StorageFactory,
) -> None:
    """A node the original execution never reached (a branch not taken) has no recorded
    input: a retry from it gives it the execution's input (before: None), with the overrides
    merged in (before: the overrides alone)."""
    counting = Counting()
    doc = workflow(
        node("start", "manual_trigger"),
        node("gate", "if", config={"condition": "{{ $input.ok }}"}),
        node("ship", "count"),
        node("hold", "count"),
        connections=[
            conn("start", "gate"),
            conn("gate", "ship", sourcePort="true"),
            conn("gate", "hold", sourcePort="false"),
        ],
    )
    async with Engine(make_storage(), counting.registry) as engine:
        first = await engine.execute(doc, {"ok": False, "qty": 3})
        plain = await engine.retry(first.id, from_node="ship")
        merged = await engine.retry(first.id, from_node="ship", input_overrides={"qty": 5})
        with pytest.raises(WorkflowValidationError) as caught:
            await engine.retry(first.id, from_node=["ship"])  # type: ignore[arg-type]
    assert caught.value.details[0]["field"] == "fromNode"
    assert plain.node("ship").input == {"ok": False, "qty": 3}
    assert merged.node("ship").input == {"ok": False, "qty": 5}
    assert counting.calls == {"hold": 1, "ship": 2}


async def test_a_retry_from_a_node_that_ran_with_no_input_gives_it_none_again(
    make_storage: StorageFactory,
) -> None:
    """A node that ran with ``None`` as its input (its upstream emitted nothing) gets ``None``
    again, as recorded, not the execution's input."""
    registry = NodeRegistry()

    @registry.register("nothing")
    async def nothing(ctx: Any) -> None:
        return None

    @registry.register("seen")
    async def seen(ctx: Any) -> dict[str, Any]:
        return {"input": ctx.input}

    doc = workflow(node("start", "manual_trigger"), node("a", "nothing"), node("b", "seen"))
    async with Engine(make_storage(), registry) as engine:
        first = await engine.execute(doc, {"ok": True})
        again = await engine.retry(first.id, from_node="b")
    assert first.node("b").input is None
    assert again.node("b").input is None


async def test_partial_run_reuses_the_latest_upstream_outputs(make_storage: StorageFactory) -> None:
    """runPartial starts at a node, taking upstream outputs from the latest execution."""
    counting = Counting()
    async with Engine(make_storage(), counting.registry) as engine:
        first = await engine.execute(counting_chain(), {"n": 10})
        partial = await engine.execute(
            counting_chain(), {"n": 100}, start_node_id="c", run_partial=True
        )
    assert counting.calls == {"a": 1, "b": 1, "c": 2}
    assert partial.node("a").reused
    assert partial.node("b").source_execution_id == first.id
    assert partial.node("c").input == {"n": 100}
    assert partial.status is ExecutionStatus.COMPLETED


async def test_partial_run_prefers_pinned_data() -> None:
    """runPartial takes a node's pinnedData before any earlier execution's output."""
    counting = Counting()
    doc = counting_chain()
    doc["nodes"][1]["pinnedData"] = {"n": 41, "pinned": True}
    async with Engine(registry=counting.registry) as engine:
        partial = await engine.execute(
            doc, start_node_id="b", run_partial=True, input_data={"n": 1}
        )
        uses = await engine.execute(
            chain(
                node("a", "count", pinnedData={"n": 41}),
                node("b", "set", config={"values": {"seen": "{{ $node['a'].data.n }}"}}),
            ),
            start_node_id="b",
            run_partial=True,
            input_data={},
        )
    assert partial.node("a").reused
    assert partial.node("a").output == {"n": 41, "pinned": True}
    assert uses.node("b").output["seen"] == 41
    assert counting.calls["a"] == 0


def debug_doc() -> dict[str, Any]:
    return chain(
        node("a", "count"),
        node("b", "count", breakpoint=True),
        node("c", "count"),
        node("d", "count"),
        id="wf-debug",
    )


async def test_breakpoint_pauses_and_resume_continues(make_storage: StorageFactory) -> None:
    """debug: the run pauses before a breakpoint node; resume() goes on; step runs one node."""
    counting = Counting()
    async with Engine(make_storage(), counting.registry, poll_interval=0.05) as engine:
        with pytest.raises(ExecutionConflictError):
            await engine.resume((await engine.execute(debug_doc())).id)
        execution = await engine.execute(debug_doc(), {"n": 0}, debug=True, wait=False)
        await wait_for_status(engine, execution.id, ExecutionStatus.PAUSED)
        assert counting.calls["b"] == 1  # from the non-debug run above
        paused = await engine.get_execution(execution.id)
        assert paused.options["pausedAt"] == "b"
        with pytest.raises(WorkflowValidationError) as caught:  # "no" is no boolean: refused
            await engine.resume(execution.id, step="no")  # type: ignore[arg-type]
        assert caught.value.details[0]["field"] == "step"
        assert await engine.storage.get_status(execution.id) is ExecutionStatus.PAUSED
        await engine.resume(execution.id, step=True)
        await wait_for_status(engine, execution.id, ExecutionStatus.PAUSED)
        assert (await engine.get_execution(execution.id)).options["pausedAt"] == "c"
        await engine.resume(execution.id)
        await wait_for_status(engine, execution.id, ExecutionStatus.COMPLETED)
    assert counting.calls == {"a": 2, "b": 2, "c": 2, "d": 2}


async def test_breakpoints_option_and_events() -> None:
    """breakpoints=[...] pauses there too; paused and resumed events are published."""
    from linkflow_engine.testing import capture_events

    counting = Counting()
    async with Engine(registry=counting.registry) as engine:
        with capture_events(engine, types=["execution.paused", "execution.resumed"]) as events:
            execution = await engine.execute(
                debug_doc(), {"n": 0}, debug=True, breakpoints=["d"], wait=False
            )
            await wait_for_status(engine, execution.id, ExecutionStatus.PAUSED)
            await engine.resume(execution.id)
            await wait_for_status(engine, execution.id, ExecutionStatus.PAUSED)
            assert (await engine.get_execution(execution.id)).options["pausedAt"] == "d"
            await engine.resume(execution.id)
            await wait_for_status(engine, execution.id, ExecutionStatus.COMPLETED)
    assert events.types() == ["execution.paused", "execution.resumed"] * 2
    assert events[0].payload["nodeId"] == "b"


async def test_time_spent_paused_does_not_count_against_the_timeout(
    make_storage: StorageFactory,
) -> None:
    """A pause longer than settings.timeout leaves the execution paused; resumed, it completes
    (before, the timeout failed it while it was paused)."""
    counting = Counting()
    doc = {**debug_doc(), "settings": {"timeout": "300ms"}}
    async with Engine(make_storage(), counting.registry, poll_interval=0.05) as engine:
        execution = await engine.execute(doc, {"n": 0}, debug=True, wait=False)
        await wait_for_status(engine, execution.id, ExecutionStatus.PAUSED)
        await anyio.sleep(0.6)  # twice the timeout
        assert await engine.storage.get_status(execution.id) is ExecutionStatus.PAUSED
        await engine.resume(execution.id)
        await wait_for_status(engine, execution.id, ExecutionStatus.COMPLETED)
    assert counting.calls == {"a": 1, "b": 1, "c": 1, "d": 1}


async def test_paused_execution_resumes_from_another_engine(
    make_shared_storage: StorageFactory,
) -> None:
    """A paused execution held by one engine is resumed through another engine."""
    counting = Counting()
    async with Engine(make_shared_storage(), counting.registry, poll_interval=0.05) as holder:
        execution = await holder.execute(debug_doc(), {"n": 0}, debug=True, wait=False)
        await wait_for_status(holder, execution.id, ExecutionStatus.PAUSED)
        async with Engine(make_shared_storage(), counting.registry) as other:
            await other.resume(execution.id)
            await wait_for_status(other, execution.id, ExecutionStatus.COMPLETED)
    assert counting.calls == {"a": 1, "b": 1, "c": 1, "d": 1}


async def test_paused_execution_survives_a_restart(make_shared_storage: StorageFactory) -> None:
    """An engine closed while paused leaves the execution paused; a new engine resumes it."""
    counting = Counting()
    async with Engine(make_shared_storage(), counting.registry) as first:
        execution = await first.execute(debug_doc(), {"n": 0}, debug=True, wait=False)
        await wait_for_status(first, execution.id, ExecutionStatus.PAUSED)
    async with Engine(make_shared_storage(), counting.registry, poll_interval=0.05) as second:
        assert (await second.get_execution(execution.id)).status is ExecutionStatus.PAUSED
        await second.resume(execution.id)
        await wait_for_status(second, execution.id, ExecutionStatus.COMPLETED)
        done = await second.get_execution(execution.id, include_data=True)
    assert counting.calls == {"a": 1, "b": 1, "c": 1, "d": 1}
    assert done.outputs["d"]["n"] == 4
    assert [n.status.value for n in done.node_executions] == ["completed"] * 5


async def pauses_announced(engine: Engine, execution_id: str) -> int:
    events = await engine.storage.list_events(execution_id)
    return sum(event.data["type"] == "execution.paused" for event in events)


async def test_recovered_paused_execution_stays_paused_until_resumed(
    make_shared_storage: StorageFactory,
) -> None:
    """A new engine that recovers a paused execution pauses it again at the same node: it goes
    on only when resumed."""
    counting = Counting()
    async with Engine(make_shared_storage(), counting.registry) as first:
        execution = await first.execute(debug_doc(), {"n": 0}, debug=True, wait=False)
        await wait_for_status(first, execution.id, ExecutionStatus.PAUSED)
    async with Engine(make_shared_storage(), counting.registry) as second:
        with anyio.fail_after(10):  # the recovered run announces its pause again
            while await pauses_announced(second, execution.id) < 2:
                await anyio.sleep(0.01)
        paused = await second.get_execution(execution.id)
        calls = dict(counting.calls)
        await second.resume(execution.id)
        await wait_for_status(second, execution.id, ExecutionStatus.COMPLETED)
    assert paused.status is ExecutionStatus.PAUSED
    assert paused.options["pausedAt"] == "b"
    assert calls == {"a": 1}
    assert counting.calls == {"a": 1, "b": 1, "c": 1, "d": 1}


async def test_engine_close_leaves_durable_runs_resumable(
    make_shared_storage: StorageFactory,
) -> None:
    """Closing an engine mid-run leaves the execution running; the next engine finishes it,
    without running again the nodes that had completed."""
    counting = Counting()
    doc = chain(node("a", "count"), node("s", "slow", config={"seconds": 0.3}), node("c", "count"))
    async with Engine(make_shared_storage(), counting.registry) as first:
        execution = await first.execute(doc, {"n": 0}, wait=False)
        with anyio.fail_after(10):
            while counting.calls["s"] == 0:
                await anyio.sleep(0.01)
    async with Engine(make_shared_storage(), counting.registry, poll_interval=0.05) as second:
        await wait_for_status(second, execution.id, ExecutionStatus.COMPLETED)
        done = await second.get_execution(execution.id, include_data=True)
    assert counting.calls == {"a": 1, "s": 2, "c": 1}
    assert done.outputs["c"]["n"] == 2
    assert sum(1 for n in done.node_executions if n.node_id == "s") == 1


async def test_a_retry_stopped_before_its_first_write_is_recovered_with_its_reused_runs(
    make_shared_storage: StorageFactory,
) -> None:
    """The runs a retry reuses are stored with the new execution itself: a process that stops
    before the replay's first write leaves a replay that another engine finishes, reusing them
    (before, it found none, ran without them and failed)."""
    counting = Counting()
    async with Engine(make_shared_storage(), counting.registry) as engine:
        failed = await engine.execute(counting_chain(fail_b=True), {"n": 0})
    storage = FailingWrites(make_shared_storage(), times=None)
    async with Engine(storage, counting.registry) as stopped:  # type: ignore[arg-type]
        replay = await stopped.retry(failed.id, input_overrides={"fixed": True}, wait=False)
        with anyio.fail_after(5):  # liveness bound: the run stops at its first write
            while not storage.failures:
                await anyio.sleep(0.01)
    async with Engine(make_shared_storage(), counting.registry, poll_interval=0.05) as engine:
        await wait_for_status(engine, replay.id, ExecutionStatus.COMPLETED)
        stored = await engine.get_execution(replay.id, include_data=True)
    # b: the original's run, the stopped engine's (whose write failed) and the recovery's.
    assert counting.calls == {"a": 1, "b": 3, "c": 1}
    reused = stored.node("a")
    assert (reused.reused, reused.source_execution_id) == (True, failed.id)
    assert stored.outputs["c"]["n"] == 3


def test_workflow_fixture_is_valid() -> None:
    """The documents these tests use pass validation (guards against typos in builders)."""
    from linkflow_engine import NodeRegistry, validate_workflow

    registry = Counting().registry
    for doc in (counting_chain(), debug_doc(), workflow(node("x", "count"), connections=[])):
        validate_workflow(doc, registry)
    assert conn("a", "b")["source"] == "a"
    assert isinstance(registry, NodeRegistry)


async def test_save_execution_progress_false_writes_only_at_the_end(
    make_shared_storage: StorageFactory,
) -> None:
    """settings.saveExecutionProgress false: no node run is stored while the run goes on;
    all of them are when it ends."""
    counting = Counting()
    doc = chain(
        node("a", "count"),
        node("s", "slow", config={"seconds": 0.3}),
        settings={"saveExecutionProgress": False},
    )
    async with Engine(make_shared_storage(), counting.registry) as engine:
        execution = await engine.execute(doc, {"n": 0}, wait=False)
        with anyio.fail_after(10):
            while counting.calls["s"] == 0:
                await anyio.sleep(0.01)
        async with Engine(make_shared_storage(), counting.registry, recover=False) as reader:
            midway = await reader.get_execution(execution.id)
        await wait_for_status(engine, execution.id, ExecutionStatus.COMPLETED)
        done = await engine.get_execution(execution.id)
    assert midway.node_executions == []
    assert [n.status.value for n in done.node_executions] == ["completed"] * 3


async def test_an_end_stored_elsewhere_first_stands_and_the_local_end_is_never_said(
    make_shared_storage: StorageFactory,
) -> None:
    """Another engine cancels the execution while its last node runs: the run's own end
    (completed) loses the compare-and-set, so nobody hears execution.completed, the stored
    events and logs never say it, and the cancellation is announced instead. The last node's
    run, which that refused end was to store, is stored all the same, with its events."""
    from linkflow_engine.testing import capture_events

    registry = NodeRegistry()
    async with Engine(make_shared_storage(), registry, poll_interval=30) as other:

        @registry.register("cancel_elsewhere")
        async def cancel_elsewhere(ctx: Any) -> dict[str, Any]:
            await other.cancel(ctx.execution.id)
            return {"done": True}

        async with Engine(make_shared_storage(), registry, poll_interval=30) as runner:
            with capture_events(runner) as heard:
                execution = await runner.execute(chain(node("x", "cancel_elsewhere")))
            stored = await runner.get_execution(execution.id, include_data=True)
            events = await runner.storage.list_events(execution.id)
            replayed = [e.data["type"] for e in events]
    assert execution.status is ExecutionStatus.CANCELLED
    assert stored.status is ExecutionStatus.CANCELLED
    assert "execution.completed" not in heard.types()
    assert "execution.completed" not in replayed
    assert replayed[-1] == "execution.cancelled" == heard.types()[-1]
    assert [e.sequence for e in heard] == list(range(1, len(heard) + 1))
    messages = [entry.message for entry in stored.logs]
    assert "Execution completed" not in messages and messages[-1] == "Execution cancelled"
    # x completed, or (PostgreSQL's notification being quicker) was interrupted: either way
    # its run is stored as the run recorded it, and its end was replayed.
    x = stored.node("x")
    assert x.status in (NodeStatus.COMPLETED, NodeStatus.FAILED)
    assert (x.status, x.output, x.error) == (
        execution.node("x").status, execution.node("x").output, execution.node("x").error,
    )  # fmt: skip
    assert replayed.count("execution.node.completed") + replayed.count("execution.node.failed") == 2
    assert [e.sequence for e in events] == list(range(1, len(events) + 1))


async def test_parallel_breakpoints_pause_together_and_one_resume_releases_both(
    make_storage: StorageFactory,
) -> None:
    """Two parallel nodes with breakpoints both pause; one resume runs both and the execution
    completes (before, the first to pause waited forever)."""
    counting = Counting()
    doc = workflow(
        node("start", "manual_trigger"),
        node("a", "count", breakpoint=True),
        node("b", "count", breakpoint=True),
        connections=[conn("start", "a"), conn("start", "b")],
    )
    async with Engine(make_storage(), counting.registry, poll_interval=0.05) as engine:
        execution = await engine.execute(doc, {"n": 0}, debug=True, wait=False)
        await wait_for_status(engine, execution.id, ExecutionStatus.PAUSED)
        await anyio.sleep(0.05)  # both reach their breakpoint
        await engine.resume(execution.id)
        await wait_for_status(engine, execution.id, ExecutionStatus.COMPLETED)
    assert counting.calls == {"a": 1, "b": 1}


async def test_a_write_that_finds_its_lease_taken_leaves_the_run_not_the_engine(
    make_shared_storage: StorageFactory,
) -> None:
    """A node's progress write learns (before the keeper does) that another process took the
    execution over: the run leaves it, writing nothing more, and the engine runs the next
    execution as usual."""
    registry = NodeRegistry()
    async with Engine(make_shared_storage(), registry, poll_interval=30) as engine:

        @registry.register("taken_over")
        async def taken_over(ctx: Any) -> dict[str, Any]:
            lease = await engine.storage.acquire_lease(
                ctx.execution.id, owner="other-process", ttl=60, now=time.time() + 3600
            )
            assert lease is not None
            return {"done": True}

        left = await engine.execute(chain(node("x", "taken_over")), wait=False)
        with anyio.fail_after(5):
            while (await engine.get_execution(left.id)).node_executions == []:
                await anyio.sleep(0.01)
            await anyio.sleep(0.1)
        after = await engine.execute(chain(node("y", "noop")))
        stored = await engine.get_execution(left.id)
    assert after.status is ExecutionStatus.COMPLETED
    assert stored.status is ExecutionStatus.RUNNING  # the other process's to finish
    assert [r.node_id for r in stored.node_executions if r.status.value == "completed"] == ["start"]


class FailingWrites:
    """Storage whose progress writes fail (the database locked by another process past its
    busy timeout, a dropped connection, a disk error): the first ``times`` of them, or every
    one when ``times`` is None. ``failures`` counts the writes that failed."""

    def __init__(self, inner: Any, times: int | None = 1) -> None:
        self.inner = inner
        self.times = times
        self.failures = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def save_progress(self, execution_id: str, **progress: Any) -> None:
        if self.times is None or self.failures < self.times:
            self.failures += 1
            raise StorageError("database is locked")
        await self.inner.save_progress(execution_id, **progress)


async def test_a_storage_error_in_a_background_run_leaves_it_to_recovery_not_the_engine(
    make_shared_storage: StorageFactory,
) -> None:
    """A run nobody awaits meets a storage error: the engine logs it and goes on (the next
    execution runs), and recovery later finishes the execution from what was stored."""
    storage = FailingWrites(make_shared_storage())
    async with Engine(storage, lease_ttl=0.5, poll_interval=0.05) as engine:  # type: ignore[arg-type]
        failed = await engine.execute(chain("noop", "noop"), wait=False)
        with anyio.fail_after(5):  # liveness bound: the background run meets the error
            while not storage.failures:
                await anyio.sleep(0.01)
        after = await engine.execute(chain("noop"))
        await wait_for_status(engine, failed.id, ExecutionStatus.COMPLETED)
        recovered = await engine.get_execution(failed.id)
    assert after.status is ExecutionStatus.COMPLETED
    assert [n.status.value for n in recovered.node_executions] == ["completed"] * 3


async def test_a_storage_error_reaches_the_caller_as_itself(
    make_shared_storage: StorageFactory,
) -> None:
    """An awaited run that meets a storage error raises that StorageError (not a group of
    one), and the execution is left to recovery, which finishes it."""
    storage = FailingWrites(make_shared_storage())
    async with Engine(storage, lease_ttl=0.5, poll_interval=0.05) as engine:  # type: ignore[arg-type]
        with pytest.raises(StorageError, match="database is locked"):
            await engine.execute(chain("noop", "noop"))
        (execution,), _ = await engine.list_executions()
        await wait_for_status(engine, execution.id, ExecutionStatus.COMPLETED)


async def test_a_run_that_keeps_stopping_on_an_error_is_retried_ever_less_often(
    tmp_path: Path,
) -> None:
    """Recovery takes up again an execution whose run stopped on an error, but after each
    stop in a row it waits twice as long (two leases' time first): an error that persists
    does not rerun the execution's nodes every round."""
    storage = FailingWrites(SQLiteStorage(tmp_path / "linkflow.db"), times=None)
    async with Engine(storage, lease_ttl=0.3, poll_interval=0.02) as engine:  # type: ignore[arg-type]
        await engine.execute(chain("noop"), wait=False)
        with anyio.fail_after(10):  # liveness bound
            while storage.failures < 1:
                await anyio.sleep(0.01)
        await anyio.sleep(0.45)  # recovery rounds came and went: none may take it yet
        assert storage.failures == 1
        with anyio.fail_after(10):  # liveness bound: it is taken up again
            while storage.failures < 2:
                await anyio.sleep(0.01)
