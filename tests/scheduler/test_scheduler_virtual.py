"""The scheduler and the engine's timers under a VirtualClock: hours pass at once."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from sched_workflows import cron_trigger, interval_trigger, scheduled_times, timed_workflow

from linkflow_engine import Engine, ExecutionStatus, NodeError, StorageError
from linkflow_engine.graph import Workflow
from linkflow_engine.nodes import NodeRegistry
from linkflow_engine.storage.memory import MemoryStorage
from linkflow_engine.testing import VirtualClock

# 2024-03-10 01:30 in New York (EST), half an hour before clocks jump from 2:00 to 3:00.
BEFORE_NY_GAP = datetime(2024, 3, 10, 6, 30, tzinfo=UTC)
WAIT_90S = [
    {"id": "slow", "type": "wait", "name": "Slow", "config": {"duration": 90, "unit": "seconds"}}
]


def flaky_registry(failures: int) -> NodeRegistry:
    registry = NodeRegistry()
    calls: list[int] = []

    @registry.register("flaky")
    async def flaky(ctx: Any) -> dict[str, Any]:
        calls.append(1)
        if len(calls) <= failures:
            raise NodeError("not yet")
        return {"calls": len(calls)}

    return registry


async def test_retry_backoff_passes_at_once_under_a_virtual_clock() -> None:
    """retryDelay 60000 ms, two failures: the run completes after one advance, in real ms."""
    clock = VirtualClock(BEFORE_NY_GAP)
    started = time.monotonic()
    async with Engine(registry=flaky_registry(2), clock=clock) as engine:
        document = {
            "nodes": [
                {"id": "start", "type": "manual_trigger"},
                {
                    "id": "f",
                    "type": "flaky",
                    "retryOnFail": True,
                    "maxRetries": 3,
                    "retryDelay": 60000,
                },
            ],
            "connections": [{"source": "start", "target": "f"}],
        }
        execution = await engine.execute(document, wait=False)
        await clock.advance(timedelta(minutes=10))
        done = await engine.get_execution(execution.id, include_data=True)
    assert done.status is ExecutionStatus.COMPLETED
    assert done.outputs == {"f": {"calls": 3}}
    assert time.monotonic() - started < 1.0
    assert clock.now() == BEFORE_NY_GAP.timestamp() + 600


async def test_a_one_hour_wait_node_completes_after_advancing_an_hour() -> None:
    """A wait node of 1 hour stays running until the virtual clock passes the hour."""
    clock = VirtualClock(BEFORE_NY_GAP)
    started = time.monotonic()
    async with Engine(clock=clock) as engine:
        document = {
            "nodes": [
                {"id": "start", "type": "manual_trigger"},
                {"id": "w", "type": "wait", "config": {"duration": 1, "unit": "hours"}},
            ],
            "connections": [{"source": "start", "target": "w"}],
        }
        execution = await engine.execute(document, wait=False)
        await clock.advance(timedelta(minutes=59))
        assert (await engine.storage.get_status(execution.id)) is ExecutionStatus.RUNNING
        await clock.advance(timedelta(minutes=1))
        assert (await engine.storage.get_status(execution.id)) is ExecutionStatus.COMPLETED
    assert time.monotonic() - started < 1.0


async def test_a_cron_schedule_fires_at_the_right_virtual_instants_across_a_dst_gap() -> None:
    """'*/20 * * * *' in New York on the spring-forward night: 1:40 EST, then 3:00 and 3:20 EDT."""
    clock = VirtualClock(BEFORE_NY_GAP)
    async with Engine(clock=clock, scheduler=True) as engine:
        trigger = cron_trigger("*/20 * * * *", timezone="America/New_York")
        await engine.save_workflow(timed_workflow(trigger))
        await clock.advance(timedelta(minutes=55))
        assert await scheduled_times(engine) == [
            "2024-03-10T06:40:00.000Z",
            "2024-03-10T07:00:00.000Z",
            "2024-03-10T07:20:00.000Z",
        ]
        executions, _ = await engine.list_executions(mode="schedule")
        assert {e.status for e in executions} == {ExecutionStatus.COMPLETED}
        assert {e.triggered_by for e in executions} == {"scheduler"}


async def test_the_trigger_outputs_the_slot_as_scheduled_time() -> None:
    """The schedule trigger's output carries the slot and the virtual execution time."""
    clock = VirtualClock(datetime(2024, 5, 1, 12, 0, 0, 300000, tzinfo=UTC))
    async with Engine(clock=clock, scheduler=True) as engine:
        await engine.save_workflow(timed_workflow(interval_trigger(30)))
        await clock.advance(30)
        (execution,), _ = await engine.list_executions(mode="schedule")
        done = await engine.get_execution(execution.id, include_data=True)
    output = done.node("tick").output
    assert output["triggered"] is True
    assert output["scheduledTime"] == "2024-05-01T12:00:30.000Z"
    assert output["executionTime"] == "2024-05-01T12:00:30.000Z"


