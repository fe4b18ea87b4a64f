"""Executions on durable storage: stored as they run, listed, filtered, counted, pruned."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import pytest
from durable_counting import Counting
from durable_storages import StorageFactory

from builders import chain, conn, node, workflow
from linkflow_engine import (
    Engine,
    ExecutionNotFoundError,
    ExecutionStatus,
    NodeRegistry,
    NodeStatus,
    WorkflowValidationError,
)
from linkflow_engine.storage.base import Storage
from linkflow_engine.storage.memory import MemoryStorage


class NotedWrites:
    """A storage that notes which node runs each progress write and each end stored."""

    def __init__(self, inner: Storage) -> None:
        self.inner = inner
        self.writes: list[tuple[str, list[str]]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def save_progress(self, execution_id: str, **progress: Any) -> None:
        await self.inner.save_progress(execution_id, **progress)
        self.writes.append(("progress", [n.node_id for n in progress.get("nodes", ())]))

    async def finish_execution(self, execution_id: str, **ending: Any) -> bool:
        finished = bool(await self.inner.finish_execution(execution_id, **ending))
        self.writes.append(("end", [n.node_id for n in ending.get("nodes", ())]))
        return finished

    def saved(self) -> list[str]:
        return [node_id for _, nodes in self.writes for node_id in nodes]


async def test_execution_is_stored_with_node_data_logs_and_events(
    make_storage: StorageFactory,
) -> None:
    """Another engine on the same storage reads the whole record back, events included."""
    async with Engine(make_storage()) as engine:
        execution = await engine.execute(chain("noop", "noop"), {"x": 1}, triggered_by="usr-1")
    async with Engine(make_storage()) as other:
        stored = await other.get_execution(execution.id, include_data=True)
        events = await other.storage.list_events(execution.id)
        summary = await other.get_execution(execution.id)
    assert stored.status is ExecutionStatus.COMPLETED
    assert stored.triggered_by == "usr-1"
    assert [n.status.value for n in stored.node_executions] == ["completed"] * 3
    assert stored.node("n2").output["x"] == 1
    assert stored.outputs == execution.outputs
    assert stored.logs[0].message == "Execution started"
    if engine.storage.durable:
        assert [e.sequence for e in events] == list(range(1, len(events) + 1))
        assert events[-1].data["type"] == "execution.completed"
    assert summary.node_executions[1].output is None


async def test_replayed_events_are_the_ones_subscribers_heard(
    make_storage: StorageFactory,
) -> None:
    """A late subscriber's replay from storage is, field for field, what a live one heard,
    whether or not someone listened while the run wrote them."""
    async with Engine(make_storage()) as engine:
        heard: list[dict[str, object]] = []
        with engine.subscribe(lambda event: heard.append(event.to_dict()), inline=True):
            listened = await engine.execute(chain("noop", "noop"), {"x": 1})
        unheard = await engine.execute(chain("noop", "noop"), {"x": 2})
        replayed = [e.data for e in await engine.storage.list_events(listened.id)]
        replayed_unheard = [e.data for e in await engine.storage.list_events(unheard.id)]
    if not engine.storage.durable:
        return
    assert replayed == heard
    assert [e["type"] for e in replayed_unheard] == [e["type"] for e in heard]
    completed = [e for e in replayed_unheard if e["type"] == "execution.node.completed"]
    assert completed[-1]["payload"]["output"]["x"] == 2
    assert {e["executionId"] for e in replayed_unheard} == {unheard.id}


async def test_each_node_is_its_own_write_and_the_last_rides_with_the_end(
    make_shared_storage: StorageFactory,
) -> None:
    """Progress is stored as each node settles, one write per node; the node after which
    nothing runs is stored by the execution's end, in the same commit (one commit fewer), and
    the stored record is whole."""
    storage = NotedWrites(make_shared_storage())
    async with Engine(storage) as engine:  # type: ignore[arg-type]
        execution = await engine.execute(chain("noop", "noop"), {"x": 1})
        stored = await engine.get_execution(execution.id, include_data=True)
        replayed = [e.data for e in await storage.inner.list_events(execution.id)]
    assert storage.writes == [
        ("progress", ["start"]),
        ("progress", ["n1"]),
        ("end", ["n2"]),
    ]
    assert [n.status.value for n in stored.node_executions] == ["completed"] * 3
    assert stored.node("n2").output["x"] == 1
    of_n2 = [e["type"] for e in replayed if e["payload"].get("nodeId") == "n2"]
    assert of_n2 == ["execution.node.started", "execution.node.completed"]
    assert replayed[-1]["type"] == "execution.completed"


async def test_a_node_that_settles_while_another_runs_is_stored_at_once(
    make_shared_storage: StorageFactory,
) -> None:
    """Only the node that runs last waits for the end: a branch's last node is stored as soon
    as it settles, while the other branch still runs (which then ends the run)."""
    storage = NotedWrites(make_shared_storage())
    registry = NodeRegistry()

    @registry.register("waits_for_fast")
    async def waits_for_fast(ctx: Any) -> dict[str, Any]:
        with anyio.fail_after(10):  # liveness bound: "fast" is stored while this runs
            while "fast" not in storage.saved():
                await anyio.sleep(0.005)
        return {"waited": True}

    doc = workflow(
        node("start", "manual_trigger"),
        node("fast", "noop"),
        node("slow", "waits_for_fast"),
        connections=[conn("start", "fast"), conn("start", "slow")],
    )
    async with Engine(storage, registry) as engine:  # type: ignore[arg-type]
        execution = await engine.execute(doc)
    assert execution.status is ExecutionStatus.COMPLETED, execution.error
    assert storage.writes[-1] == ("end", ["slow"])


async def test_list_filters_paginates_and_counts(make_storage: StorageFactory) -> None:
    """list_executions filters by workflow, status and mode, newest first, with a total."""
    async with Engine(make_storage()) as engine:
        ok = [await engine.execute(chain("noop", id="wf-a")) for _ in range(3)]
        bad = await engine.execute(chain(node("s", "stop_and_error"), id="wf-a"), mode="api")
        await engine.execute(chain("noop", id="wf-b"))
        page, total = await engine.list_executions(workflow_id="wf-a", limit=2)
        assert total == 4
        assert [e.id for e in page] == [bad.id, ok[2].id]
        failed, failed_total = await engine.list_executions(status="failed")
        assert failed_total == 1
        assert failed[0].id == bad.id
        api, _ = await engine.list_executions(mode="api")
        assert [e.id for e in api] == [bad.id]
        later, later_total = await engine.list_executions(
            started_after=datetime.now(UTC) + timedelta(hours=1)
        )
        assert later_total == 0
        assert later == []
        second_page, _ = await engine.list_executions(workflow_id="wf-a", limit=2, offset=2)
        assert [e.id for e in second_page] == [ok[1].id, ok[0].id]


@pytest.mark.parametrize(
    ("filters", "field"),
    [
        ({"status": "bogus"}, "status"),
        ({"mode": "cron"}, "mode"),
        ({"limit": -1}, "limit"),
        ({"limit": 0}, "limit"),
        ({"offset": -5}, "offset"),
        ({"started_after": "yesterday"}, "startedAfter"),
        ({"workflow_id": 5}, "workflowId"),  # matched no execution before
        ({"started_after": 10**400}, "startedAfter"),  # a raw OverflowError before
        ({"started_before": float("nan")}, "startedBefore"),  # all or nothing, by backend
        ({"started_before": float("inf")}, "startedBefore"),
        ({"limit": " 5"}, "limit"),  # int() takes these; a URL's digits are digits
        ({"limit": "1_0"}, "limit"),
        ({"offset": "\u0663"}, "offset"),  # ARABIC-INDIC DIGIT THREE
    ],
)
async def test_bad_filters_name_the_field(filters: dict[str, object], field: str) -> None:
    """A bad filter value raises a validation error whose detail names the field."""
    async with Engine() as engine:
        with pytest.raises(WorkflowValidationError) as caught:
            await engine.list_executions(**filters)  # type: ignore[arg-type]
    assert caught.value.details[0]["field"] == field


async def test_stats_have_the_spec_fields(make_storage: StorageFactory) -> None:
    """execution_stats returns every field of the spec's stats object."""
    async with Engine(make_storage()) as engine:
        for _ in range(3):
            await engine.execute(chain("noop"))
        await engine.execute(chain(node("s", "stop_and_error")))
        stats = await engine.execution_stats(period="week")
        with pytest.raises(WorkflowValidationError):
            await engine.execution_stats(period="year")
        with pytest.raises(WorkflowValidationError) as caught:
            await engine.execution_stats(workflow_id=["wf-1"])  # type: ignore[arg-type]
        assert caught.value.details[0]["field"] == "workflowId"
    assert stats["total"] == 4
    assert stats["completed"] == 3
    assert stats["failed"] == 1
    assert stats["cancelled"] == 0
    assert stats["successRate"] == 75.0
    assert isinstance(stats["avgDuration"], int)
    today = datetime.now(UTC).date().isoformat()
    assert stats["byDay"][-1] == {"date": today, "count": 4, "failed": 1}


