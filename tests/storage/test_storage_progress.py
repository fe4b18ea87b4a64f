"""Contract: save_progress, the executor's one write per settled node, on every backend."""

from __future__ import annotations

import pytest
from storage_records import T0, make_event, make_execution, make_log, make_node

from linkflow_engine import StorageError
from linkflow_engine.events import Event
from linkflow_engine.runtime._records import NodeStatus
from linkflow_engine.storage.base import Storage


def events(*sequences: int) -> list[Event]:
    return [make_event(n) for n in sequences]


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
    assert [e.data for e in listed] == [e.to_dict() for e in events(1, 2, 3, 4, 5, 6, 7)]
    assert [e.sequence for e in await storage.list_events("ex-1", after_sequence=3)] == [4, 5, 6, 7]
    assert await storage.list_events("ex-1", after_sequence=7) == []
    read = await storage.get_execution("ex-1", include_data=True)
    assert [(n.sequence, n.status) for n in read.node_executions] == [
        (k, NodeStatus.COMPLETED) for k in range(4)
    ]
    assert len(read.logs) == 1


async def test_progress_with_a_stale_fence_writes_nothing(storage: Storage) -> None:
    """After another owner took the lease, a progress write with the old fence raises and
    leaves the node runs, logs and events as they were."""
    await storage.create_execution(make_execution())
    old = await storage.acquire_lease("ex-1", owner="a", ttl=10, now=T0)
    assert old is not None
    await storage.save_progress("ex-1", nodes=[make_node(0, output="a")], fence=old.fence)
    new = await storage.acquire_lease("ex-1", owner="b", ttl=10, now=T0 + 11)
    assert new is not None
    for nodes in ([make_node(0, output="late")], [make_node(1), make_node(2)], []):
        with pytest.raises(StorageError):
            await storage.save_progress(
                "ex-1", nodes=nodes, logs=[make_log()], events=events(9), fence=old.fence
            )
    read = await storage.get_execution("ex-1", include_data=True)
    assert [(n.sequence, n.output) for n in read.node_executions] == [(0, "a")]
    assert (read.logs, await storage.list_events("ex-1")) == ([], [])
