"""Slots whose runs the storage fails to store, queued slots among them: tried again in order,
never beside a later slot; a workflow that cannot start is not tried again."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from sched_workflows import interval_trigger, timed_workflow
from test_scheduler_virtual import WAIT_90S, RefusesScheduledRuns

from linkflow_engine import Engine, StorageError
from linkflow_engine.graph import Workflow
from linkflow_engine.nodes import NodeRegistry
from linkflow_engine.testing import VirtualClock

T0 = datetime(2024, 5, 1, 12, tzinfo=UTC)
QUEUED = interval_trigger(1, "minutes", overlap="queue")


async def runs_of(engine: Engine) -> list[tuple[float, str, str]]:
    """(started at, slot, status) of each scheduled run, by start."""
    executions, _ = await engine.list_executions(workflow_id="wf-timed", limit=100)
    return sorted(
        (e.started_at or 0.0, e.options["starts"][0][1]["scheduledTime"][11:19], e.status.value)
        for e in executions
    )


async def stop_firing(engine: Engine, clock: VirtualClock, trigger: dict[str, Any]) -> None:
    """Deactivate the workflow and let the runs end (closing waits for them on memory)."""
    await engine.save_workflow(timed_workflow(trigger, after=WAIT_90S, status="inactive"))
    await clock.advance(timedelta(minutes=10))


async def test_a_queued_slot_trying_again_is_not_overtaken_by_a_later_slot() -> None:
    """overlap queue, 90 s runs every minute: the queued 12:02 slot's run cannot be stored
    for a while. The 12:03 slot waits behind it (before, it started at once, and 12:02 then
    started beside it): never two runs at once, slots started in order."""
    clock = VirtualClock(T0)
    storage = RefusesScheduledRuns(clock, lambda number: 2 <= number <= 6)
    async with Engine(storage, clock=clock, scheduler=True) as engine:  # type: ignore[arg-type]
        await engine.save_workflow(timed_workflow(QUEUED, after=WAIT_90S))
        await clock.advance(timedelta(seconds=185))
        runs = await runs_of(engine)
        await stop_firing(engine, clock, QUEUED)
    assert sum(status == "running" for _, _, status in runs) <= 1
    slots = [slot for _, slot, _ in runs]
    assert slots == sorted(slots)
    assert slots[:2] == ["12:01:00", "12:02:00"]


class StatusReadFailsOnce(RefusesScheduledRuns):
    """The first read of a run's status fails (a dropped connection)."""

    failed = False

    async def get_status(self, execution_id: str) -> Any:
        if not self.failed:
            self.failed = True
            raise StorageError("server closed the connection unexpectedly")
        return await self.inner.get_status(execution_id)


async def test_a_storage_error_while_a_queued_slot_waits_is_tried_again() -> None:
    """While the queued 12:02 slot waits for the 12:01 run, one status read fails: the slot
    waits again and starts (before, the error stopped the scheduler and the engine)."""
    clock = VirtualClock(T0)
    storage = StatusReadFailsOnce(clock, lambda number: False)
    async with Engine(storage, clock=clock, scheduler=True) as engine:  # type: ignore[arg-type]
        await engine.save_workflow(timed_workflow(QUEUED, after=WAIT_90S))
        await clock.advance(timedelta(seconds=215))
        slots = [slot for _, slot, _ in await runs_of(engine)]
        await stop_firing(engine, clock, QUEUED)
    assert storage.failed
    assert slots[:2] == ["12:01:00", "12:02:00"]


async def test_a_queued_slot_is_dropped_when_its_trigger_is_rescheduled() -> None:
    """The queued 12:02 slot tries again (its run could not be stored) when the trigger is
    rescheduled to every 7 minutes: the slot of the old schedule is dropped."""
    clock = VirtualClock(T0)
    storage = RefusesScheduledRuns(clock, lambda number: 2 <= number <= 4)
    rescheduled = interval_trigger(7, "minutes", overlap="queue")
    async with Engine(storage, clock=clock, scheduler=True) as engine:  # type: ignore[arg-type]
        await engine.save_workflow(timed_workflow(QUEUED, after=WAIT_90S))
        await clock.advance(timedelta(seconds=151))  # 12:02 queued, its first try refused
        await engine.save_workflow(timed_workflow(rescheduled, after=WAIT_90S))
        await clock.advance(timedelta(seconds=20))
        slots = [slot for _, slot, _ in await runs_of(engine)]
        await stop_firing(engine, clock, rescheduled)
    assert slots == ["12:01:00"]


async def test_a_workflow_that_fails_to_plan_is_not_tried_again(caplog: Any) -> None:
    """A node type whose hook raises KeyError on the stored config (an error of the workflow,
    not of the storage): each slot says it cannot start, once, and later slots go on (before,
    the first slot was tried again for ever and no later one fired)."""
    caplog.set_level(logging.INFO, "linkflow_engine.scheduler")
    registry = NodeRegistry()

    async def picky(ctx: Any) -> Any:
        return ctx.input

    registry.register("picky", picky, wait_for_all=lambda config: config["mode"] == "all")
    clock = VirtualClock(T0)
    storage = RefusesScheduledRuns(clock, lambda number: False)
    document = timed_workflow(interval_trigger(10), after=[{"id": "p", "type": "picky"}])
    async with Engine(storage, registry, clock=clock, scheduler=True):  # type: ignore[arg-type]
        await storage.save_workflow(Workflow.from_dict(document))  # as another engine saved it
        await clock.advance(timedelta(minutes=1))
    messages = [record.getMessage() for record in caplog.records]
    assert not [m for m in messages if "not stored" in m]
    assert len([m for m in messages if "cannot start" in m]) == 6
