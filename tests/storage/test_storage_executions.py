"""Contract: executions, node runs, logs, events and lists, on every backend."""

from __future__ import annotations

import anyio
import attrs
import pytest
from storage_records import (
    T0,
    execution_fields,
    failure,
    make_event,
    make_execution,
    make_log,
    make_node,
    make_workflow,
)

from linkflow_engine import ExecutionNotFoundError, StorageError
from linkflow_engine.graph import Workflow
from linkflow_engine.runtime._records import ExecutionMode, ExecutionStatus, NodeStatus
from linkflow_engine.storage.base import ExecutionQuery, Storage

RUNNING = ExecutionStatus.RUNNING
TERMINAL = (ExecutionStatus.COMPLETED, ExecutionStatus.FAILED, ExecutionStatus.CANCELLED)


async def test_execution_reads_back_equal_to_what_was_written(storage: Storage) -> None:
    """A complete execution (snapshot, node runs, logs, error, outputs) reads back equal."""
    written = make_execution(
        status=ExecutionStatus.FAILED,
        finished_at=T0 + 3.123,
        cancelled_at=None,
        error=failure(),
        outputs={"step": {"total": 12.5}},
        retry_count=2,
        original_execution_id="ex-0",
        triggered_by="user-7",
    )
    await storage.create_execution(attrs.evolve(written, node_executions=[], logs=[]))
    written.node_executions = [
        make_node(0),
        make_node(1, status=NodeStatus.FAILED, error=failure()),
    ]
    for run in written.node_executions:
        await storage.save_node_execution("ex-1", run)
    written.logs = [make_log("one"), make_log("two")]
    await storage.append_logs("ex-1", written.logs)
    await storage.transition_execution(
        "ex-1", expected=[ExecutionStatus.FAILED], status=ExecutionStatus.FAILED,
        outputs=written.outputs,
    )  # fmt: skip
    read = await storage.get_execution("ex-1", include_data=True)
    assert execution_fields(read) == execution_fields(written)
    assert isinstance(read.workflow, Workflow)


async def test_get_without_data_leaves_payloads_out(storage: Storage) -> None:
    """include_data=False returns node runs and logs without input, output or outputs."""
    await storage.create_execution(make_execution(outputs={"step": 1}))
    await storage.save_node_execution("ex-1", make_node(0))
    read = await storage.get_execution("ex-1")
    assert [(n.node_id, n.input, n.output) for n in read.node_executions] == [("step", None, None)]
    assert read.outputs == {}
    assert read.node_executions[0].status is NodeStatus.COMPLETED


async def test_unknown_execution_raises_not_found(storage: Storage) -> None:
    """Reading, transitioning or writing to an unknown execution raises ExecutionNotFoundError."""
    calls = [
        storage.get_execution("nope"),
        storage.transition_execution("nope", expected=[RUNNING], status=ExecutionStatus.FAILED),
        storage.save_node_execution("nope", make_node()),
        storage.append_logs("nope", [make_log()]),
    ]
    for call in calls:
        with pytest.raises(ExecutionNotFoundError) as caught:
            await call
        assert (caught.value.kind, caught.value.id) == ("execution", "nope")


async def test_status_and_options_are_read_and_saved_alone(storage: Storage) -> None:
    """get_status reads the status; save_execution_options replaces the options."""
    await storage.create_execution(make_execution())
    assert await storage.get_status("ex-1") is RUNNING
    await storage.save_execution_options("ex-1", {"debug": True, "pausedAt": "step"})
    assert (await storage.get_execution("ex-1")).options == {"debug": True, "pausedAt": "step"}
    with pytest.raises(ExecutionNotFoundError):
        await storage.get_status("nope")
    with pytest.raises(ExecutionNotFoundError):
        await storage.save_execution_options("nope", {})


async def test_creating_an_existing_execution_is_an_error(storage: Storage) -> None:
    """A second create_execution with the same id raises StorageError."""
    await storage.create_execution(make_execution())
    with pytest.raises(StorageError):
        await storage.create_execution(make_execution())