async def test_activating_editing_and_deactivating_take_effect_without_restart() -> None:
    """A saved change applies to the next slot: start, change the interval, then stop."""
    clock = VirtualClock(datetime(2024, 5, 1, 12, tzinfo=UTC))
    async with Engine(clock=clock, scheduler=True) as engine:
        await engine.save_workflow(timed_workflow(interval_trigger(10), status="inactive"))
        await clock.advance(30)
        assert await scheduled_times(engine) == []
        await engine.save_workflow(timed_workflow(interval_trigger(10)))
        await clock.advance(20)
        await engine.save_workflow(timed_workflow(interval_trigger(15)))
        await clock.advance(30)
        await engine.save_workflow(timed_workflow(interval_trigger(15), status="inactive"))
        await clock.advance(60)
        assert await scheduled_times(engine) == [
            "2024-05-01T12:00:40.000Z",
            "2024-05-01T12:00:50.000Z",
            "2024-05-01T12:01:00.000Z",
            "2024-05-01T12:01:15.000Z",
        ]


async def misfires_after_downtime(**policy: Any) -> list[str]:
    """Fire a 1-minute interval twice, stop for 10.5 minutes, start again for one more minute."""
    storage, clock = MemoryStorage(), VirtualClock(datetime(2024, 5, 1, 12, tzinfo=UTC))
    async with Engine(storage, clock=clock, scheduler=True) as engine:
        await engine.save_workflow(timed_workflow(interval_trigger(1, "minutes", **policy)))
        await clock.advance(timedelta(minutes=2))
    await clock.advance(timedelta(minutes=10, seconds=30))
    async with Engine(storage, clock=clock, scheduler=True) as engine:
        await clock.advance(timedelta(minutes=1))
        return [t[11:16] for t in await scheduled_times(engine)]


async def test_once_runs_one_catch_up_after_downtime() -> None:
    """Default policy: after 10 missed minutes, one catch-up (for 12:12), then on schedule."""
    assert await misfires_after_downtime() == ["12:01", "12:02", "12:12", "12:13"]


async def test_skip_runs_no_catch_up_after_downtime() -> None:
    """misfirePolicy skip: the missed minutes are dropped."""
    assert await misfires_after_downtime(misfirePolicy="skip") == ["12:01", "12:02", "12:13"]


async def test_all_runs_the_missed_slots_up_to_the_limit() -> None:
    """misfirePolicy all with misfireLimit 3: the last three missed minutes, then on schedule."""
    fired = await misfires_after_downtime(misfirePolicy="all", misfireLimit=3)
    assert fired == ["12:01", "12:02", "12:10", "12:11", "12:12", "12:13"]


