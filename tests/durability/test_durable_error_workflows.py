"""Error workflows are started durably: the start is stored with the failure it reports, so a
process that dies between the two leaves it to the next engine, and an attempt made again (its
engine died mid-way) starts nothing twice."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from durable_storages import StorageFactory

from error_documents import failing, finished_runs, watcher
from linkflow_engine import Engine, ExecutionStatus

WORKER = Path(__file__).parent / "error_worker.py"


async def attempt_lines(engine: Engine, execution_id: str, count: int) -> list[Any]:
    """Wait until the execution's logs hold ``count`` error-workflow attempts; return them."""
    with anyio.fail_after(10):
        while True:
            execution = await engine.get_execution(execution_id)
            lines = [e for e in execution.logs if e.message.startswith("Error workflows attempt")]
            if len(lines) >= count:
                return lines
            await anyio.sleep(0.02)


@pytest.mark.slow
def test_a_failure_stored_by_a_process_that_then_died_starts_its_error_workflow_later(
    shared: tuple[str, StorageFactory],
) -> None:
    """The worker stores the failure and is killed (SIGKILL) as soon as it is stored: no error
    workflow ran there. The next engine on the database starts it, once."""
    target, make_storage = shared
    worker = subprocess.run(
        [sys.executable, str(WORKER), *target.split(" ", 1)], capture_output=True, timeout=60
    )
    assert worker.returncode == -9, worker.stderr.decode()

    async def check() -> None:
        storage = make_storage()
        await storage.open()
        try:
            from linkflow_engine.storage.base import ExecutionQuery

            (failed,), _ = await storage.list_executions(ExecutionQuery(workflow_id="wf-billing"))
            _, alerts = await storage.list_executions(ExecutionQuery(workflow_id="wf-alert"))
        finally:
            await storage.aclose()
        assert failed.status is ExecutionStatus.FAILED
        assert alerts == 0  # the worker died before any error workflow started
        async with Engine(make_storage(), lease_ttl=1.0) as engine:
            (alert,) = await finished_runs(engine, "wf-alert", 1)
            alert = await engine.get_execution(alert.id, include_data=True)
            (line,) = await attempt_lines(engine, failed.id, 1)
            await anyio.sleep(0.6)  # the delivery service's next round starts nothing more
            _, total = await engine.list_executions(workflow_id="wf-alert")
        assert total == 1
        assert alert.status is ExecutionStatus.COMPLETED
        assert alert.triggered_by == f"error:{failed.id}"
        payload = alert.node("on_error").output
        assert payload["execution"]["id"] == failed.id
        assert payload["error"]["message"] == "wf-billing broke"
        assert line.message == f"Error workflows attempt 1: wf-alert started as {alert.id}"

    anyio.run(check)


async def test_an_attempt_made_again_starts_no_second_execution(
    make_storage: StorageFactory,
) -> None:
    """A delivery handed back as pending after its error workflow started (as when its engine
    dies before marking it delivered) is attempted again, and finds the start it made."""
    async with Engine(make_storage()) as engine:
        await engine.save_workflow(failing("wf-billing"))
        await engine.save_workflow(watcher("wf-alert"))
        failed = await engine.execute("wf-billing")
        (alert,) = await finished_runs(engine, "wf-alert", 1)
        (first,) = await attempt_lines(engine, failed.id, 1)
        await engine.storage.update_delivery(
            first.data["deliveryId"], status="pending", nextAttemptAt=engine.clock.now()
        )
        second = (await attempt_lines(engine, failed.id, 2))[1]
        executions, total = await engine.list_executions(workflow_id="wf-alert")
    assert total == 1
    assert executions[0].id == alert.id
    assert second.message == f"Error workflows attempt 2: wf-alert started as {alert.id}"


@pytest.mark.slow
def test_engines_closing_at_once_hand_an_error_workflow_back_untried(
    shared: tuple[str, StorageFactory],
) -> None:
    """A failure whose process died before its error workflow started, then engines that
    open the database and close at once (``linkflow executions list``, say), each while its
    first round of deliveries begins: none of them counts an attempt (before, each counted a
    failed one, "the engine is not running", and the seventh gave the error workflow up
    without its ever starting). The next engine that stays starts it."""
    target, make_storage = shared
    worker = subprocess.run(
        [sys.executable, str(WORKER), *target.split(" ", 1)], capture_output=True, timeout=60
    )
    assert worker.returncode == -9, worker.stderr.decode()

    async def open_and_close() -> None:
        async with Engine(make_storage(), recover=False) as engine:
            await engine.list_executions()

    async def check() -> None:
        for _ in range(8):
            await open_and_close()
        async with Engine(make_storage(), lease_ttl=1.0) as engine:
            (failed,), _ = await engine.list_executions(workflow_id="wf-billing")
            (alert,) = await finished_runs(engine, "wf-alert", 1)
            (line,) = await attempt_lines(engine, failed.id, 1)
        assert alert.status is ExecutionStatus.COMPLETED
        assert line.message == f"Error workflows attempt 1: wf-alert started as {alert.id}"

    anyio.run(check)
