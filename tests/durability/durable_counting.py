"""A node type that counts its runs, so tests can prove what ran and what was reused."""

from __future__ import annotations

from collections import Counter
from typing import Any

import anyio

from linkflow_engine import NodeContext, NodeError, NodeRegistry


class Counting:
    """Registers ``count`` (adds 1 to ``n``, fails when config.fail or input.fail is true) and
    ``slow`` (sleeps config.seconds); ``calls`` counts runs by node id."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.registry = NodeRegistry()
        self.registry.register("count", self.count)
        self.registry.register("slow", self.slow)

    async def count(self, ctx: NodeContext) -> Any:
        self.calls[ctx.node.id] += 1
        value = ctx.input if isinstance(ctx.input, dict) else {}
        if ctx.config.get("fail") and not value.get("fixed"):
            raise NodeError(f"{ctx.node.id} failed on purpose", details={"n": value.get("n")})
        return {**value, "n": value.get("n", 0) + 1, "last": ctx.node.id}

    async def until_called(self, node_id: str) -> None:
        """Return once ``node_id`` has run (started, for ``slow``)."""
        with anyio.fail_after(10):  # liveness bound
            while self.calls[node_id] == 0:
                await anyio.sleep(0.01)

    async def slow(self, ctx: NodeContext) -> Any:
        self.calls[ctx.node.id] += 1
        await anyio.sleep(ctx.config.get("seconds", 30))
        return ctx.input
