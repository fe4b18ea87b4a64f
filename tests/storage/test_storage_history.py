"""Contract: statistics, pruning, schedule fires and webhook deliveries, on every backend."""

from __future__ import annotations

import pytest
from storage_records import (
    DAY,
    T0,
    make_event,
    make_execution,
    make_finished,
    make_log,
    make_node,
)

from linkflow_engine import ExecutionNotFoundError
from linkflow_engine.runtime._records import ExecutionStatus
from linkflow_engine.storage.base import ExecutionQuery, FireRecorded, LeaseTerms, Storage

COMPLETED = ExecutionStatus.COMPLETED
FAILED = ExecutionStatus.FAILED
CANCELLED = ExecutionStatus.CANCELLED
NOW = 1_750_032_000.0  # 2025-06-16T00:00:00Z


async def _seed_stats(storage: Storage) -> None:
    rows = [
        ("a", COMPLETED, NOW - 3 * 3600, 2.0, "wf-1"),
        ("b", COMPLETED, NOW - 2 * 3600, 4.0, "wf-1"),
        ("c", FAILED, NOW - 3600, 6.0, "wf-2"),
        ("d", CANCELLED, NOW - 2 * DAY, 0.5, "wf-1"),
        ("e", COMPLETED, NOW - 20 * DAY, 1.0, "wf-1"),
        ("f", COMPLETED, NOW - 40 * DAY, 1.0, "wf-1"),
    ]
    for execution_id, status, created, seconds, workflow_id in rows:
        await storage.create_execution(
            make_finished(execution_id, status, created, seconds, workflow_id=workflow_id)
        )
    await storage.create_execution(make_execution("r", created_at=NOW - 60))


async def test_stats_of_the_last_day(storage: Storage) -> None:
    """Counts, average duration, success rate and days over the last 24 hours."""
    await _seed_stats(storage)
    assert await storage.execution_stats(period="day", now=NOW) == {
        "total": 4,
        "completed": 2,
        "failed": 1,
        "cancelled": 0,
        "avgDuration": 4000,
        "successRate": 66.7,
        "byDay": [{"date": "2025-06-15", "count": 4, "failed": 1}],
    }


async def test_stats_of_a_month_for_one_workflow(storage: Storage) -> None:
    """The month window reaches 30 days back; byDay is oldest first; workflow_id narrows."""
    await _seed_stats(storage)
    stats = await storage.execution_stats(workflow_id="wf-1", period="month", now=NOW)
    assert stats == {
        "total": 5,
        "completed": 3,
        "failed": 0,
        "cancelled": 1,
        "avgDuration": 1875,
        "successRate": 75.0,
        "byDay": [
            {"date": "2025-05-27", "count": 1, "failed": 0},
            {"date": "2025-06-14", "count": 1, "failed": 0},
            {"date": "2025-06-15", "count": 3, "failed": 0},
        ],
    }
    week = await storage.execution_stats(period="week", now=NOW)
    assert (week["total"], len(week["byDay"])) == (5, 2)


async def test_stats_average_only_executions_that_ran(storage: Storage) -> None:
    """avgDuration averages the finished executions that have a duration: one cancelled while
    it waited to start (no start time) counts as cancelled, not as a run of no length."""
    await _seed_stats(storage)
    never_started = make_finished("q", CANCELLED, NOW - 1800, 0.0, workflow_id="wf-2")
    never_started.started_at = None
    await storage.create_execution(never_started)
    stats = await storage.execution_stats(period="day", now=NOW)
    assert (stats["total"], stats["cancelled"], stats["avgDuration"]) == (5, 1, 4000)
    assert stats["successRate"] == 50.0


async def test_stats_of_nothing_are_zero(storage: Storage) -> None:
    """No executions: zero counts, avgDuration 0 and successRate 0.0; bad periods are refused."""
    assert await storage.execution_stats(period="week", now=NOW) == {
        "total": 0,
        "completed": 0,
        "failed": 0,
        "cancelled": 0,
        "avgDuration": 0,
        "successRate": 0.0,
        "byDay": [],
    }
    with pytest.raises(ValueError, match="period"):
        await storage.execution_stats(period="year", now=NOW)


