"""Durable sleeps: a node's ctx.sleep (the wait node's) stores its deadline before it begins, so
an execution taken up after a crash sleeps until that deadline instead of starting over."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import anyio
import psycopg
import pytest
from durable_storages import (
    POSTGRES_DSN,
    RefusesWrites,
    StorageFactory,
    postgres_factory,
    sqlite_factory,
)
from wait_worker import WAITING

from linkflow_engine import Engine, ExecutionStatus, NodeStatus, StorageError
from linkflow_engine.storage.base import ExecutionQuery, Storage
from linkflow_engine.storage.sqlite import SQLiteStorage

WORKER = Path(__file__).parent / "wait_worker.py"


async def stored_deadline(storage: Storage) -> float | None:
    """The deadline the wait node's run stored, once it has one."""
    executions, _ = await storage.list_executions(ExecutionQuery(workflow_id="wf-wait"))
    if not executions:
        return None
    execution = await storage.get_execution(executions[0].id, include_data=True)
    runs = [run for run in execution.node_executions if run.node_id == "pause"]
    return runs[0].timers[0] if runs and runs[0].timers else None


@pytest.mark.slow
def test_a_wait_taken_up_after_kill_9_ends_when_it_was_due(
    shared: tuple[str, StorageFactory],
) -> None:
    """The worker is killed 4 s into an 8 s wait; another engine takes the execution up and the
    wait ends at the deadline the first stored (starting over would end it 5 s or more later)."""
    target, make_storage = shared
    worker = subprocess.Popen([sys.executable, str(WORKER), *target.split(" ", 1)])

    async def deadline_of_the_wait() -> float:
        storage = make_storage()
        await storage.open()
        try:
            with anyio.fail_after(30):
                while (deadline := await stored_deadline(storage)) is None:
                    assert worker.poll() is None, "the worker ended before it was killed"
                    await anyio.sleep(0.05)
        finally:
            await storage.aclose()
        return deadline

    try:
        deadline = anyio.run(deadline_of_the_wait)
        time.sleep(max(0.0, deadline - 4 - time.time()))  # 4 s into the wait
    finally:
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait()

    async def recover() -> tuple[float, list[float] | None, object]:
        await anyio.sleep(1.2)  # the dead worker's lease (1 s) runs out
        async with Engine(make_storage(), lease_ttl=1.0, poll_interval=0.05) as engine:
            (execution,), _ = await engine.list_executions(workflow_id="wf-wait")
            with anyio.fail_after(30):
                while not (await engine.storage.get_status(execution.id)).is_terminal:
                    await anyio.sleep(0.05)
            done = await engine.get_execution(execution.id, include_data=True)
        pause = done.node("pause")
        assert done.status is ExecutionStatus.COMPLETED
        assert pause.status is NodeStatus.COMPLETED
        assert pause.finished_at is not None
        return pause.finished_at, pause.timers, done.node("after").output

    finished_at, timers, output = anyio.run(recover)
    assert timers == [deadline]  # the same timer, not a new one
    assert deadline - 0.01 <= finished_at < deadline + 2.5
    assert output["n"] == 1


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_a_sleep_whose_deadline_is_refused_still_sleeps_and_nothing_is_lost(
    backend: str, tmp_path: Path
) -> None:
    """The write of a sleep's deadline fails: the node sleeps all the same (not durably)
    instead of failing, and nothing the run says is lost: the stored events run without a
    gap, the node runs are all stored."""
    schema = f"test_{uuid.uuid4().hex[:16]}"
    inner = (
        sqlite_factory(tmp_path / "linkflow.db")()
        if backend == "sqlite"
        else postgres_factory(schema)()
    )
    storage = RefusesWrites(
        inner,
        lambda run: bool(run.timers) and run.finished_at is None,
        lambda _: StorageError("database is locked"),
    )
    try:
        async with Engine(storage) as engine:  # type: ignore[arg-type]
            waiting = {**WAITING, "nodes": [*WAITING["nodes"]]}
            waiting["nodes"][1] = {**waiting["nodes"][1], "config": {"duration": 1}}
            done = await engine.execute(waiting, {"n": 1})
            stored = await engine.get_execution(done.id, include_data=True)
            sequences = [e.sequence for e in await engine.storage.list_events(done.id)]
    finally:
        if backend == "postgres":
            with psycopg.connect(POSTGRES_DSN, autocommit=True) as connection:
                connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    assert storage.refused == 1
    assert stored.status is ExecutionStatus.COMPLETED
    assert [(n.node_id, n.status.value) for n in stored.node_executions] == [
        ("start", "completed"), ("pause", "completed"), ("after", "completed")
    ]  # fmt: skip
    assert sequences == list(range(1, len(sequences) + 1))


