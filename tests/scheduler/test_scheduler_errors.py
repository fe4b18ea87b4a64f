"""Error workflows: a failure starts the workflows whose error trigger watches it."""

from __future__ import annotations

import anyio

from error_documents import failing, finished_runs
from error_documents import watcher as handler
from linkflow_engine import Engine, ExecutionStatus


async def test_a_failure_starts_the_error_workflow_with_the_documented_payload() -> None:
    """The chain end to end: wf-a fails, wf-alert starts at its error trigger with the payload."""
    async with Engine() as engine:
        await engine.save_workflow(failing("wf-a"))
        await engine.save_workflow(handler("wf-alert"))
        failed = await engine.execute("wf-a")
        assert failed.status is ExecutionStatus.FAILED
        (alert,) = await finished_runs(engine, "wf-alert", 1)
        alert = await engine.get_execution(alert.id, include_data=True)
    assert alert.status is ExecutionStatus.COMPLETED
    assert alert.mode.value == "api"
    assert alert.triggered_by == f"error:{failed.id}"
    payload = alert.node("on_error").output
    assert payload["error"]["message"] == "wf-a broke"
    assert payload["error"]["nodeId"] == "boom"
    assert payload["error"]["timestamp"].endswith("Z")
    assert payload["execution"]["id"] == failed.id
    assert payload["execution"]["workflowId"] == "wf-a"


async def test_workflow_ids_limit_what_an_error_trigger_watches() -> None:
    """An error trigger with workflowIds ignores the failures of other workflows."""
    async with Engine() as engine:
        for workflow_id in ("wf-a", "wf-b"):
            await engine.save_workflow(failing(workflow_id))
        await engine.save_workflow(handler("wf-only-b", watch=["wf-b"]))
        await engine.execute("wf-a")
        await engine.execute("wf-b")
        (run,) = await finished_runs(engine, "wf-only-b", 1)
        run = await engine.get_execution(run.id, include_data=True)
        await anyio.sleep(0.1)
        executions, _ = await engine.list_executions(workflow_id="wf-only-b")
    assert len(executions) == 1
    assert run.node("on_error").output["execution"]["workflowId"] == "wf-b"


async def test_a_failing_error_workflow_triggers_neither_itself_nor_other_error_workflows() -> None:
    """No loops: two failing error workflows run once each for one failure, and no more."""
    async with Engine() as engine:
        await engine.save_workflow(failing("wf-a"))
        await engine.save_workflow(handler("wf-h1", fail=True))
        await engine.save_workflow(handler("wf-h2", fail=True))
        await engine.execute("wf-a")
        first = await finished_runs(engine, "wf-h1", 1)
        second = await finished_runs(engine, "wf-h2", 1)
        await anyio.sleep(0.2)
        again_1, _ = await engine.list_executions(workflow_id="wf-h1")
        again_2, _ = await engine.list_executions(workflow_id="wf-h2")
    assert [e.status for e in first + second] == [ExecutionStatus.FAILED] * 2
    assert (len(again_1), len(again_2)) == (1, 1)


async def test_inactive_error_workflows_and_successes_start_nothing() -> None:
    """Only active workflows handle errors, and only failures trigger them."""
    async with Engine() as engine:
        await engine.save_workflow({**handler("wf-off"), "status": "inactive"})
        await engine.save_workflow(handler("wf-on"))
        await engine.save_workflow(failing("wf-a"))
        await engine.execute({"nodes": [{"id": "start", "type": "manual_trigger"}]})
        await engine.execute("wf-a")
        await finished_runs(engine, "wf-on", 1)
        off, _ = await engine.list_executions(workflow_id="wf-off")
        on, _ = await engine.list_executions(workflow_id="wf-on")
    assert (len(off), len(on)) == (0, 1)