async def _seed_prune(storage: Storage) -> None:
    statuses = [COMPLETED, FAILED, ExecutionStatus.RUNNING, CANCELLED, ExecutionStatus.PENDING]
    for index, status in enumerate(statuses):
        execution = make_execution(f"w1-{index}", status=status, created_at=T0 + index)
        await storage.create_execution(execution)
        await storage.save_node_execution(execution.id, make_node())
        await storage.append_logs(execution.id, [make_log()])
        await storage.append_events(execution.id, [make_event(1, execution.id).record()])
    await storage.create_execution(make_finished("w2-0", COMPLETED, T0, workflow_id="wf-2"))


async def _ids(storage: Storage) -> list[str]:
    return sorted(e.id for e in (await storage.list_executions(ExecutionQuery(limit=100)))[0])


async def test_prune_by_age_deletes_finished_executions_and_their_records(
    storage: Storage,
) -> None:
    """prune(older_than) deletes finished executions created before it, with their node runs,
    logs and events, and never an unfinished one."""
    await _seed_prune(storage)
    assert await storage.prune(older_than=T0 + 10) == 4
    assert await _ids(storage) == ["w1-2", "w1-4"]
    with pytest.raises(ExecutionNotFoundError):
        await storage.get_execution("w1-0")
    assert await storage.list_events("w1-0") == []
    assert len((await storage.get_execution("w1-2")).node_executions) == 1


async def test_prune_deletes_the_done_deliveries_of_what_it_deletes(storage: Storage) -> None:
    """A pruned execution's delivered or given-up deliveries go with it; a pending one stays,
    to be delivered all the same, and goes with the next prune once done; those of kept
    executions stay."""
    await _seed_prune(storage)
    for delivery_id, execution_id in [("done", "w1-0"), ("due", "w1-0"), ("kept", "w1-2")]:
        await storage.save_delivery({**_delivery(delivery_id, T0), "executionId": execution_id})
    await storage.update_delivery("done", status="delivered")
    await storage.update_delivery("kept", status="failed")
    assert await storage.prune(older_than=T0 + 10) == 4
    with pytest.raises(ExecutionNotFoundError):
        await storage.update_delivery("done", attempts=2)
    await storage.update_delivery("kept", attempts=2)
    assert [d["id"] for d in await storage.pending_deliveries(now=T0 + 1)] == ["due"]
    await storage.update_delivery("due", status="delivered")  # delivered after the prune
    assert await storage.prune(older_than=T0 + 10) == 0
    with pytest.raises(ExecutionNotFoundError):  # the next prune deletes it
        await storage.update_delivery("due", attempts=2)
    await storage.update_delivery("kept", attempts=3)


async def test_prune_keeps_the_newest_per_workflow(storage: Storage) -> None:
    """prune(keep_last_per_workflow=N) keeps the N newest executions of each workflow."""
    await _seed_prune(storage)
    assert await storage.prune(keep_last_per_workflow=2) == 2
    assert await _ids(storage) == ["w1-2", "w1-3", "w1-4", "w2-0"]
    assert await storage.prune() == 0
    assert await storage.prune(keep_last_per_workflow=0) == 2
    assert await _ids(storage) == ["w1-2", "w1-4"]