async def test_an_execution_is_created_with_the_node_runs_it_holds(storage: Storage) -> None:
    """The runs a new execution already holds (those a retry reuses) are stored with it, in
    the same transaction: a crash after the creation finds them; one refused stores none."""
    reused = [make_node(0, reused=True, source_execution_id="ex-0"), make_node(1, reused=True)]
    await storage.create_execution(make_execution(node_executions=reused))
    read = (await storage.get_execution("ex-1", include_data=True)).node_executions
    assert [(r.sequence, r.reused, r.source_execution_id, r.output) for r in read] == [
        (0, True, "ex-0", make_node().output),
        (1, True, None, make_node().output),
    ]
    with pytest.raises(StorageError):  # the id exists: nothing is written
        await storage.create_execution(make_execution(node_executions=[make_node(2)]))
    assert len((await storage.get_execution("ex-1")).node_executions) == 2


async def test_node_run_with_same_sequence_is_replaced(storage: Storage) -> None:
    """save_node_execution inserts by sequence and replaces a run with the same sequence."""
    await storage.create_execution(make_execution())
    await storage.save_node_execution("ex-1", make_node(0, status=NodeStatus.RUNNING, output=None))
    await storage.save_node_execution("ex-1", make_node(1))
    await storage.save_node_execution("ex-1", make_node(0, output={"done": True}))
    runs = (await storage.get_execution("ex-1", include_data=True)).node_executions
    assert [(r.sequence, r.status, r.output) for r in runs] == [
        (0, NodeStatus.COMPLETED, {"done": True}),
        (1, NodeStatus.COMPLETED, make_node().output),
    ]


async def test_logs_keep_the_order_of_appending(storage: Storage) -> None:
    """Logs come back in the order they were appended, across calls."""
    await storage.create_execution(make_execution())
    await storage.append_logs("ex-1", [make_log("a", T0 + 5), make_log("b", T0 + 1)])
    await storage.append_logs("ex-1", [make_log("c", T0)])
    logs = (await storage.get_execution("ex-1")).logs
    assert [entry.message for entry in logs] == ["a", "b", "c"]


async def test_transition_is_a_compare_and_set(storage: Storage) -> None:
    """A transition happens only from an expected status and sets only the given fields."""
    await storage.create_execution(make_execution(status=ExecutionStatus.PENDING, started_at=None))
    assert not await storage.transition_execution(
        "ex-1", expected=[RUNNING], status=ExecutionStatus.COMPLETED
    )
    assert await storage.transition_execution(
        "ex-1", expected=[ExecutionStatus.PENDING], status=RUNNING, started_at=T0 + 9
    )
    read = await storage.get_execution("ex-1")
    assert (read.status, read.started_at, read.finished_at) == (RUNNING, T0 + 9, None)


@pytest.mark.parametrize("final", TERMINAL)
async def test_terminal_status_is_never_overwritten(
    storage: Storage, final: ExecutionStatus
) -> None:
    """Once terminal, no transition (even one expecting that status' predecessors) changes it."""
    await storage.create_execution(make_execution())
    assert await storage.transition_execution(
        "ex-1", expected=[RUNNING], status=final, finished_at=T0 + 5
    )
    for late in TERMINAL:
        assert not await storage.transition_execution(
            "ex-1", expected=[RUNNING, ExecutionStatus.PAUSED], status=late, finished_at=T0 + 9
        )
    read = await storage.get_execution("ex-1")
    assert (read.status, read.finished_at) == (final, T0 + 5)


async def test_concurrent_transitions_have_one_winner(storage: Storage, twin: Storage) -> None:
    """Two writers (two connections, as two processes) racing to end an execution: one wins."""
    await storage.create_execution(make_execution())
    results: list[tuple[ExecutionStatus, bool]] = []

    async def end(store: Storage, status: ExecutionStatus) -> None:
        won = await store.transition_execution("ex-1", expected=[RUNNING], status=status)
        results.append((status, won))

    async with anyio.create_task_group() as group:
        group.start_soon(end, storage, ExecutionStatus.CANCELLED)
        group.start_soon(end, twin, ExecutionStatus.COMPLETED)
    winners = [status for status, won in results if won]
    assert len(winners) == 1
    assert (await twin.get_execution("ex-1")).status is winners[0]


