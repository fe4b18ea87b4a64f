"""Contract: leases, fencing and recovery, on every backend."""

from __future__ import annotations

import anyio
import pytest
from storage_records import T0, make_execution, make_log, make_node

from linkflow_engine import StorageError
from linkflow_engine.runtime._records import ExecutionStatus
from linkflow_engine.storage.base import Lease, Storage


async def test_lease_is_refused_while_another_owner_holds_it(storage: Storage) -> None:
    """Only the holder (or anyone after expiry) gets the lease; fences grow with each grant."""
    await storage.create_execution(make_execution())
    first = await storage.acquire_lease("ex-1", owner="a", ttl=10, now=T0)
    assert first is not None and first.expires_at == T0 + 10
    assert await storage.acquire_lease("ex-1", owner="b", ttl=10, now=T0 + 5) is None
    again = await storage.acquire_lease("ex-1", owner="a", ttl=10, now=T0 + 5)
    taken = await storage.acquire_lease("ex-1", owner="b", ttl=10, now=T0 + 15)
    assert again is not None and taken is not None
    assert first.fence < again.fence < taken.fence
    assert taken.owner == "b"


async def test_an_execution_that_is_not_stored_is_never_leased(storage: Storage) -> None:
    """A claim on an unknown id is refused (None) and leaves nothing behind: the execution
    created later under that id is leased from its first fence."""
    assert await storage.acquire_lease("ex-1", owner="a", ttl=10, now=T0) is None
    assert await storage.recoverable_executions(now=T0) == []
    await storage.create_execution(make_execution())
    lease = await storage.acquire_lease("ex-1", owner="b", ttl=10, now=T0)
    assert lease is not None and lease.owner == "b"


async def test_stale_fence_write_is_rejected_and_changes_nothing(storage: Storage) -> None:
    """After B takes over an expired lease, A's writes with its old fence raise StorageError."""
    await storage.create_execution(make_execution())
    lease_a = await storage.acquire_lease("ex-1", owner="a", ttl=10, now=T0)
    assert lease_a is not None
    await storage.save_node_execution("ex-1", make_node(0, output="a"), fence=lease_a.fence)
    lease_b = await storage.acquire_lease("ex-1", owner="b", ttl=10, now=T0 + 11)
    assert lease_b is not None and lease_b.fence > lease_a.fence
    with pytest.raises(StorageError):
        await storage.save_node_execution("ex-1", make_node(0, output="late"), fence=lease_a.fence)
    with pytest.raises(StorageError):
        await storage.save_node_execution("ex-1", make_node(1), fence=lease_a.fence)
    with pytest.raises(StorageError):
        await storage.append_logs("ex-1", [make_log()], fence=lease_a.fence)
    await storage.save_node_execution("ex-1", make_node(1, output="b"), fence=lease_b.fence)
    read = await storage.get_execution("ex-1", include_data=True)
    assert [(n.sequence, n.output) for n in read.node_executions] == [(0, "a"), (1, "b")]
    assert read.logs == []


async def test_renew_fails_once_the_lease_was_taken(storage: Storage) -> None:
    """renew_lease extends a held lease and returns None after a takeover."""
    await storage.create_execution(make_execution())
    lease = await storage.acquire_lease("ex-1", owner="a", ttl=10, now=T0)
    assert lease is not None
    renewed = await storage.renew_lease(lease, ttl=10, now=T0 + 5)
    assert renewed is not None and renewed.expires_at == T0 + 15
    assert await storage.acquire_lease("ex-1", owner="b", ttl=10, now=T0 + 12) is None
    assert await storage.acquire_lease("ex-1", owner="b", ttl=10, now=T0 + 16) is not None
    assert await storage.renew_lease(renewed, ttl=10, now=T0 + 17) is None


async def test_released_lease_can_be_taken_with_a_greater_fence(storage: Storage) -> None:
    """After release another owner gets the lease at once, and renewing the old one fails."""
    await storage.create_execution(make_execution())
    lease = await storage.acquire_lease("ex-1", owner="a", ttl=60, now=T0)
    assert lease is not None
    await storage.release_lease(lease)
    await storage.release_lease(lease)  # a second release is a no-op
    taken = await storage.acquire_lease("ex-1", owner="b", ttl=60, now=T0 + 1)
    assert taken is not None and taken.fence > lease.fence
    assert await storage.renew_lease(lease, ttl=60, now=T0 + 2) is None


async def test_concurrent_acquires_have_one_winner(storage: Storage, twin: Storage) -> None:
    """Two owners (two connections, as two processes) claiming at once: exactly one gets it."""
    await storage.create_execution(make_execution())
    granted: list[Lease | None] = []

    async def claim(store: Storage, owner: str) -> None:
        granted.append(await store.acquire_lease("ex-1", owner=owner, ttl=30, now=T0))

    async with anyio.create_task_group() as group:
        group.start_soon(claim, storage, "a")
        group.start_soon(claim, twin, "b")
    assert len([lease for lease in granted if lease is not None]) == 1


async def test_recoverable_are_unfinished_executions_without_a_live_lease(
    storage: Storage,
) -> None:
    """Running/paused executions with an expired or no lease are recoverable, oldest first."""
    statuses = {
        "held": ExecutionStatus.RUNNING,
        "expired": ExecutionStatus.RUNNING,
        "paused": ExecutionStatus.PAUSED,
        "pending": ExecutionStatus.PENDING,
        "done": ExecutionStatus.COMPLETED,
    }
    for offset, (execution_id, status) in enumerate(statuses.items()):
        await storage.create_execution(
            make_execution(execution_id, status=status, created_at=T0 + offset)
        )
    await storage.acquire_lease("held", owner="a", ttl=100, now=T0)
    await storage.acquire_lease("expired", owner="a", ttl=5, now=T0)
    assert await storage.recoverable_executions(now=T0 + 10) == ["expired", "paused"]
