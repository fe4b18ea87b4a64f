"""Error workflows in tests: a workflow that fails, one whose error trigger watches others, and
waiting for the runs they start."""

from __future__ import annotations

from typing import Any

import anyio

from linkflow_engine import Engine


def failing(id: str) -> dict[str, Any]:
    return {
        "id": id,
        "name": id,
        "status": "active",
        "nodes": [
            {"id": "start", "type": "manual_trigger"},
            {"id": "boom", "type": "stop_and_error", "config": {"message": f"{id} broke"}},
        ],
        "connections": [{"source": "start", "target": "boom"}],
    }


def watcher(id: str, *, watch: list[str] | None = None, fail: bool = False) -> dict[str, Any]:
    """Watches every other workflow, or those of ``watch``; fails itself when ``fail``."""
    config = {} if watch is None else {"workflowIds": watch}
    last = {"id": "after", "type": "stop_and_error" if fail else "noop", "config": {}}
    return {
        "id": id,
        "name": id,
        "status": "active",
        "nodes": [{"id": "on_error", "type": "error_trigger", "config": config}, last],
        "connections": [{"source": "on_error", "target": "after"}],
    }


async def finished_runs(engine: Engine, workflow_id: str, count: int) -> list[Any]:
    """Wait until ``workflow_id`` has ``count`` finished executions; return them."""
    with anyio.fail_after(10):
        while True:
            executions, _ = await engine.list_executions(workflow_id=workflow_id)
            if len(executions) >= count and all(e.status.is_terminal for e in executions):
                return executions
            await anyio.sleep(0.02)
