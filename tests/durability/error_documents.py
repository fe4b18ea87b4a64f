"""A workflow that fails, and one whose error trigger watches every other workflow."""

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


def watcher(id: str) -> dict[str, Any]:
    return {
        "id": id,
        "name": id,
        "status": "active",
        "nodes": [{"id": "on_error", "type": "error_trigger"}, {"id": "after", "type": "noop"}],
        "connections": [{"source": "on_error", "target": "after"}],
    }
