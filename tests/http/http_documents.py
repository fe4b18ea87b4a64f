"""Workflow documents the HTTP tests run."""

from __future__ import annotations

from typing import Any

API_KEY = "test-key"
USER = "usr-test"


def document(**extra: Any) -> dict[str, Any]:
    """trigger -> set (greets $input.name): a workflow that completes."""
    return {
        "id": extra.pop("id", "wf-greet"),
        "name": extra.pop("name", "Greet"),
        "nodes": [
            {"id": "start", "type": "manual_trigger", "name": "Start"},
            {
                "id": "greet",
                "type": "set",
                "name": "Greet",
                "config": {"values": {"greeting": "Hello, {{ $input.name }}!"}},
            },
        ],
        "connections": [{"source": "start", "target": "greet"}],
        **extra,
    }


def failing() -> dict[str, Any]:
    """trigger -> stop_and_error: a workflow that fails at node ``stop``."""
    return {
        "id": "wf-fail",
        "name": "Fail",
        "nodes": [
            {"id": "start", "type": "manual_trigger"},
            {"id": "stop", "type": "stop_and_error", "config": {"message": "boom"}},
        ],
        "connections": [{"source": "start", "target": "stop"}],
    }


def slow(seconds: float = 60) -> dict[str, Any]:
    """trigger -> wait ``seconds``: a workflow that stays running."""
    return {
        "id": "wf-slow",
        "name": "Slow",
        "nodes": [
            {"id": "start", "type": "manual_trigger"},
            {"id": "wait", "type": "wait", "config": {"duration": seconds, "unit": "seconds"}},
        ],
        "connections": [{"source": "start", "target": "wait"}],
    }
