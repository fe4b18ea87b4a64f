"""Schedules that could never run, or would flood, are refused when the workflow is validated;
a queued slot of a workflow deactivated meanwhile never starts."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from sched_workflows import cron_trigger, interval_trigger, timed_workflow

from linkflow_engine import Engine, WorkflowValidationError


@pytest.mark.parametrize(
    ("trigger", "field", "message"),
    [
        (cron_trigger("0 0 30 2 *"), "config.cron", "never fires"),
        (cron_trigger("0 0 31 4 *"), "config.cron", "never fires"),
        (interval_trigger(0.5), "config.interval", "at least 1 second"),
        (interval_trigger(1e-320), "config.interval", "at least 1 second"),
        (interval_trigger(1e308, "days"), "config.interval", "at least 1 second"),
    ],
)
async def test_a_schedule_that_cannot_work_is_refused_naming_the_field(
    trigger: dict[str, Any], field: str, message: str
) -> None:
    """Saving (or validating) an active workflow with such a trigger fails and stores nothing;
    the engine and its scheduler go on."""
    async with Engine(scheduler=True) as engine:
        with pytest.raises(WorkflowValidationError) as caught:
            await engine.save_workflow(timed_workflow(trigger))
        _, total = await engine.list_workflows()
    [detail] = [d for d in caught.value.details if d["field"].endswith(field)]
    assert message in detail["message"]
    assert total == 0


@pytest.mark.slow
async def test_a_queued_slot_does_not_start_after_deactivation() -> None:
    """Slots queued behind a long run (overlap: queue) are dropped when the workflow is
    deactivated: nothing starts after it."""
    wait = {"id": "pause", "type": "wait", "config": {"duration": 2}}
    document = timed_workflow(interval_trigger(1, overlap="queue"), id="wf-q", after=[wait])
    async with Engine(scheduler=True) as engine:
        await engine.save_workflow(document)
        with anyio.fail_after(5):
            while not (await engine.list_executions(workflow_id="wf-q"))[0]:
                await anyio.sleep(0.05)
        await anyio.sleep(1.5)  # a slot queued behind the running one
        await engine.save_workflow({**document, "status": "inactive"})
        _, before = await engine.list_executions(workflow_id="wf-q")
        await anyio.sleep(3)  # the running one ends; the queued one would start now
        _, after = await engine.list_executions(workflow_id="wf-q")
    assert after == before