async def test_a_trigger_resumes_after_its_own_last_slot_whatever_its_siblings_fired() -> None:
    """A workflow with an hourly trigger and one every 10 s: after downtime the hourly one
    gets its catch-up run although the other fired 120 times since its last slot (before, its
    resume point was looked for among the workflow's newest 100 scheduled runs only, and it
    resumed from now, as if new)."""
    storage, clock = MemoryStorage(), VirtualClock(datetime(2024, 5, 1, 13, 59, 30, tzinfo=UTC))
    hourly = {**cron_trigger("0 * * * *"), "id": "hourly"}
    fast = {**interval_trigger(10), "id": "fast"}
    document = timed_workflow(hourly, after=[fast, {"id": "done", "type": "noop"}])
    document["connections"] = [
        {"source": "hourly", "target": "done"},
        {"source": "fast", "target": "done"},
    ]

    async def hourly_slots(engine: Engine) -> list[str]:
        executions, _ = await engine.list_executions(mode="schedule", limit=1000)
        return sorted(
            e.options["starts"][0][1]["scheduledTime"][11:16]
            + ("*" if e.options["starts"][0][1].get("catchUp") else "")
            for e in executions
            if e.options["startNodeId"] == "hourly"
        )

    async with Engine(storage, clock=clock, scheduler=True) as engine:
        await engine.save_workflow(document)
        await clock.advance(timedelta(minutes=21))
        assert await hourly_slots(engine) == ["14:00"]
    await clock.advance(timedelta(hours=2, minutes=40))  # down until 17:00:30
    async with Engine(storage, clock=clock, scheduler=True) as engine:
        await clock.advance(timedelta(seconds=20))
        assert await hourly_slots(engine) == ["14:00", "17:00*"]


class RefusesScheduledRuns:
    """Memory storage that cannot store the scheduled runs ``refused`` picks by their number
    (1 for the first tried), as a busy database would; ``tries`` notes when each was tried."""

    def __init__(self, clock: VirtualClock, refused: Any) -> None:
        self.inner = MemoryStorage()
        self.clock = clock
        self.refused = refused
        self.tries: list[float] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def create_execution(self, execution: Any, **terms: Any) -> Any:
        if terms.get("fire") is not None:
            self.tries.append(self.clock.now())
            if self.refused(len(self.tries)):
                raise StorageError("database is locked")
        return await self.inner.create_execution(execution, **terms)


async def test_a_slot_whose_run_could_not_be_stored_is_tried_again() -> None:
    """The run of the 12:00:20 slot cannot be stored: the slot, not recorded, stays due and
    the next pass starts it (before, the scheduler went on as if it had been handled, and no
    scheduler ever ran it, whatever the misfire policy)."""
    clock = VirtualClock(datetime(2024, 5, 1, 12, tzinfo=UTC))
    storage = RefusesScheduledRuns(clock, lambda number: number == 2)
    async with Engine(storage, clock=clock, scheduler=True) as engine:  # type: ignore[arg-type]
        await engine.save_workflow(timed_workflow(interval_trigger(10)))
        await clock.advance(timedelta(seconds=45))
        fired = [t[11:19] for t in await scheduled_times(engine)]
    assert fired == ["12:00:10", "12:00:20", "12:00:30", "12:00:40"]


async def test_a_slot_that_never_starts_is_tried_less_and_less_often() -> None:
    """No scheduled run can be stored: the slot is tried again after 1, 2, 4, 8... seconds
    (up to a minute), not at every pass."""
    clock = VirtualClock(datetime(2024, 5, 1, 12, tzinfo=UTC))
    storage = RefusesScheduledRuns(clock, lambda number: True)
    async with Engine(storage, clock=clock, scheduler=True) as engine:  # type: ignore[arg-type]
        await engine.save_workflow(timed_workflow(interval_trigger(10)))
        await clock.advance(timedelta(seconds=75))
        _, total = await engine.list_executions()
    first = datetime(2024, 5, 1, 12, 0, 10, tzinfo=UTC).timestamp()
    assert total == 0
    assert [round(t - first) for t in storage.tries] == [0, 1, 3, 7, 15, 31, 63]


class SlowToStore(RefusesScheduledRuns):
    """Storing a scheduled run takes 0.6 s of the virtual clock (a busy database)."""

    async def create_execution(self, execution: Any, **terms: Any) -> Any:
        if terms.get("fire") is not None:
            self.clock._now += 0.6  # time passes, as it would in a slow write
        return await super().create_execution(execution, **terms)


