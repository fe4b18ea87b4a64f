"""Utility nodes: wait, noop, stop_and_error."""

from __future__ import annotations

from typing import Any

from ..._exceptions import NodeError
from .._context import NodeContext
from .._registry import NodeType

__all__ = ["NODE_TYPES"]

_SECONDS_PER_UNIT = {
    "milliseconds": 0.001,
    "seconds": 1.0,
    "minutes": 60.0,
    "hours": 3600.0,
    "days": 86400.0,
}
_DOCUMENTED_CODES = {
    "NODE_ERROR",
    "HTTP_ERROR",
    "RATE_LIMITED",
    "TIMEOUT",
    "EXPRESSION_ERROR",
    "CREDENTIAL_ERROR",
}


async def wait(ctx: NodeContext) -> Any:
    duration = ctx.config.get("duration", 0)
    unit = ctx.config.get("unit", "seconds")
    if not isinstance(duration, (int, float)) or isinstance(duration, bool) or duration < 0:
        raise NodeError(f"config.duration must be a number >= 0, got {duration!r}")
    if unit not in _SECONDS_PER_UNIT:
        raise NodeError(f"config.unit must be one of {sorted(_SECONDS_PER_UNIT)}, got {unit!r}")
    await ctx.sleep(duration * _SECONDS_PER_UNIT[unit])
    return ctx.input


async def noop(ctx: NodeContext) -> Any:
    return ctx.input


async def stop_and_error(ctx: NodeContext) -> Any:
    message = str(ctx.config.get("message") or "Workflow stopped by a stop_and_error node")
    error_type = ctx.config.get("errorType")
    code = error_type if error_type in _DOCUMENTED_CODES else None
    details = {"errorType": error_type} if error_type is not None else None
    raise NodeError(message, code=code, details=details)


NODE_TYPES = [
    NodeType(
        type="wait",
        handler=wait,
        category="utility",
        description="Waits for a duration, then passes its input on.",
        config_schema={
            "type": "object",
            "properties": {
                "duration": {"type": "number", "minimum": 0},
                "unit": {"enum": sorted(_SECONDS_PER_UNIT)},
            },
            "required": ["duration"],
        },
    ),
    NodeType(
        type="noop",
        handler=noop,
        category="utility",
        description="Does nothing: passes its input on.",
        config_schema={"type": "object"},
    ),
    NodeType(
        type="stop_and_error",
        handler=stop_and_error,
        category="utility",
        description="Fails the execution with a message (and an error code).",
        config_schema={
            "type": "object",
            "properties": {"message": {"type": "string"}, "errorType": {"type": "string"}},
        },
    ),
]