def looping(outer: list[int], inner: list[int] | None, seconds: float) -> dict[str, Any]:
    """A wait in a loop's body (in a loop in a loop's body, with ``inner``)."""
    nodes: list[dict[str, Any]] = [
        {"id": "start", "type": "manual_trigger"},
        {"id": "each", "type": "loop", "config": {"items": outer}},
        {"id": "pause", "type": "wait", "config": {"duration": seconds}},
    ]
    connections = [{"source": "start", "target": "each"}]
    if inner is None:
        connections.append({"source": "each", "target": "pause", "sourcePort": "loop"})
    else:
        nodes.append({"id": "inner", "type": "loop", "config": {"items": inner}})
        connections.append({"source": "each", "target": "inner", "sourcePort": "loop"})
        connections.append({"source": "inner", "target": "pause", "sourcePort": "loop"})
    return {"id": "wf-loop", "name": "loop", "nodes": nodes, "connections": connections}


async def left_during_pause(path: Path, workflow: dict[str, Any], runs: int) -> str:
    """Run ``workflow`` on an engine that closes while the ``runs``-th run of ``pause``
    sleeps (its execution left running, as a killed process leaves it); the execution's id."""
    async with Engine(SQLiteStorage(path), lease_ttl=1.0) as engine:
        execution = await engine.execute(workflow, wait=False)
        with anyio.fail_after(30):
            while True:
                stored = await engine.storage.get_execution(execution.id, include_data=True)
                sleeping = [r for r in stored.node_executions if r.node_id == "pause"]
                if len(sleeping) >= runs and sleeping[runs - 1].timers:
                    return execution.id
                await anyio.sleep(0.02)


async def taken_up(path: Path, execution_id: str) -> list[Any]:
    """Another engine takes the execution up and finishes it; the runs of ``pause``."""
    await anyio.sleep(1.2)  # the closed engine's lease (1 s) runs out
    async with Engine(SQLiteStorage(path), lease_ttl=1.0, poll_interval=0.05) as engine:
        with anyio.fail_after(30):
            while not (await engine.storage.get_status(execution_id)).is_terminal:
                await anyio.sleep(0.05)
        done = await engine.get_execution(execution_id, include_data=True)
    assert done.status is ExecutionStatus.COMPLETED
    return [r for r in done.node_executions if r.node_id == "pause"]


@pytest.mark.slow
async def test_a_finished_iteration_run_again_sleeps_afresh_the_interrupted_one_does_not(
    tmp_path: Path,
) -> None:
    """Taken up after a crash, a loop's body runs again: the iteration that had finished
    waits its whole time again (its other nodes run again too), the interrupted one only
    until its stored deadline."""
    path = tmp_path / "linkflow.db"
    execution_id = await left_during_pause(path, looping([0, 1], None, 1.5), runs=2)
    storage = SQLiteStorage(path)
    await storage.open()
    stored = await storage.get_execution(execution_id, include_data=True)
    await storage.aclose()
    (deadline,) = [r for r in stored.node_executions if r.node_id == "pause"][1].timers or []
    first, second = await taken_up(path, execution_id)
    assert first.finished_at is not None and first.started_at is not None
    assert first.finished_at - first.started_at >= 1.5 - 0.01  # afresh, not cut short
    assert second.timers == [deadline]
    assert second.finished_at is not None and deadline - 0.01 <= second.finished_at


@pytest.mark.slow
async def test_runs_in_nested_loops_take_up_their_own_records(tmp_path: Path) -> None:
    """In a loop in a loop, a node has several runs of one iteration number: taken up again,
    each run takes the record it had (the interrupted one, its timers), and no record is left
    over."""
    path = tmp_path / "linkflow.db"
    workflow = looping([0, 1], [0, 1], 1.0)
    execution_id = await left_during_pause(path, workflow, runs=3)  # outer 1, inner 0
    storage = SQLiteStorage(path)
    await storage.open()
    stored = await storage.get_execution(execution_id, include_data=True)
    await storage.aclose()
    interrupted = [r for r in stored.node_executions if r.node_id == "pause"][2]
    runs = await taken_up(path, execution_id)
    assert [r.status.value for r in runs] == ["completed"] * 4
    runs.sort(key=lambda run: run.sequence)
    starts = [run.started_at or 0.0 for run in runs]
    assert starts == sorted(starts)  # each record run again in its own turn
    assert runs[2].sequence == interrupted.sequence
    assert runs[2].timers == interrupted.timers