async def test_prune_leaves_an_execution_whose_lease_is_live(storage: Storage) -> None:
    """A cancelled execution whose run still holds its lease (a run cancelled from elsewhere
    writes its end after the cancel) is left for a later prune; one whose lease expired (its
    process died) or was released goes."""
    for name, taken in [("held", NOW), ("stale", NOW - 60), ("released", NOW)]:
        terms = LeaseTerms(owner=f"engine-{name}", ttl=30.0, now=taken)
        lease = await storage.create_execution(make_execution(name), lease=terms)
        assert lease is not None
        if name == "released":
            await storage.release_lease(lease)
        cancelled = await storage.transition_execution(
            name, expected=[ExecutionStatus.RUNNING], status=CANCELLED, finished_at=NOW
        )
        assert cancelled
    assert await storage.prune(keep_last_per_workflow=0, now=NOW) == 2
    assert await _ids(storage) == ["held"]
    assert await storage.prune(older_than=NOW, now=NOW + 29) == 0
    assert await storage.prune(older_than=NOW, now=NOW + 31) == 1
    assert await _ids(storage) == []


async def test_a_schedule_slot_is_recorded_once(storage: Storage, twin: Storage) -> None:
    """record_fire is True for the first record of a slot, False after, from any process."""
    slot = {"workflow_id": "wf-1", "node_id": "cron", "scheduled_at": T0}
    assert await storage.record_fire(**slot, execution_id="ex-1")
    assert not await storage.record_fire(**slot)
    assert not await twin.record_fire(**slot, execution_id="ex-2")
    assert await twin.record_fire(**{**slot, "scheduled_at": T0 + 60})
    assert await twin.record_fire(**{**slot, "node_id": "other"})


async def test_the_last_fire_of_a_trigger_is_its_latest_recorded_slot(
    storage: Storage, twin: Storage
) -> None:
    """last_fire: the latest slot recorded for that trigger (by any process, with or without
    an execution), to the millisecond; None for a trigger never fired."""
    assert await storage.last_fire(workflow_id="wf-1", node_id="cron") is None
    await storage.record_fire(workflow_id="wf-1", node_id="cron", scheduled_at=T0 + 60.25)
    await twin.record_fire(workflow_id="wf-1", node_id="cron", scheduled_at=T0)
    await twin.record_fire(workflow_id="wf-1", node_id="other", scheduled_at=T0 + 3600)
    await twin.record_fire(workflow_id="wf-2", node_id="cron", scheduled_at=T0 + 7200)
    fired = make_execution("fired")
    await storage.create_execution(fired, fire=("wf-1", "cron", T0 + 120.5))
    assert await twin.last_fire(workflow_id="wf-1", node_id="cron") == T0 + 120.5
    assert await storage.last_fire(workflow_id="wf-1", node_id="other") == T0 + 3600


async def test_a_fire_is_recorded_with_its_execution_or_not_at_all(
    storage: Storage, twin: Storage
) -> None:
    """create_execution with a fire records it in the same write; given a fire recorded before
    (by any process, either way), it raises FireRecorded and stores nothing."""
    fire = ("wf-1", "cron", T0)
    lease = LeaseTerms(owner="engine-a", ttl=30, now=T0)
    granted = await storage.create_execution(make_execution("ex-1"), lease=lease, fire=fire)
    assert granted is not None and granted.execution_id == "ex-1"
    assert not await twin.record_fire(workflow_id="wf-1", node_id="cron", scheduled_at=T0)
    with pytest.raises(FireRecorded):
        await twin.create_execution(make_execution("ex-2"), lease=lease, fire=fire)
    with pytest.raises(ExecutionNotFoundError):
        await storage.get_execution("ex-2")
    assert await storage.record_fire(workflow_id="wf-1", node_id="cron", scheduled_at=T0 + 60)
    with pytest.raises(FireRecorded):
        await storage.create_execution(make_execution("ex-3"), fire=("wf-1", "cron", T0 + 60))
    with pytest.raises(ExecutionNotFoundError):
        await twin.get_execution("ex-3")
    assert (
        await twin.create_execution(make_execution("ex-4"), fire=("wf-1", "cron", T0 + 120)) is None
    )
    assert (await storage.get_execution("ex-4")).id == "ex-4"


def _delivery(delivery_id: str, due: float, status: str = "pending") -> dict[str, object]:
    return {
        "id": delivery_id,
        "executionId": "ex-1",
        "url": "https://example.test/hook",
        "body": '{"event":"execution.completed"}',
        "attempts": 0,
        "nextAttemptAt": due,
        "status": status,
        "lastError": None,
    }


