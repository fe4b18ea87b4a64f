"""Data nodes: set."""

from __future__ import annotations

from typing import Any

from ..._exceptions import NodeError
from .._context import NodeContext
from .._registry import NodeType

__all__ = ["NODE_TYPES"]


def _assign(target: dict[str, Any], key: str, value: Any, dotted: bool) -> None:
    if not dotted or "." not in key:
        target[key] = value
        return
    *parents, last = key.split(".")
    for part in parents:
        child = target.get(part)
        # Copy on the way down: the input belongs to the node before this one.
        target[part] = child = dict(child) if isinstance(child, dict) else {}
        target = child
    target[last] = value


async def set_values(ctx: NodeContext) -> dict[str, Any]:
    values = ctx.config.get("values", {})
    if not isinstance(values, dict):
        raise NodeError(f"config.values must be an object, got {type(values).__name__}")
    keep_only = bool(ctx.config.get("keepOnlySet", False))
    base = ctx.input if isinstance(ctx.input, dict) and not keep_only else {}
    result = dict(base)
    dotted = bool(ctx.config.get("dotNotation", True))
    for key, value in values.items():
        _assign(result, key, value, dotted)
    return result


NODE_TYPES = [
    NodeType(
        type="set",
        handler=set_values,
        category="data",
        description="Sets fields: the input merged with `values` (or `values` alone).",
        config_schema={
            "type": "object",
            "properties": {
                "values": {"type": "object"},
                "keepOnlySet": {"type": "boolean"},
                "dotNotation": {"type": "boolean"},
            },
            "required": ["values"],
        },
    ),
]