async def test_prune_keeps_unfinished_executions(make_storage: StorageFactory) -> None:
    """prune deletes old finished executions and never a running one."""
    async with Engine(make_storage()) as engine:
        done = [await engine.execute(chain("noop")) for _ in range(3)]
        running = await engine.execute(
            chain(node("w", "wait", config={"duration": 30})), wait=False
        )
        # The running execution is the newest and counts among the kept, but is never deleted.
        deleted = await engine.prune(keep_last_per_workflow=2)
        assert deleted == 2
        _, total = await engine.list_executions()
        assert total == 2
        assert await engine.prune(older_than=timedelta(0)) == 1
        assert (await engine.get_execution(running.id)).status is ExecutionStatus.RUNNING
        with pytest.raises(WorkflowValidationError):
            await engine.prune(older_than="soon")
        await engine.cancel(running.id)
    assert done[0].status is ExecutionStatus.COMPLETED


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"keep_last_per_workflow": True}, "keepLastPerWorkflow"),  # not the number 1
        ({"keep_last_per_workflow": False}, "keepLastPerWorkflow"),  # not the number 0
        ({"keep_last_per_workflow": -1}, "keepLastPerWorkflow"),
        ({"keep_last_per_workflow": 10**30}, "keepLastPerWorkflow"),  # past any count
        ({"keep_last_per_workflow": "three"}, "keepLastPerWorkflow"),
        ({"older_than": timedelta(days=-1)}, "olderThan"),  # a cutoff in the future
        ({"older_than": -5}, "olderThan"),
        ({"older_than": "-1d"}, "olderThan"),
    ],
)
async def test_bad_prune_arguments_name_the_field_and_delete_nothing(
    make_storage: StorageFactory, arguments: dict[str, Any], field: str
) -> None:
    """A bad prune argument is a validation error on its field; nothing stored is deleted."""
    async with Engine(make_storage()) as engine:
        for _ in range(3):
            await engine.execute(chain("noop"))
        with pytest.raises(WorkflowValidationError) as caught:
            await engine.prune(**arguments)
        _, total = await engine.list_executions()
    assert [detail["field"] for detail in caught.value.details] == [field]
    assert total == 3


