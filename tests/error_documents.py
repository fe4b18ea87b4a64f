"""Error workflow documents: a workflow that fails, and one whose error trigger watches others."""

from __future__ import annotations

from typing import Any


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