async def test_triggers_handled_late_in_a_pass_are_judged_at_the_pass_s_time() -> None:
    """Three triggers due at once, each run taking 0.6 s to store, no grace: all three fire
    on time (before, the third was judged 1.2 s late, past the wake-up allowance, and with
    misfirePolicy skip never fired)."""
    clock = VirtualClock(datetime(2024, 5, 1, 12, tzinfo=UTC))
    storage = SlowToStore(clock, lambda number: False)
    trigger = interval_trigger(10, misfireGraceSeconds=0, misfirePolicy="skip")
    async with Engine(storage, clock=clock, scheduler=True) as engine:  # type: ignore[arg-type]
        for name in ("wf-a", "wf-b", "wf-c"):
            await engine.save_workflow(timed_workflow(trigger, id=name))
        await clock.advance(timedelta(seconds=15))
        counts = [
            (await engine.list_executions(workflow_id=n))[1] for n in ("wf-a", "wf-b", "wf-c")
        ]
    assert counts == [1, 1, 1]


async def test_a_workflow_that_cannot_start_is_not_tried_again(caplog: Any) -> None:
    """A scheduled workflow this engine cannot start (a node type it lacks, stored by another
    engine): each slot says so once, and is not tried again (that would fail again)."""
    clock = VirtualClock(datetime(2024, 5, 1, 12, tzinfo=UTC))
    storage = RefusesScheduledRuns(clock, lambda number: False)
    broken = timed_workflow(interval_trigger(10), after=[{"id": "x", "type": "elsewhere"}])
    async with Engine(storage, clock=clock, scheduler=True):  # type: ignore[arg-type]
        await storage.save_workflow(Workflow.from_dict(broken))  # no check of its node types
        await clock.advance(timedelta(seconds=35))
    said = [r.getMessage() for r in caplog.records if "cannot start" in r.getMessage()]
    assert [message.split("T")[1][:8] for message in said] == ["12:00:10", "12:00:20", "12:00:30"]


async def overlapping(overlap: str) -> list[Any]:
    """A 1-minute interval whose runs take 90 s, for 4 minutes."""
    clock = VirtualClock(datetime(2024, 5, 1, 12, tzinfo=UTC))
    async with Engine(clock=clock, scheduler=True) as engine:
        trigger = interval_trigger(1, "minutes", overlap=overlap)
        await engine.save_workflow(timed_workflow(trigger, after=WAIT_90S))
        await clock.advance(timedelta(minutes=4, seconds=1))
        executions, _ = await engine.list_executions(mode="schedule", limit=100)
        # Closing waits for runs on memory storage: stop firing and let the last ones end.
        await engine.save_workflow(timed_workflow(trigger, after=WAIT_90S, status="inactive"))
        await clock.advance(timedelta(minutes=5))
        return sorted(
            (e.options["starts"][0][1]["scheduledTime"][11:16], e.started_at) for e in executions
        )


async def test_overlap_allow_starts_every_slot() -> None:
    """overlap allow (default): a slot starts while the previous run still waits."""
    assert [slot for slot, _ in await overlapping("allow")] == ["12:01", "12:02", "12:03", "12:04"]


async def test_overlap_skip_drops_slots_while_the_previous_run_goes_on() -> None:
    """overlap skip: 12:02 and 12:04 come while a run is going and are dropped."""
    assert [slot for slot, _ in await overlapping("skip")] == ["12:01", "12:03"]


async def test_overlap_queue_starts_a_slot_when_the_previous_run_ends() -> None:
    """overlap queue: 12:02 starts when the 12:01 run ends at 12:02:30."""
    runs = await overlapping("queue")
    assert [slot for slot, _ in runs][:2] == ["12:01", "12:02"]
    started = datetime.fromtimestamp(runs[1][1], UTC)
    assert started == datetime(2024, 5, 1, 12, 2, 30, tzinfo=UTC)
