"""Workflow documents for the scheduler tests: a timed trigger followed by a noop."""

from __future__ import annotations

import itertools
from typing import Any


def timed_workflow(
    trigger: dict[str, Any],
    *,
    id: str = "wf-timed",
    status: str = "active",
    after: list[dict[str, Any]] | None = None,
    **settings: Any,
) -> dict[str, Any]:
    """An active workflow: ``trigger`` (a node document) then ``after`` (default: one noop)."""
    nodes = [trigger, *(after or [{"id": "done", "type": "noop", "name": "Done"}])]
    return {
        "id": id,
        "name": id,
        "status": status,
        "nodes": nodes,
        "connections": [
            {"source": a["id"], "target": b["id"]} for a, b in itertools.pairwise(nodes)
        ],
        "settings": settings,
    }


def cron_trigger(cron: str, **config: Any) -> dict[str, Any]:
    """A schedule_trigger node with id ``tick``."""
    return {
        "id": "tick",
        "type": "schedule_trigger",
        "name": "Tick",
        "config": {"cron": cron, **config},
    }


def interval_trigger(interval: float, unit: str = "seconds", **config: Any) -> dict[str, Any]:
    """An interval_trigger node with id ``tick``."""
    return {
        "id": "tick",
        "type": "interval_trigger",
        "name": "Tick",
        "config": {"interval": interval, "unit": unit, **config},
    }


async def scheduled_times(engine: Any, workflow_id: str = "wf-timed") -> list[str]:
    """The ``scheduledTime`` of every schedule execution of the workflow, in order."""
    executions, _ = await engine.list_executions(
        workflow_id=workflow_id, mode="schedule", limit=1000
    )
    times = []
    for execution in reversed(executions):
        ((_, data),) = execution.options["starts"]
        times.append(data["scheduledTime"])
    return sorted(times)
