"""Trigger nodes: where an execution starts. Each outputs its documented fields merged with the
execution's input data (the input wins on a conflict), so the input reaches the nodes after it.

How a trigger *fires* (the scheduler, the webhook server, failing workflows) lives elsewhere;
here is what each outputs once it has.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from ...runtime._records import format_timestamp
from .._context import NodeContext
from .._registry import NodeType

__all__ = ["NODE_TYPES"]


def _now() -> str | None:
    return format_timestamp(time.time())


def _with_input(fields: dict[str, Any], value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return {**fields, **value}
    if value is not None:
        return {**fields, "data": value}
    return fields


async def manual_trigger(ctx: NodeContext) -> dict[str, Any]:
    fields = {"triggered": True, "timestamp": _now(), "triggeredBy": ctx.execution.triggered_by}
    return _with_input(fields, ctx.input)


async def timed_trigger(ctx: NodeContext) -> dict[str, Any]:
    # The scheduler passes the slot as ``scheduledTime`` (and ``executionTime`` on the engine's
    # clock, ``catchUp`` for a misfire's catch-up run); run by hand, both are now.
    now = _now()
    fields = {"triggered": True, "scheduledTime": now, "executionTime": now}
    return _with_input(fields, ctx.input)


async def webhook_trigger(ctx: NodeContext) -> dict[str, Any]:
    value = ctx.input
    request_keys = {"headers", "query", "body", "method", "path"}
    if isinstance(value, dict) and request_keys & value.keys():
        return {
            "headers": value.get("headers", {}),
            "query": value.get("query", {}),
            "body": value.get("body"),
            "method": value.get("method", ctx.config.get("method", "POST")),
            "path": value.get("path", ctx.config.get("path", "")),
            **{k: v for k, v in value.items() if k not in request_keys},
        }
    # Run by hand: the input data plays the request body.
    return {
        "headers": {},
        "query": {},
        "body": value,
        "method": ctx.config.get("method", "POST"),
        "path": ctx.config.get("path", ""),
    }


async def error_trigger(ctx: NodeContext) -> dict[str, Any]:
    value = ctx.input if isinstance(ctx.input, dict) else {}
    error = value.get("error") or {}
    execution = value.get("execution") or {}
    return {
        **value,
        "error": {
            "message": error.get("message"),
            "nodeId": error.get("nodeId"),
            "timestamp": error.get("timestamp") or _now(),
            **{k: v for k, v in error.items() if k not in ("message", "nodeId", "timestamp")},
        },
        "execution": {
            "id": execution.get("id"),
            "workflowId": execution.get("workflowId"),
            **execution,
        },
    }


_TIME_UNITS = ["seconds", "minutes", "hours", "days"]


def check_schedule(config: Mapping[str, Any]) -> list[tuple[str, str]]:
    """A cron expression and time zone the scheduler can use (checked when a workflow is
    validated, not first when the scheduler meets it). The scheduler reads them before any run
    exists, so they cannot be ``{{ }}`` expressions."""
    for key in ("cron", "timezone", "interval", "unit"):
        value = config.get(key)
        if isinstance(value, str) and "{{" in value:
            return [(f"config.{key}", "must be written out: the scheduler reads it before any run")]
    from ...scheduler._triggers import schedule_of

    try:
        schedule_of(config)
    except ValueError as error:
        return [(_schedule_field(config, str(error)), str(error))]
    return []


def _schedule_field(config: Mapping[str, Any], error: str) -> str:
    if "time zone" in error:
        return "config.timezone"
    if config.get("cron") is not None or "interval" not in config:
        return "config.cron"
    return "config.unit" if error.startswith("unit ") else "config.interval"


# The scheduler's policies, shared by both timed triggers (see docs/scheduler.md).
_SCHEDULE_POLICIES = {
    "misfirePolicy": {"enum": ["skip", "once", "all"]},
    "misfireLimit": {"type": "integer", "minimum": 1},
    "misfireGraceSeconds": {"type": "number", "minimum": 0},
    "overlap": {"enum": ["allow", "skip", "queue"]},
}

NODE_TYPES = [
    NodeType(
        type="manual_trigger",
        handler=manual_trigger,
        inputs=(),
        category="trigger",
        description="Starts a workflow run by hand or through the API.",
        config_schema={"type": "object"},
    ),
    NodeType(
        type="schedule_trigger",
        handler=timed_trigger,
        inputs=(),
        check_config=check_schedule,
        category="trigger",
        description="Starts the workflow on a cron schedule (optional leading seconds field) in a"
        " time zone.",
        config_schema={
            "type": "object",
            "properties": {
                "cron": {"type": "string", "minLength": 1},
                "timezone": {"type": "string"},
                **_SCHEDULE_POLICIES,
            },
            "required": ["cron"],
        },
    ),
    NodeType(
        type="interval_trigger",
        handler=timed_trigger,
        inputs=(),
        check_config=check_schedule,
        category="trigger",
        description="Starts the workflow every N seconds, minutes, hours or days.",
        config_schema={
            "type": "object",
            "properties": {
                "interval": {"type": "number", "exclusiveMinimum": 0},
                "unit": {"enum": _TIME_UNITS},
                **_SCHEDULE_POLICIES,
            },
            "required": ["interval"],
        },
    ),
    NodeType(
        type="webhook_trigger",
        handler=webhook_trigger,
        inputs=(),
        category="trigger",
        description="Starts the workflow when an HTTP request reaches /webhook/{path}.",
        config_schema={
            "type": "object",
            "properties": {
                "method": {"enum": ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"]},
                "path": {"type": "string"},
                "authentication": {"type": ["string", "object"]},
                "responseMode": {"enum": ["immediate", "lastNode", "custom"]},
            },
        },
    ),
    NodeType(
        type="error_trigger",
        handler=error_trigger,
        inputs=(),
        category="trigger",
        description="Starts the workflow when a watched workflow's execution fails.",
        config_schema={
            "type": "object",
            "properties": {"workflowIds": {"type": "array", "items": {"type": "string"}}},
        },
    ),
]
