"""A slot's fire is recorded with the execution it starts, or not at all: a slot is never marked
fired without running (a queued slot when the engine stops, an execution that could not be
created), so a restarted scheduler still runs it as a missed slot."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
from sched_workflows import interval_trigger, scheduled_times, timed_workflow

from linkflow_engine import Engine, StorageError
from linkflow_engine.storage.base import Storage
from linkflow_engine.storage.sqlite import SQLiteStorage


def fired_slots(path: Path) -> list[str]:
    """The slots recorded as fired, as HH:MM:SS.mmm."""
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT scheduled_ms FROM schedule_fires ORDER BY 1").fetchall()
    slots = [datetime.fromtimestamp(ms / 1000, UTC) for (ms,) in rows]
    return [f"{slot:%H:%M:%S}.{slot.microsecond // 1000:03d}" for slot in slots]


def started_slots(times: list[str]) -> list[str]:
    return sorted(t[11:23] for t in times)


async def test_a_slot_queued_when_the_engine_stops_runs_after_a_restart(tmp_path: Path) -> None:
    """overlap queue: a slot waiting behind a long run when the engine closes is not recorded,
    and the next engine runs it as a missed slot (it was recorded before it waited, so every
    later scheduler refused it: lost)."""
    path = tmp_path / "linkflow.db"
    nap = [{"id": "nap", "type": "wait", "name": "Nap", "config": {"duration": 1.5}}]
    trigger = interval_trigger(1, overlap="queue", misfirePolicy="all")
    async with Engine(SQLiteStorage(path), scheduler=True, lease_ttl=0.5) as first:
        await first.save_workflow(timed_workflow(trigger, after=nap))
        with anyio.fail_after(10):  # liveness bound
            while not await scheduled_times(first):
                await anyio.sleep(0.05)
        await anyio.sleep(1.2)  # the next slot came while the first run naps: queued
        before = await scheduled_times(first)
    queued = [slot for slot in fired_slots(path) if slot not in started_slots(before)]
    assert queued == []  # nothing recorded for the queued slot
    async with Engine(
        SQLiteStorage(path), scheduler=True, lease_ttl=0.5, poll_interval=0.05
    ) as second:
        await anyio.sleep(3.5)
        after = await scheduled_times(second)
        await second.save_workflow(timed_workflow(trigger, after=nap, status="inactive"))
    started = started_slots(after)
    assert len(started) > len(before)
    assert all(slot in started for slot in fired_slots(path))  # never fired without a run


class FailingCreates:
    """A storage whose first ``create_execution`` fails (a busy database, say)."""

    def __init__(self, inner: Storage) -> None:
        self.inner = inner
        self.failed = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def create_execution(self, execution: Any, **options: Any) -> Any:
        if not self.failed:
            self.failed = True
            raise StorageError("database is locked")
        return await self.inner.create_execution(execution, **options)


async def test_a_slot_whose_execution_cannot_be_created_is_not_marked_fired(
    tmp_path: Path,
) -> None:
    """When the first slot's execution cannot be created, its fire is not recorded either, so
    a restarted scheduler runs it as a missed slot (it was recorded alone: lost)."""
    path = tmp_path / "linkflow.db"
    trigger = interval_trigger(1, misfirePolicy="all")
    async with Engine(FailingCreates(SQLiteStorage(path)), scheduler=True) as first:
        await first.save_workflow(timed_workflow(trigger))
        with anyio.fail_after(10):  # liveness bound
            while not await scheduled_times(first):
                await anyio.sleep(0.05)
        await first.save_workflow(timed_workflow(trigger, status="inactive"))
        started = started_slots(await scheduled_times(first))
    assert first.storage.failed
    assert fired_slots(path) == started  # the failed slot is not among them
