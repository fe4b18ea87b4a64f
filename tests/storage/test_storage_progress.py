"""Contract: save_progress, the executor's one write per settled node, on every backend."""

from __future__ import annotations

import attrs
import pytest
from storage_records import T0, logged, make_event, make_execution, make_log, make_node

from linkflow_engine import ExecutionNotFoundError, StorageError
from linkflow_engine.events import EventRecord, NodeCompleted, NodeStarted
from linkflow_engine.runtime._records import ExecutionStatus, NodeStatus
from linkflow_engine.storage.base import LeaseTerms, Storage

RUNNING = ExecutionStatus.RUNNING
COMPLETED = ExecutionStatus.COMPLETED
CANCELLED = ExecutionStatus.CANCELLED


def events(*sequences: int) -> list[EventRecord]:
    return [make_event(n).record() for n in sequences]


async def test_progress_writes_keep_every_event_in_order(storage: Storage) -> None:
    """Events written with nodes, with a node written again, with several nodes and with no
    node at all are all listed, in sequence order, after any sequence."""
    await storage.create_execution(make_execution())
    running = make_node(0, status=NodeStatus.RUNNING, output=None)
    await storage.save_progress("ex-1", events=events(1))
    await storage.save_progress("ex-1", nodes=[running], events=events(2, 3))
    await storage.save_progress("ex-1", nodes=[make_node(0)], events=events(4))
    await storage.save_progress("ex-1", nodes=[make_node(1), make_node(2)], events=events(5, 6))
    await storage.save_progress("ex-1", nodes=[make_node(3)])
    await storage.save_progress("ex-1", logs=[make_log()], events=events(7))
    listed = await storage.list_events("ex-1")
    assert [e.data for e in listed] == [make_event(n).to_dict() for n in range(1, 8)]
    assert [e.sequence for e in await storage.list_events("ex-1", after_sequence=3)] == [4, 5, 6, 7]
    assert await storage.list_events("ex-1", after_sequence=7) == []
    read = await storage.get_execution("ex-1", include_data=True)
    assert [(n.sequence, n.status) for n in read.node_executions] == [
        (k, NodeStatus.COMPLETED) for k in range(4)
    ]
    assert len(read.logs) == 1


async def test_log_lines_read_back_in_the_order_written(storage: Storage) -> None:
    """Log lines read back whole and in the order written, wherever a backend keeps them: with
    the executor's own events (one each, ``execution.log``) or without them, with one node
    run, with a node run written again, with several, with none, with the end, and appended
    after the end (a callback's attempt)."""
    lines = [make_log(f"line {k}", timestamp=T0 + k) for k in range(10)]
    lines[3] = attrs.evolve(lines[3], node_id=None, data=None, level="warning")
    running = make_node(0, status=NodeStatus.RUNNING, output=None)
    lease = await storage.create_execution(
        make_execution(), lease=LeaseTerms(owner="a", ttl=60, now=T0)
    )
    assert lease is not None
    fence = lease.fence
    await storage.save_progress(
        "ex-1", nodes=[running], logs=lines[:1], events=[logged(lines[0], 2)], fence=fence
    )
    await storage.save_progress("ex-1", logs=lines[1:2], events=[logged(lines[1], 3)])
    await storage.save_progress(
        "ex-1", nodes=[make_node(0)], logs=lines[2:4],
        events=[logged(lines[2], 4), *events(5), logged(lines[3], 6)], fence=fence,
    )  # fmt: skip
    await storage.save_progress(
        "ex-1", nodes=[make_node(1), make_node(2)], logs=lines[4:5],
        events=[logged(lines[4], 7)],
    )  # fmt: skip
    await storage.finish_execution(
        "ex-1", expected=[RUNNING], status=COMPLETED, finished_at=T0 + 9,
        nodes=[make_node(3)], logs=lines[5:6], events=[logged(lines[5], 8)], fence=fence,
        lease=lease,
    )  # fmt: skip
    await storage.append_logs("ex-1", lines[6:8])
    await storage.save_progress("ex-1", nodes=[make_node(4)], logs=lines[8:9])  # no event
    await storage.append_logs("ex-1", lines[9:])
    read = await storage.get_execution("ex-1")
    assert read.logs == lines
    assert [n.sequence for n in read.node_executions] == [0, 1, 2, 3, 4]