async def test_every_bad_filter_is_reported() -> None:
    """Several bad filters give one error listing each field."""
    async with Engine() as engine:
        with pytest.raises(WorkflowValidationError) as caught:
            await engine.list_executions(status="nope", limit="x", offset=-1)
    assert [d["field"] for d in caught.value.details] == ["status", "limit", "offset"]


async def test_a_replay_after_a_loop_ran_again_says_what_was_heard(
    make_shared_storage: StorageFactory,
) -> None:
    """A loop's body runs again under the same run numbers when a stopped execution resumes;
    the replay of the events stored before it stopped still says what subscribers heard."""
    from linkflow_engine.testing import capture_events

    registry = NodeRegistry()
    calls: list[Any] = []

    @registry.register("stamp")
    async def stamp(ctx: Any) -> dict[str, Any]:
        calls.append(ctx.input)
        if ctx.input == 2 and len(calls) == 2:
            await anyio.sleep(30)  # the first engine closes meanwhile
        return {"item": ctx.input, "call": len(calls)}

    doc = workflow(
        node("start", "manual_trigger"),
        node("each", "loop", config={"items": [1, 2]}),
        node("body", "stamp"),
        node("after", "noop"),
        connections=[
            conn("start", "each"),
            conn("each", "body", sourcePort="loop"),
            conn("each", "after", sourcePort="done"),
        ],
    )
    async with Engine(make_shared_storage(), registry, lease_ttl=0.5) as first:
        with capture_events(first) as heard:
            execution = await first.execute(doc, wait=False)
            with anyio.fail_after(10):  # liveness bound
                while len(calls) < 2:
                    await anyio.sleep(0.01)
            stored = [e.sequence for e in await first.storage.list_events(execution.id)]
    await anyio.sleep(0.7)  # the lease runs out
    async with Engine(make_shared_storage(), registry, lease_ttl=0.5, poll_interval=0.05) as second:
        with anyio.fail_after(10):  # liveness bound
            while (await second.storage.get_status(execution.id)) is not ExecutionStatus.COMPLETED:
                await anyio.sleep(0.02)
        replayed = {e.sequence: e.data for e in await second.storage.list_events(execution.id)}
    first_attempt = [event.to_dict() for event in heard if event.sequence in stored]
    assert [e["type"] for e in first_attempt].count("execution.node.completed") >= 2
    assert calls.count(1) == 2  # the body ran again for the first item, under its old numbers
    assert [replayed[e["sequence"]] for e in first_attempt] == first_attempt


async def test_an_output_json_cannot_hold_is_stored_as_its_text(
    make_shared_storage: StorageFactory,
) -> None:
    """A node's output holding a value JSON has no form for is stored as that value's str():
    the run completes (it stopped, at every recovery again, when the write refused it)."""
    registry = NodeRegistry()

    class Money:
        def __str__(self) -> str:
            return "12.50 EUR"

    @registry.register("price")
    async def price(ctx: Any) -> dict[str, Any]:
        return {"price": Money(), "big": 2**70}

    async with Engine(make_shared_storage(), registry) as engine:
        execution = await engine.execute(chain(node("p", "price")))
        stored = await engine.get_execution(execution.id, include_data=True)
    assert execution.status is ExecutionStatus.COMPLETED, execution.error
    assert stored.node("p").output == {"price": "12.50 EUR", "big": 2**70}


