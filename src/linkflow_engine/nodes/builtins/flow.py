"""Flow nodes: if, switch, loop, split_in_batches, merge."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..._exceptions import NodeError
from .._context import NodeContext
from .._registry import NodeType

__all__ = ["NODE_TYPES"]


def truthy(value: Any) -> bool:
    """JavaScript truthiness: ``[]`` and ``{}`` are true, ``NaN`` is false."""
    if isinstance(value, (dict, list)):
        return True
    if isinstance(value, float) and value != value:
        return False
    return bool(value)


async def if_node(ctx: NodeContext) -> None:
    ctx.emit("true" if truthy(ctx.config.get("condition")) else "false", ctx.input)


# -- switch --------------------------------------------------------------------------------


def _rule_port(rule: Any, index: int) -> str:
    if isinstance(rule, Mapping) and rule.get("output") is not None:
        return str(rule["output"])
    return str(index)


def switch_ports(config: Mapping[str, Any]) -> tuple[str, ...]:
    rules = config.get("rules") or []
    ports = [_rule_port(rule, index) for index, rule in enumerate(rules)]
    fallback = config.get("fallback")
    if fallback is not None:
        ports.append(str(fallback))
    return tuple(dict.fromkeys(ports)) or ("0",)


def _loose_equal(left: Any, right: Any) -> bool:
    if isinstance(left, bool) or isinstance(right, bool):
        return left is right
    if isinstance(left, (int, float)) and isinstance(right, str):
        return str(right).strip() != "" and _number(right) == left
    if isinstance(right, (int, float)) and isinstance(left, str):
        return str(left).strip() != "" and _number(left) == right
    return bool(left == right)


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


async def switch(ctx: NodeContext) -> None:
    config = ctx.config
    value = config.get("expression", config.get("value"))
    for index, rule in enumerate(config.get("rules") or []):
        if not isinstance(rule, Mapping):
            raise NodeError(f"config.rules[{index}] must be an object")
        matched = (
            truthy(rule["condition"])
            if "condition" in rule
            else _loose_equal(value, rule.get("value"))
        )
        if matched:
            ctx.emit(_rule_port(rule, index), ctx.input)
            return
    fallback = config.get("fallback")
    if fallback is not None:
        ctx.emit(str(fallback), ctx.input)
    else:
        # No rule and no fallback: everything after the switch is skipped.
        ctx.emit_nothing()


# -- loop and batches ----------------------------------------------------------------------


def _items(ctx: NodeContext) -> list[Any]:
    items = ctx.config.get("items", ctx.input)
    if (
        isinstance(items, Mapping)
        and "items" not in ctx.config
        and isinstance(items.get("items"), list)
    ):
        items = items["items"]
    if not isinstance(items, list):
        raise NodeError(
            f"config.items must be an array (got {type(items).__name__}); "
            'e.g. "items": "{{ $input.rows }}"',
            details={"field": "config.items"},
        )
    return items


def _batches(items: list[Any], size: Any) -> list[Any]:
    if not isinstance(size, int) or isinstance(size, bool) or size < 1:
        raise NodeError(f"config.batchSize must be an integer >= 1, got {size!r}")
    return [items[i : i + size] for i in range(0, len(items), size)]


async def loop(ctx: NodeContext) -> None:
    items = _items(ctx)
    size = ctx.config.get("batchSize", 1)
    work = items if size == 1 else _batches(items, size)
    results = await ctx.run_branch("loop", work, parallel=bool(ctx.config.get("parallel", False)))
    ctx.emit("done", results)


async def split_in_batches(ctx: NodeContext) -> list[Any]:
    return _batches(_items(ctx), ctx.config.get("batchSize", 10))


# -- merge ---------------------------------------------------------------------------------


async def merge(ctx: NodeContext) -> Any:
    mode = ctx.config.get("mode", "append")
    if mode == "chooseBranch":
        # A node that accepts many inputs gets them as a list in the order they arrived.
        return ctx.input[0] if ctx.input else None
    values = list(ctx.inputs.values()) if ctx.inputs else [ctx.input]
    if mode == "combine":
        combined: dict[str, Any] = {}
        for value in values:
            if not isinstance(value, dict):
                raise NodeError(f"merge mode 'combine' needs objects, got {type(value).__name__}")
            combined.update(value)
        return combined
    appended: list[Any] = []
    for value in values:
        appended.extend(value if isinstance(value, list) else [value])
    return appended


def _merge_waits(config: Mapping[str, Any]) -> bool:
    return config.get("waitForAll", True) is not False


_ITEMS_SCHEMA = {"type": ["array", "string"]}

NODE_TYPES = [
    NodeType(
        type="if",
        handler=if_node,
        outputs=("true", "false"),
        category="flow",
        description="Sends its input to port `true` or `false` by a condition.",
        config_schema={"type": "object", "required": ["condition"]},
    ),
    NodeType(
        type="switch",
        handler=switch,
        outputs=switch_ports,
        category="flow",
        description="Sends its input to the port of the first matching rule (or the fallback).",
        config_schema={
            "type": "object",
            "properties": {
                "mode": {"enum": ["expression", "rules"]},
                "rules": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {"output": {"type": ["integer", "string"]}},
                    },
                },
                "fallback": {"type": ["integer", "string", "null"]},
            },
            "required": ["rules"],
        },
    ),
    NodeType(
        type="loop",
        handler=loop,
        outputs=("done", "loop"),
        branch_ports=("loop",),
        category="flow",
        description="Runs the nodes after its `loop` port once per item, then emits every"
        " result on `done`.",
        config_schema={
            "type": "object",
            "properties": {
                "items": _ITEMS_SCHEMA,
                "batchSize": {"type": "integer", "minimum": 1},
                "parallel": {"type": "boolean"},
            },
        },
    ),
    NodeType(
        type="split_in_batches",
        handler=split_in_batches,
        category="flow",
        description="Splits an array into batches of `batchSize`.",
        config_schema={
            "type": "object",
            "properties": {"items": _ITEMS_SCHEMA, "batchSize": {"type": "integer", "minimum": 1}},
        },
    ),
    NodeType(
        type="merge",
        handler=merge,
        accepts_many_inputs=True,
        wait_for_all=_merge_waits,
        category="flow",
        description="Joins its inputs: append arrays, combine objects, or choose the first branch.",
        config_schema={
            "type": "object",
            "properties": {
                "mode": {"enum": ["append", "combine", "chooseBranch"]},
                "waitForAll": {"type": "boolean"},
            },
        },
    ),
]