async def test_events_made_from_a_node_run_are_read_whole(storage: Storage) -> None:
    """An event kept with a node run's number in place of its payload (node.started and
    node.completed) is read with the payload made from that run as stored, beside events with
    payloads of their own, wherever the write put it: with its run, with another, or alone."""
    await storage.create_execution(make_execution())
    first, second = make_node(0, node_id="a", node_name="A"), make_node(1, node_id="b")
    second.output = {"text": "a\nb"}
    made = [
        (NodeStarted.type, 1, T0 + 1.25, 0),
        (NodeCompleted.type, 2, T0 + 1.5, 0),
        (NodeStarted.type, 3, T0 + 2, 1),
        make_event(4).record(),  # a payload of its own (as every event was kept before)
        (NodeCompleted.type, 5, T0 + 3, 1),
    ]
    await storage.save_progress("ex-1", nodes=[first], events=made[:2])
    await storage.save_progress("ex-1", nodes=[first, second], events=made[2:4])
    await storage.save_progress("ex-1", events=made[4:])
    listed = [e.data for e in await storage.list_events("ex-1")]
    assert [e["sequence"] for e in listed] == [1, 2, 3, 4, 5]
    assert listed[0]["payload"] == {"nodeId": "a", "nodeName": "A"}
    assert listed[1]["payload"] == {
        "nodeId": "a",
        "nodeName": "A",
        "port": "output",
        "output": {"total": 12.5, "items": [1, 2, None], "ok": True},
        "duration": 250,
    }
    assert listed[3] == make_event(4).to_dict()
    assert listed[4]["payload"]["output"] == {"text": "a\nb"}
    assert listed[4]["type"] == "execution.node.completed"
    assert listed[4]["executionId"] == "ex-1" and listed[4]["workflowId"] == "wf-1"


async def test_an_event_made_from_a_run_never_stored_is_reported(storage: Storage) -> None:
    """Reading an event made from a node run that is not stored raises StorageError naming
    the event and the run (never a payload made up)."""
    await storage.create_execution(make_execution())

    async def keep_then_replay() -> None:  # memory makes the wire form as it keeps an event
        await storage.save_progress("ex-1", events=[(NodeStarted.type, 1, T0, 7)])
        await storage.list_events("ex-1")

    with pytest.raises(StorageError, match="node run 7"):
        await keep_then_replay()


async def test_a_node_runs_timers_are_kept_with_its_data(storage: Storage) -> None:
    """A node run's timers (its durable sleeps' deadlines) are stored with each write of the
    run and read back with its data; a later write with more timers replaces them."""
    await storage.create_execution(make_execution("ex-1"))
    running = make_node(status=NodeStatus.RUNNING, finished_at=None, output=None)
    await storage.save_progress("ex-1", nodes=[attrs.evolve(running, timers=[T0 + 60.125])])
    (stored,) = (await storage.get_execution("ex-1", include_data=True)).node_executions
    assert stored.timers == [T0 + 60.125]
    await storage.save_progress("ex-1", nodes=[make_node(timers=[T0 + 60.125, T0 + 90])])
    (stored,) = (await storage.get_execution("ex-1", include_data=True)).node_executions
    assert (stored.status, stored.timers) == (NodeStatus.COMPLETED, [T0 + 60.125, T0 + 90])
    await storage.save_progress("ex-1", nodes=[make_node(sequence=1)])
    runs = (await storage.get_execution("ex-1", include_data=True)).node_executions
    assert [run.timers for run in runs] == [[T0 + 60.125, T0 + 90], None]


async def test_progress_of_an_unknown_execution_is_refused(storage: Storage) -> None:
    """A progress write for an execution that is not stored raises ExecutionNotFoundError."""
    with pytest.raises(ExecutionNotFoundError):
        await storage.save_progress("nope", nodes=[make_node(0)], events=events(1), fence=1)


async def test_progress_with_a_stale_fence_writes_nothing(storage: Storage) -> None:
    """After another owner took the lease, a progress write with the old fence raises and
    leaves the node runs, logs and events as they were."""
    await storage.create_execution(make_execution())
    old = await storage.acquire_lease("ex-1", owner="a", ttl=10, now=T0)
    assert old is not None
    await storage.save_progress("ex-1", nodes=[make_node(0, output="a")], fence=old.fence)
    new = await storage.acquire_lease("ex-1", owner="b", ttl=10, now=T0 + 11)
    assert new is not None
    writes = [
        ([make_node(0, output="late")], []),  # one statement (SQLite: no explicit transaction)
        ([make_node(0, output="late")], [make_log()]),
        ([make_node(1), make_node(2)], [make_log()]),
        ([], [make_log()]),
    ]
    for nodes, logs in writes:
        with pytest.raises(StorageError):
            await storage.save_progress(
                "ex-1", nodes=nodes, logs=logs, events=events(9), fence=old.fence
            )
    read = await storage.get_execution("ex-1", include_data=True)
    assert [(n.sequence, n.output) for n in read.node_executions] == [(0, "a")]
    assert (read.logs, await storage.list_events("ex-1")) == ([], [])