async def test_list_filters_orders_and_counts(storage: Storage) -> None:
    """list_executions filters by workflow, status, mode and start range, newest first, with
    limit/offset and the total of all matches."""
    for index in range(6):
        await storage.create_execution(
            make_execution(
                f"ex-{index}",
                workflow_id="wf-a" if index % 2 else "wf-b",
                status=ExecutionStatus.COMPLETED if index < 4 else RUNNING,
                mode=ExecutionMode.API if index == 5 else ExecutionMode.MANUAL,
                created_at=T0 + index,
            )
        )
    query = ExecutionQuery(workflow_id="wf-a", limit=2)
    page, total = await storage.list_executions(query)
    assert ([e.id for e in page], total) == (["ex-5", "ex-3"], 3)
    page, total = await storage.list_executions(attrs.evolve(query, offset=2))
    assert ([e.id for e in page], total) == (["ex-1"], 3)
    status = ExecutionQuery(status=ExecutionStatus.COMPLETED, mode=ExecutionMode.MANUAL)
    assert (await storage.list_executions(status))[1] == 4
    assert (await storage.list_executions(ExecutionQuery(mode=ExecutionMode.API)))[1] == 1
    window = ExecutionQuery(started_after=T0 + 2, started_before=T0 + 4)  # [T0+2, T0+4)
    assert [e.id for e in (await storage.list_executions(window))[0]] == ["ex-2", "ex-1"]


async def test_list_returns_summaries_without_data(storage: Storage) -> None:
    """Listed executions carry metadata only: no node runs, logs, data or snapshot."""
    await storage.create_execution(make_execution(error=failure()))
    await storage.save_node_execution("ex-1", make_node())
    await storage.append_logs("ex-1", [make_log()])
    [summary], _ = await storage.list_executions(ExecutionQuery())
    assert (summary.node_executions, summary.logs, summary.outputs) == ([], [], {})
    assert (summary.workflow, summary.input_data) == (None, None)
    assert (summary.error, summary.options) == (failure(), make_execution().options)
    assert summary.summary_dict() == make_execution(error=failure()).summary_dict()


async def test_events_are_listed_after_a_sequence(storage: Storage) -> None:
    """list_events returns the events after the given sequence, in order, in wire form."""
    await storage.create_execution(make_execution())
    events = [make_event(n) for n in (1, 2, 3)]
    await storage.append_events("ex-1", [e.record() for e in events[:2]])
    await storage.append_events("ex-1", [events[2].record()])
    later = await storage.list_events("ex-1", after_sequence=1)
    assert [(e.execution_id, e.sequence, e.data) for e in later] == [
        ("ex-1", 2, events[1].to_dict()),
        ("ex-1", 3, events[2].to_dict()),
    ]
    assert await storage.list_events("other") == []


async def test_find_node_outputs_takes_the_latest_completed_run(storage: Storage) -> None:
    """Each node's latest completed run in the workflow, with the execution it came from."""
    await storage.create_execution(make_execution("old", created_at=T0))
    await storage.create_execution(make_execution("new", created_at=T0 + 10))
    await storage.save_node_execution("old", make_node(0, output="old"))
    await storage.save_node_execution("old", make_node(1, node_id="other", output="o"))
    await storage.save_node_execution("new", make_node(0, output="new"))
    await storage.save_node_execution(
        "new", make_node(1, node_id="other", status=NodeStatus.FAILED)
    )
    found = await storage.find_node_outputs("wf-1", ["step", "other", "never"])
    assert {k: (v.output, v.source_execution_id) for k, v in found.items()} == {
        "step": ("new", "new"),
        "other": ("o", "old"),
    }


async def test_inline_workflow_snapshot_is_kept(storage: Storage) -> None:
    """An execution of a workflow without id keeps its snapshot as a Workflow."""
    execution = make_execution(workflow_id=None)
    execution.workflow = make_workflow(None)
    await storage.create_execution(execution)
    read = await storage.get_execution("ex-1")
    assert read.workflow is not None and read.workflow.to_dict() == make_workflow(None).to_dict()
