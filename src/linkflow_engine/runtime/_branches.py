"""Branch bodies: running the part of the graph behind a node's branch port once per item."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import anyio

from ._walk import Walk

if TYPE_CHECKING:
    from ._node_steps import NodeSteps
    from ._plan import Body

__all__ = ["run_body"]


async def run_body(
    run: NodeSteps, parent: Walk, body: Body, items: Sequence[Any], *, parallel: bool
) -> list[Any]:
    """Run ``body`` once per item (each iteration a walk of its own, seeing ``$item``,
    ``$index``, ``$first``, ``$last``); returns each iteration's result in item order."""
    results: list[Any] = [None] * len(items)
    last = len(items) - 1

    async def iteration(index: int) -> None:
        item = items[index]
        variables = {"$item": item, "$index": index, "$first": index == 0, "$last": index == last}
        walk = Walk(
            run,
            scope=body.nodes,
            starts=[(conn.target, item) for conn in body.entries],
            iteration=index,
            variables=variables,
            parent=parent,
        )
        await walk.run_to_end()
        results[index] = walk.result()

    if parallel:
        limiter = anyio.CapacityLimiter(max(1, run.workflow.settings.max_concurrency))
        async with anyio.create_task_group() as task_group:
            for index in range(len(items)):
                task_group.start_soon(_limited, limiter, iteration, index)
    else:
        for index in range(len(items)):
            await iteration(index)
    return results


async def _limited(limiter: anyio.CapacityLimiter, fn: Callable[[int], Any], index: int) -> None:
    async with limiter:
        await fn(index)