async def test_an_execution_is_created_with_its_lease(storage: Storage) -> None:
    """create_execution(lease=...) takes the lease in the same write: another owner is refused
    until it expires; the id cannot be created twice."""
    lease = await storage.create_execution(
        make_execution(), lease=LeaseTerms(owner="a", ttl=10, now=T0)
    )
    assert lease is not None and (lease.owner, lease.expires_at) == ("a", T0 + 10)
    assert await storage.acquire_lease("ex-1", owner="b", ttl=10, now=T0 + 5) is None
    taken = await storage.acquire_lease("ex-1", owner="b", ttl=10, now=T0 + 11)
    assert taken is not None and taken.fence > lease.fence
    assert await storage.create_execution(make_execution("ex-2")) is None
    with pytest.raises(StorageError, match="already exists"):
        await storage.create_execution(make_execution(), lease=LeaseTerms(owner="c", ttl=1, now=T0))


async def test_finishing_writes_status_progress_and_release_together(storage: Storage) -> None:
    """finish_execution sets the final status with the last node runs, logs and events and
    releases the lease: a new owner gets it at once."""
    lease = await storage.create_execution(
        make_execution(status=RUNNING), lease=LeaseTerms(owner="a", ttl=60, now=T0)
    )
    assert lease is not None
    finished = await storage.finish_execution(
        "ex-1", expected=[RUNNING], status=COMPLETED, finished_at=T0 + 5,
        outputs={"step": 1}, nodes=[make_node(0)], logs=[make_log("done")],
        events=events(1, 2), fence=lease.fence, lease=lease,
    )  # fmt: skip
    assert finished
    read = await storage.get_execution("ex-1", include_data=True)
    assert (read.status, read.finished_at, read.outputs) == (COMPLETED, T0 + 5, {"step": 1})
    assert [n.sequence for n in read.node_executions] == [0]
    assert [entry.message for entry in read.logs] == ["done"]
    assert [e.sequence for e in await storage.list_events("ex-1")] == [1, 2]
    assert await storage.acquire_lease("ex-1", owner="b", ttl=60, now=T0 + 6) is not None


async def test_finishing_an_execution_ended_elsewhere_writes_nothing(storage: Storage) -> None:
    """When another process ended it first, finish_execution returns False and writes no
    status, node run, log, event or lease release; an unknown id is ExecutionNotFoundError."""
    lease = await storage.create_execution(
        make_execution(status=RUNNING), lease=LeaseTerms(owner="a", ttl=60, now=T0)
    )
    assert lease is not None
    await storage.transition_execution(
        "ex-1", expected=[RUNNING], status=CANCELLED, cancelled_at=T0 + 1, finished_at=T0 + 1
    )
    finished = await storage.finish_execution(
        "ex-1", expected=[RUNNING], status=COMPLETED, finished_at=T0 + 5,
        nodes=[make_node(0)], logs=[make_log()], events=events(1), lease=lease,
    )  # fmt: skip
    assert not finished
    read = await storage.get_execution("ex-1")
    assert (read.status, read.node_executions, read.logs) == (CANCELLED, [], [])
    assert await storage.list_events("ex-1") == []
    assert await storage.acquire_lease("ex-1", owner="b", ttl=60, now=T0 + 6) is None
    with pytest.raises(ExecutionNotFoundError):
        await storage.finish_execution("nope", expected=[RUNNING], status=COMPLETED, finished_at=T0)


async def test_finishing_with_a_stale_fence_writes_nothing(storage: Storage) -> None:
    """A finish under a fence another owner has replaced raises and leaves the status, the
    node runs and the new owner's lease alone."""
    old = await storage.create_execution(
        make_execution(status=RUNNING), lease=LeaseTerms(owner="a", ttl=10, now=T0)
    )
    new = await storage.acquire_lease("ex-1", owner="b", ttl=10, now=T0 + 11)
    assert old is not None and new is not None
    with pytest.raises(StorageError):
        await storage.finish_execution(
            "ex-1", expected=[RUNNING], status=COMPLETED, finished_at=T0 + 12,
            nodes=[make_node(0)], fence=old.fence, lease=old,
        )  # fmt: skip
    read = await storage.get_execution("ex-1")
    assert (read.status, read.node_executions) == (RUNNING, [])
    assert await storage.renew_lease(new, ttl=10, now=T0 + 12) is not None
