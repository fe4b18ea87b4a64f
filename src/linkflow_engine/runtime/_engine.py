"""The engine: owns storage, the node registry, the event broker and the running executions.

``async with Engine(...) as engine`` opens the storage and starts the background services (event
delivery, async executions); leaving the block closes them. Everything a user does to executions
goes through it: execute, cancel, read.
"""

from __future__ import annotations

import contextlib
import time
import uuid
import weakref
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import anyio
from anyio.abc import TaskGroup

from .._exceptions import (
    ExecutionConflictError,
    WorkflowValidationError,
)
from ..events import Callback, Event, EventBroker, LocalEventBroker, Subscription
from ..graph import Workflow, WorkflowGraph, validate_workflow
from ..nodes import NodeRegistry
from ..storage.memory import MemoryStorage
from ._executor import ExecutionRun, RunServices
from ._plan import plan_for
from ._records import Execution, ExecutionMode, ExecutionStatus, NodeExecution

if TYPE_CHECKING:
    import httpx

    from ..storage.base import Storage

__all__ = ["Engine"]

_validated: weakref.WeakKeyDictionary[Workflow, set[int]] = weakref.WeakKeyDictionary()


class Engine:
    """Runs workflows and keeps their executions.

    :param storage: where executions live (default: a new :class:`MemoryStorage`).
    :param registry: the node types (default: a new registry with the built-ins).
    :param broker: carries events to subscribers (default: in-process).
    :param env: what ``$env`` exposes to expressions (default: ``os.environ``).
    :param variables: what ``$vars`` exposes.
    """

    def __init__(
        self,
        storage: Storage | None = None,
        registry: NodeRegistry | None = None,
        *,
        broker: EventBroker | None = None,
        env: Mapping[str, str] | None = None,
        variables: Mapping[str, Any] | None = None,
    ) -> None:
        self.storage: Storage = storage if storage is not None else MemoryStorage()
        self.registry = registry if registry is not None else NodeRegistry()
        self.broker = broker if broker is not None else LocalEventBroker()
        self._http: httpx.AsyncClient | None = None
        self._services = RunServices(
            storage=self.storage,
            broker=self.broker,
            env=env,
            variables=variables,
            http_client=self._http_client,
        )
        self._runs: dict[str, ExecutionRun] = {}
        self._task_group: TaskGroup | None = None
        self._exit_stack: contextlib.AsyncExitStack | None = None

    def __repr__(self) -> str:
        return f"Engine(storage={self.storage!r}, registry={self.registry!r})"

    # -- lifecycle -------------------------------------------------------------------------

    async def __aenter__(self) -> Engine:
        async with contextlib.AsyncExitStack() as stack:
            await self.storage.open()
            stack.push_async_callback(self.storage.aclose)
            stack.push_async_callback(self._close_http)
            self._task_group = await stack.enter_async_context(anyio.create_task_group())
            stack.callback(self._detach_broker)
            if isinstance(self.broker, LocalEventBroker):
                self.broker.attach(self._task_group)
            self._exit_stack = stack.pop_all()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop background work and close the storage and HTTP client."""
        stack, self._exit_stack = self._exit_stack, None
        if stack is not None:
            await stack.aclose()

    def _detach_broker(self) -> None:
        if isinstance(self.broker, LocalEventBroker):
            self.broker.close_deliveries()
        self._task_group = None

    def _http_client(self) -> httpx.AsyncClient:
        if self._http is None:
            import httpx

            self._http = httpx.AsyncClient(timeout=30.0, follow_redirects=False)
        return self._http

    async def _close_http(self) -> None:
        client, self._http = self._http, None
        if client is not None:
            await client.aclose()

    # -- running ---------------------------------------------------------------------------

    def validate(self, workflow: Mapping[str, Any] | Workflow) -> Workflow:
        """The workflow as a validated :class:`Workflow` (WorkflowValidationError otherwise)."""
        if isinstance(workflow, Workflow) and id(self.registry) in _validated.get(workflow, ()):
            return workflow
        checked = validate_workflow(workflow, self.registry)
        _validated.setdefault(checked, set()).add(id(self.registry))
        return checked

    async def execute(
        self,
        workflow: Mapping[str, Any] | Workflow,
        input_data: Any = None,
        *,
        start_node_id: str | None = None,
        run_partial: bool = False,
        mode: ExecutionMode | str = ExecutionMode.MANUAL,
        triggered_by: str | None = None,
        wait: bool = True,
    ) -> Execution:
        """Run ``workflow`` and return its execution record.

        With ``wait=False`` it returns as soon as the execution is stored as ``running``; the
        run goes on in the background (watch it with :meth:`subscribe`).
        """
        checked = self.validate(workflow)
        mode = _mode(mode)
        starts = self._start_nodes(checked, input_data, start_node_id, mode)
        reused = await self._reused_nodes(checked, start_node_id) if run_partial else []
        execution = self._new_execution(checked, input_data, mode, triggered_by)
        execution.options = {"startNodeId": start_node_id, "runPartial": run_partial}
        await self.storage.create_execution(execution)
        run = ExecutionRun(
            self._services,
            execution,
            plan_for(checked, self.registry),
            starts=starts,
            reused=reused,
        )
        if wait:
            return await self._run(run)
        self._require_running().start_soon(self._run, run)
        return execution

    async def _run(self, run: ExecutionRun) -> Execution:
        self._runs[run.execution.id] = run
        try:
            return await run.run()
        finally:
            del self._runs[run.execution.id]

    def _require_running(self) -> TaskGroup:
        if self._task_group is None:
            raise RuntimeError("the engine is not running: use 'async with Engine(...) as engine'")
        return self._task_group

    def _new_execution(
        self, workflow: Workflow, input_data: Any, mode: ExecutionMode, triggered_by: str | None
    ) -> Execution:
        now = time.time()
        return Execution(
            id=f"exec-{uuid.uuid4().hex}",
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

    def _start_nodes(
        self, workflow: Workflow, input_data: Any, start_node_id: str | None, mode: ExecutionMode
    ) -> list[tuple[str, Any]]:
        graph = WorkflowGraph.of(workflow)
        if start_node_id is not None:
            if start_node_id not in graph.nodes:
                raise WorkflowValidationError(
                    [{"field": "startNodeId", "message": f"no node with id {start_node_id!r}"}]
                )
            return [(start_node_id, input_data)]
        triggers = [n for n in workflow.nodes if self.registry.is_trigger(n) and not n.disabled]
        if not triggers:
            return [(node_id, input_data) for node_id in graph.roots()]
        manual = [n for n in triggers if n.type == "manual_trigger"]
        chosen = (
            manual[0]
            if manual and mode in (ExecutionMode.MANUAL, ExecutionMode.API)
            else triggers[0]
        )
        return [(chosen.id, input_data)]

    async def _reused_nodes(
        self, workflow: Workflow, start_node_id: str | None
    ) -> list[NodeExecution]:
        if start_node_id is None:
            raise WorkflowValidationError(
                [{"field": "startNodeId", "message": "runPartial needs a startNodeId"}]
            )
        upstream = WorkflowGraph.of(workflow).upstream(start_node_id)
        reused = [
            NodeExecution(node_id=n.id, node_name=n.name, sequence=0, output=n.pinned_data)
            for n in workflow.nodes
            if n.id in upstream and n.pinned_data is not None
        ]
        missing = upstream - {r.node_id for r in reused}
        if missing and workflow.id is not None:
            found = await self.storage.find_node_outputs(workflow.id, sorted(missing))
            reused.extend(found.values())
        return reused

    # -- control ---------------------------------------------------------------------------

    async def cancel(self, execution_id: str) -> Execution:
        """Cancel a pending, running or paused execution (ExecutionConflictError when it has
        already finished); returns the execution as stored afterwards."""
        now = time.time()
        cancelled = await self.storage.transition_execution(
            execution_id,
            expected=(ExecutionStatus.PENDING, ExecutionStatus.RUNNING, ExecutionStatus.PAUSED),
            status=ExecutionStatus.CANCELLED,
            cancelled_at=now,
            finished_at=now,
        )
        if not cancelled:
            stored = await self.storage.get_execution(execution_id)
            raise ExecutionConflictError(execution_id, stored.status.value, "cancel")
        run = self._runs.get(execution_id)
        if run is not None:
            run.cancel("CANCELLED")
        return await self.storage.get_execution(execution_id)

    async def get_execution(self, execution_id: str, *, include_data: bool = False) -> Execution:
        """The stored execution (ExecutionNotFoundError when unknown)."""
        return await self.storage.get_execution(execution_id, include_data=include_data)

    def subscribe(
        self,
        callback: Callback,
        *,
        types: Iterable[str | type[Event]] | None = None,
        execution_id: str | None = None,
        inline: bool = False,
    ) -> Subscription:
        """Call ``callback(event)`` for every event (of ``types``, of one execution).

        Delivery is asynchronous through a bounded queue, so a slow callback never slows an
        execution; ``inline=True`` calls a quick synchronous callback at once instead.
        """
        return self.broker.subscribe(
            callback, types=types, execution_id=execution_id, inline=inline
        )


def _mode(mode: ExecutionMode | str) -> ExecutionMode:
    try:
        return ExecutionMode(mode)
    except ValueError:
        allowed = ", ".join(m.value for m in ExecutionMode)
        raise WorkflowValidationError(
            [{"field": "mode", "message": f"unknown mode {mode!r}; expected one of {allowed}"}]
        ) from None
