"""The zero-setup front door: ``run_workflow`` and ``arun_workflow``."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import anyio

from .runtime import Engine, Execution, ExecutionMode

if TYPE_CHECKING:
    from .graph import Workflow
    from .nodes import NodeRegistry
    from .storage.base import Storage

__all__ = ["arun_workflow", "run_workflow"]


async def arun_workflow(
    workflow: Mapping[str, Any] | Workflow,
    input_data: Any = None,
    *,
    start_node_id: str | None = None,
    run_partial: bool = False,
    mode: ExecutionMode | str = ExecutionMode.MANUAL,
    registry: NodeRegistry | None = None,
    storage: Storage | None = None,
    triggered_by: str | None = None,
    env: Mapping[str, str] | None = None,
    variables: Mapping[str, Any] | None = None,
) -> Execution:
    """Run a workflow (a LinkFlow document or a :class:`Workflow`) to its end, in-process,
    and return the complete execution record. No setup: in-memory storage and the built-in
    node types unless given others."""
    engine = Engine(storage=storage, registry=registry, env=env, variables=variables)
    async with engine:
        return await engine.execute(
            workflow,
            input_data,
            start_node_id=start_node_id,
            run_partial=run_partial,
            mode=mode,
            triggered_by=triggered_by,
        )


def run_workflow(
    workflow: Mapping[str, Any] | Workflow,
    input_data: Any = None,
    *,
    start_node_id: str | None = None,
    run_partial: bool = False,
    mode: ExecutionMode | str = ExecutionMode.MANUAL,
    registry: NodeRegistry | None = None,
    storage: Storage | None = None,
    triggered_by: str | None = None,
    env: Mapping[str, str] | None = None,
    variables: Mapping[str, Any] | None = None,
) -> Execution:
    """The blocking twin of :func:`arun_workflow` (call it where no event loop runs)."""
    call = functools.partial(
        arun_workflow,
        workflow,
        input_data,
        start_node_id=start_node_id,
        run_partial=run_partial,
        mode=mode,
        registry=registry,
        storage=storage,
        triggered_by=triggered_by,
        env=env,
        variables=variables,
    )
    return anyio.run(call)