async def test_pending_deliveries_are_the_due_ones(storage: Storage) -> None:
    """pending_deliveries lists pending deliveries due by now, earliest first, up to limit."""
    await storage.save_delivery(_delivery("late", T0 + 5))
    await storage.save_delivery(_delivery("early", T0 + 1))
    await storage.save_delivery(_delivery("future", T0 + 100))
    await storage.save_delivery(_delivery("done", T0, status="delivered"))
    assert await storage.pending_deliveries(now=T0 + 10) == [
        _delivery("early", T0 + 1),
        _delivery("late", T0 + 5),
    ]
    assert [d["id"] for d in await storage.pending_deliveries(now=T0 + 10, limit=1)] == ["early"]


async def test_update_delivery_sets_fields(storage: Storage) -> None:
    """update_delivery changes the given fields; unknown ids and fields are refused."""
    await storage.save_delivery(_delivery("d1", T0))
    await storage.update_delivery("d1", attempts=1, nextAttemptAt=T0 + 30, lastError="HTTP 500")
    [updated] = await storage.pending_deliveries(now=T0 + 30)
    assert (updated["attempts"], updated["lastError"]) == (1, "HTTP 500")
    await storage.update_delivery("d1", status="delivered")
    assert await storage.pending_deliveries(now=T0 + 99) == []
    with pytest.raises(ExecutionNotFoundError):
        await storage.update_delivery("nope", status="failed")
    with pytest.raises(ValueError, match="colour"):
        await storage.update_delivery("d1", colour="red")


async def test_a_delivery_is_claimed_by_one_caller(storage: Storage) -> None:
    """claim_delivery succeeds once for the due time read; the claimed delivery is no longer
    due until the claim runs out; a finished or unknown delivery is not claimed."""
    due = T0 + 1.123456
    await storage.save_delivery(_delivery("d1", due))
    await storage.save_delivery(_delivery("done", T0, status="delivered"))
    assert await storage.claim_delivery("d1", due_at=due, until=T0 + 60)
    assert not await storage.claim_delivery("d1", due_at=due, until=T0 + 61)
    assert await storage.pending_deliveries(now=T0 + 59) == []
    [expired] = await storage.pending_deliveries(now=T0 + 60)
    assert expired["nextAttemptAt"] == T0 + 60
    assert await storage.claim_delivery("d1", due_at=T0 + 60, until=T0 + 120)
    assert not await storage.claim_delivery("done", due_at=T0, until=T0 + 60)
    assert not await storage.claim_delivery("nope", due_at=T0, until=T0 + 60)


async def test_an_end_stores_its_callback_only_when_it_changes_the_status(
    storage: Storage,
) -> None:
    """finish_execution and transition_execution store the given deliveries in their own
    transaction when they change the status, and not when the status was already another."""
    await storage.create_execution(make_execution("ex-1"))
    await storage.create_execution(make_execution("ex-2"))
    running = [ExecutionStatus.RUNNING]
    finished = await storage.finish_execution(
        "ex-1",
        expected=running,
        status=COMPLETED,
        finished_at=T0,
        deliveries=[_delivery("d1", T0), _delivery("d1b", T0)],
    )
    cancelled = await storage.transition_execution(
        "ex-2", expected=running, status=CANCELLED, deliveries=[_delivery("d2", T0)]
    )
    late_finish = await storage.finish_execution(
        "ex-2", expected=running, status=COMPLETED, finished_at=T0, deliveries=[_delivery("d3", T0)]
    )
    late_cancel = await storage.transition_execution(
        "ex-1", expected=running, status=CANCELLED, deliveries=[_delivery("d4", T0)]
    )
    assert (finished, cancelled, late_finish, late_cancel) == (True, True, False, False)
    pending = await storage.pending_deliveries(now=T0 + 1)
    assert sorted(d["id"] for d in pending) == ["d1", "d1b", "d2"]
