"""Crash recovery for real: a process is killed with SIGKILL mid-execution, another finishes it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import anyio
import psycopg
import pytest
from crash_nodes import STEPS, crash_registry, crash_workflow
from durable_storages import POSTGRES_DSN

from linkflow_engine import Engine, ExecutionStatus, run_workflow
from linkflow_engine.storage.base import Storage
from linkflow_engine.storage.postgres import PostgresStorage
from linkflow_engine.storage.sqlite import SQLiteStorage

WORKER = Path(__file__).parent / "crash_worker.py"

pytestmark = pytest.mark.slow


def runs(log: Path) -> Counter[str]:
    return Counter(log.read_text().split()) if log.exists() else Counter()


def kill_during_step(kind: str, target: str, log: Path, step: int) -> None:
    """Start the worker and SIGKILL it while step ``step`` is running."""
    worker = subprocess.Popen([sys.executable, str(WORKER), kind, target, str(log)])
    try:
        deadline = time.monotonic() + 60
        while runs(log)[f"step{step}"] == 0:
            assert worker.poll() is None, "the worker ended before it was killed"
            assert time.monotonic() < deadline, "the worker never reached the step"
            time.sleep(0.01)
    finally:
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait()


async def recover_and_finish(storage: Storage, log: Path) -> dict[str, object]:
    await anyio.sleep(1.2)  # the dead worker's lease (1 s) runs out
    registry = crash_registry(str(log), seconds=0.0)
    async with Engine(storage, registry, lease_ttl=1.0, poll_interval=0.05) as engine:
        executions, total = await engine.list_executions(workflow_id="wf-crash")
        assert total == 1
        execution_id = executions[0].id
        with anyio.fail_after(30):
            while (await engine.storage.get_status(execution_id)) is not ExecutionStatus.COMPLETED:
                await anyio.sleep(0.05)
        done = await engine.get_execution(execution_id, include_data=True)
        replayed = [e.data for e in await engine.storage.list_events(execution_id)]
    # The replay spans both processes without a gap, and says each node's output as stored.
    assert [e["sequence"] for e in replayed] == list(range(1, len(replayed) + 1))
    said = {
        e["payload"]["nodeId"]: e["payload"]["output"]
        for e in replayed
        if e["type"] == "execution.node.completed"
    }
    assert said == {n.node_id: n.output for n in done.node_executions}
    # So does the log, in the order its lines were said.
    logged = [e["payload"] for e in replayed if e["type"] == "execution.log"]
    assert logged == [entry.to_dict() for entry in done.logs]
    messages = [entry.message for entry in done.logs]
    assert messages[0] == "Execution started" and messages[-1] == "Execution completed"
    assert "Execution resumed from its stored progress" in messages
    return done.outputs


def check(log: Path, outputs: dict[str, object], interrupted: int) -> None:
    counts = runs(log)
    for step in range(1, STEPS + 1):
        name = f"step{step}"
        if step == interrupted:
            assert 1 <= counts[name] <= 2, counts
        else:
            assert counts[name] == 1, counts
    clean_log = log.with_name("clean.log")
    clean = run_workflow(crash_workflow(), {"n": 0}, registry=crash_registry(str(clean_log), 0))
    assert clean.status is ExecutionStatus.COMPLETED
    assert outputs == clean.outputs


def test_kill_9_on_sqlite_then_another_process_finishes(tmp_path: Path) -> None:
    """SQLite: completed steps never run again, the interrupted one at most twice, same result."""
    database, log = tmp_path / "crash.db", tmp_path / "runs.log"
    kill_during_step("sqlite", str(database), log, step=3)
    outputs = anyio.run(recover_and_finish, SQLiteStorage(database), log)
    check(log, outputs, interrupted=3)


def test_kill_9_on_postgres_then_another_process_finishes(tmp_path: Path) -> None:
    """PostgreSQL: the same guarantees as on SQLite."""
    schema = f"test_{uuid.uuid4().hex[:16]}"
    log = tmp_path / "runs.log"
    try:
        kill_during_step("postgres", f"{POSTGRES_DSN}#{schema}", log, step=4)
        storage = PostgresStorage(POSTGRES_DSN, schema=schema)
        outputs = anyio.run(recover_and_finish, storage, log)
        check(log, outputs, interrupted=4)
    finally:
        with psycopg.connect(POSTGRES_DSN, autocommit=True) as connection:
            connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


async def cancel_when_running(storage: Storage, log: Path, step: int) -> str:
    async with Engine(storage, crash_registry(str(log), 0.0), recover=False) as engine:
        with anyio.fail_after(60):
            while runs(log)[f"step{step}"] == 0:
                await anyio.sleep(0.01)
        executions, _ = await engine.list_executions(workflow_id="wf-crash")
        cancelled = await engine.cancel(executions[0].id)
        assert cancelled.status is ExecutionStatus.CANCELLED
        return cancelled.id


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_cancel_reaches_a_run_in_another_process(tmp_path: Path, kind: str) -> None:
    """A cancel said in this process stops the run of another process on the same database:
    its running step is interrupted and no later step starts."""
    log = tmp_path / "runs.log"
    schema = f"test_{uuid.uuid4().hex[:16]}"
    if kind == "sqlite":
        target = str(tmp_path / "cancel.db")
        storage: Storage = SQLiteStorage(target)
    else:
        target = f"{POSTGRES_DSN}#{schema}"
        storage = PostgresStorage(POSTGRES_DSN, schema=schema)
    worker = subprocess.Popen([sys.executable, str(WORKER), kind, target, str(log)])
    try:
        anyio.run(cancel_when_running, storage, log, 2)
        assert worker.wait(timeout=30) == 0  # liveness bound: the run ends instead of going on
    finally:
        worker.kill()
        if kind == "postgres":
            with psycopg.connect(POSTGRES_DSN, autocommit=True) as connection:
                connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    assert runs(log)["step3"] == 0
    assert runs(log)["step2"] == 1
