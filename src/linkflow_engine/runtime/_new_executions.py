"""New executions: the record a run starts from, for a first run and for the replay of an
ended one.

An execution is stored as ``running`` from the start, with the options it was started with (its
starts, its callback URL, ...), so that an engine taking it over later runs it the same way. The
values a caller gives are checked here: a bad one is a validation error naming the field.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from .._exceptions import WorkflowValidationError
from ..graph import Workflow
from ._plan import plan_for
from ._records import Execution, ExecutionMode, ExecutionStatus, NodeExecution
from ._starts import Starts, retry_starts, start_nodes, stored_starts, upstream_to_reuse

if TYPE_CHECKING:
    from .._clock import Clock
    from ..nodes import NodeRegistry
    from ..storage.base import Storage

__all__ = [
    "callback_url",
    "execution_mode",
    "new_execution",
    "new_execution_id",
    "partial_reuse",
    "replay_of",
]


def new_execution_id(now: float) -> str:
    """``exec-`` + the time in ms (12 hex digits) + 20 random hex digits: unique, and in time
    order, so storage indexes keyed by it grow at one end instead of splitting pages at random
    (measured on SQLite: a third fewer page writes per progress commit)."""
    # os.urandom, not secrets/uuid: those pull in hashlib, a few ms of every engine's import.
    return f"exec-{int(now * 1000):012x}{os.urandom(10).hex()}"


def new_execution(
    workflow: Workflow,
    input_data: Any,
    mode: ExecutionMode,
    triggered_by: str | None,
    clock: Clock,
) -> Execution:
    """A ``running`` execution of ``workflow``, created and started now."""
    now = clock.now()
    return Execution(
        id=new_execution_id(now),
        workflow_id=workflow.id,
        workflow_name=workflow.name,
        status=ExecutionStatus.RUNNING,
        mode=mode,
        workflow=workflow,
        input_data=input_data,
        created_at=now,
        started_at=now,
        triggered_by=triggered_by,
    )


async def partial_reuse(
    storage: Storage, workflow: Workflow, start_node_id: str | None
) -> list[NodeExecution]:
    """For a partial run from ``start_node_id``: the upstream node runs it reuses, from pinned
    data, else each node's latest completed run in a stored execution of the workflow."""
    missing, reused = upstream_to_reuse(workflow, start_node_id)
    if missing and workflow.id is not None:
        found = await storage.find_node_outputs(workflow.id, sorted(missing))
        reused.extend(found.values())
    return reused


def replay_of(
    original: Execution,
    workflow: Workflow,
    registry: NodeRegistry,
    clock: Clock,
    *,
    from_node: str | None,
    input_overrides: dict[str, Any] | None,
    triggered_by: str | None,
    webhook_url: str | None,
) -> tuple[Execution, Starts, list[NodeExecution]]:
    """The replay (mode ``replay``) of the ended ``original``, whose snapshot is ``workflow``:
    the new execution, its starts and the node runs it reuses (see
    :func:`~linkflow_engine.runtime._starts.retry_starts`)."""
    plan = plan_for(workflow, registry)
    defaults = stored_starts(original) or start_nodes(
        workflow, registry, original.input_data, None, ExecutionMode.MANUAL
    )
    starts, reused = retry_starts(original, plan, from_node, input_overrides, defaults)
    execution = new_execution(
        workflow,
        original.input_data,
        ExecutionMode.REPLAY,
        triggered_by or original.triggered_by,
        clock,
    )
    execution.original_execution_id = original.id
    execution.retry_count = original.retry_count + 1
    execution.options = {
        "fromNode": starts[0][0],
        "inputOverrides": input_overrides,
        "starts": [list(start) for start in starts],
        "webhookUrl": callback_url(webhook_url),
    }
    return execution, starts, reused


def callback_url(url: str | None) -> str | None:
    """``url`` once checked to be an http(s) URL (WorkflowValidationError otherwise)."""
    if url is None:
        return None
    if not isinstance(url, str) or not _is_http_url(url):
        raise WorkflowValidationError(
            [{"field": "webhookUrl", "message": "must be an http:// or https:// URL with a host"}]
        )
    return url


def _is_http_url(url: str) -> bool:
    """Whether the callback can go to ``url``, as httpx, which sends it, reads URLs."""
    import httpx

    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        return False
    return parsed.scheme in ("http", "https") and bool(parsed.host) and parsed.port != 0


def execution_mode(mode: ExecutionMode | str) -> ExecutionMode:
    """``mode`` as an :class:`ExecutionMode` (WorkflowValidationError when unknown)."""
    try:
        return ExecutionMode(mode)
    except ValueError:
        allowed = ", ".join(m.value for m in ExecutionMode)
        raise WorkflowValidationError(
            [{"field": "mode", "message": f"unknown mode {mode!r}; expected one of {allowed}"}]
        ) from None
