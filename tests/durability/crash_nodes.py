"""What the crash test runs: a chain of slow steps that log every run to a file."""

from __future__ import annotations

import itertools
import os
from typing import Any

import anyio

from linkflow_engine import NodeContext, NodeRegistry

STEPS = 6


def crash_workflow() -> dict[str, Any]:
    nodes = [{"id": "start", "type": "manual_trigger"}]
    nodes += [{"id": f"step{i}", "type": "logged_step"} for i in range(1, STEPS + 1)]
    ids = [n["id"] for n in nodes]
    connections = [{"source": a, "target": b} for a, b in itertools.pairwise(ids)]
    return {"id": "wf-crash", "name": "crash", "nodes": nodes, "connections": connections}


def crash_registry(log_path: str, seconds: float) -> NodeRegistry:
    registry = NodeRegistry()

    @registry.register("logged_step")
    async def logged_step(ctx: NodeContext) -> Any:
        with open(log_path, "a") as log:  # noqa: ASYNC230 - a tiny append, flushed on purpose
            log.write(ctx.node.id + "\n")
            log.flush()
            os.fsync(log.fileno())
        await anyio.sleep(seconds)
        value = ctx.input if isinstance(ctx.input, dict) else {}
        return {"n": value.get("n", 0) + 1, "trail": [*value.get("trail", []), ctx.node.id]}

    return registry