async def test_prune_right_after_a_cancel_from_another_engine_leaves_the_run_its_end(
    make_shared_storage: StorageFactory,
) -> None:
    """An engine cancels a run another engine holds and prunes at once: the execution, whose
    run still writes its end, is left for a later prune, and that end is written."""
    counting = Counting()
    doc = chain(node("s", "slow", config={"seconds": 30}), "noop")
    async with Engine(make_shared_storage(), counting.registry, poll_interval=0.05) as runner:
        execution = await runner.execute(doc, wait=False)
        async with Engine(make_shared_storage(), counting.registry) as other:
            await counting.until_called("s")
            await other.cancel(execution.id)
            assert await other.prune(keep_last_per_workflow=0) == 0
            with anyio.fail_after(10):  # liveness bound, not a speed check
                while not (await other.get_execution(execution.id)).logs[-1:] or (
                    (await other.get_execution(execution.id)).logs[-1].message
                    != "Execution cancelled"
                ):
                    await anyio.sleep(0.02)
            stored = await other.get_execution(execution.id)
            assert stored.node("s").error is not None
            assert stored.node("s").error.code == "CANCELLED"
            assert await other.prune(keep_last_per_workflow=0) == 1


async def delete_by_hand(make_storage: StorageFactory, execution_id: str) -> None:
    """Delete a running execution from storage, as by hand: ended and pruned, its lease and
    all, by a storage that knows nothing of its run."""
    storage = make_storage()
    await storage.open()
    try:
        await storage.transition_execution(
            execution_id,
            expected=[ExecutionStatus.RUNNING],
            status=ExecutionStatus.COMPLETED,
            finished_at=time.time(),
        )
        assert await storage.prune(keep_last_per_workflow=0, now=time.time() + 3600) == 1
    finally:
        await storage.aclose()


async def test_a_run_whose_execution_is_deleted_leaves_it_quietly(
    make_shared_storage: StorageFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """An execution deleted from storage while it runs (by hand, or by a prune of an engine
    that predates the lease check): its run stops within a poll, as if cancelled, and leaves
    it without an error, instead of running its node to the end and failing every check."""
    counting = Counting()
    doc = chain(node("s", "slow", config={"seconds": 30}), "noop")
    async with Engine(make_shared_storage(), counting.registry, poll_interval=0.05) as runner:
        execution = await runner.execute(doc, wait=False)
        await counting.until_called("s")
        await delete_by_hand(make_shared_storage, execution.id)
        with anyio.fail_after(10):  # liveness bound: the slow node would take 30 s
            while execution.node("s").status is NodeStatus.RUNNING:
                await anyio.sleep(0.01)
    assert counting.calls == {"s": 1}
    assert not [r for r in caplog.records if r.levelname == "ERROR"]
    assert any("was deleted while it ran" in r.getMessage() for r in caplog.records)


async def test_an_awaited_run_whose_execution_is_deleted_raises_not_found(
    make_shared_storage: StorageFactory,
) -> None:
    """The caller awaiting ``execute`` learns that the execution is gone (it does not get a
    record that says ``running``)."""
    counting = Counting()
    doc = chain(node("s", "slow", config={"seconds": 30}), "noop")
    async with Engine(make_shared_storage(), counting.registry, poll_interval=0.05) as runner:

        async def delete_when_started() -> None:
            await counting.until_called("s")
            (running,), _ = await runner.list_executions()
            await delete_by_hand(make_shared_storage, running.id)

        async with anyio.create_task_group() as group:
            group.start_soon(delete_when_started)
            with pytest.raises(ExecutionNotFoundError):
                await runner.execute(doc)


async def test_a_cancel_then_a_prune_on_memory_storage_leave_the_run_quietly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Memory storage keeps no leases, so a prune right after a cancel deletes the execution
    while its run ends: the run then leaves it without an error."""
    counting = Counting()
    doc = chain(node("s", "slow", config={"seconds": 30}), "noop")
    async with Engine(MemoryStorage(), counting.registry) as engine:
        execution = await engine.execute(doc, wait=False)
        await counting.until_called("s")
        await engine.cancel(execution.id)
        assert await engine.prune(keep_last_per_workflow=0) == 1
        with anyio.fail_after(10):
            while execution.node("s").status is NodeStatus.RUNNING:
                await anyio.sleep(0.01)
        await anyio.sleep(0.1)  # the run's end write, which finds the execution gone
    assert not [r for r in caplog.records if r.levelname == "ERROR"]
