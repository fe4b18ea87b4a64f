"""The engine: owns storage, the node registry, the event broker and the running executions.

``async with Engine(...) as engine`` opens the storage and starts the background services (event
delivery, async executions and, on durable storage, the keeper of leases, which also recovers
executions whose process died); leaving the block closes them. Everything a user does to
executions goes through it: execute, retry, cancel, resume, read, prune.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
import weakref
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import anyio
from anyio.abc import TaskGroup

from .._clock import Clock, SystemClock
from .._exceptions import ExecutionConflictError, WorkflowValidationError
from .._stored_values import plain
from ..events import Callback, Event, EventBroker, LocalEventBroker, Subscription
from ..graph import Workflow, validate_workflow
from ..nodes import NodeRegistry
from ..outbound import OutboundPolicy
from ..storage.memory import MemoryStorage
from ._callbacks import DEFAULT_RETRY_DELAYS, CallbackService
from ._error_workflows import TARGET as ERROR_WORKFLOWS
from ._error_workflows import ErrorWorkflows
from ._executor import RunServices
from ._history import EngineHistory
from ._http_client import SharedHttpClient
from ._keeper import Keeper
from ._new_executions import (
    callback_url,
    execution_mode,
    new_execution,
    partial_reuse,
    replay_of,
)
from ._plan import plan_for
from ._records import Execution, ExecutionMode
from ._run_control import CANCEL_END, RunControl
from ._starts import start_nodes

if TYPE_CHECKING:
    from ..credentials import CredentialStore
    from ..scheduler import SchedulerService
    from ..storage.base import FireKey, Storage

__all__ = ["Engine"]

logger = logging.getLogger("linkflow_engine.runtime")

_validated: weakref.WeakKeyDictionary[Workflow, set[int]] = weakref.WeakKeyDictionary()


class Engine(EngineHistory):
    """Runs workflows and keeps their executions.

    :param storage: where executions live (default: a new :class:`MemoryStorage`).
    :param registry: the node types (default: a new registry with the built-ins).
    :param broker: carries events to subscribers (default: in-process).
    :param env: what ``$env`` exposes to expressions (default: nothing; pass ``os.environ``
        or a filtered copy to expose variables).
    :param variables: what ``$vars`` exposes.
    :param lease_ttl: seconds a durable execution's lease lasts unrenewed; after a crash,
        another engine takes the execution over this long after the last renewal.
    :param poll_interval: how often (seconds) running executions look at their stored status,
        which bounds how long a cancel or resume from another process takes to arrive.
    :param recover: take over interrupted executions when the engine starts (durable storage).
    :param allow_outbound: hosts, IP addresses or CIDR ranges that callbacks and node requests
        may reach although they are not public (loopback, private, link-local).
    :param callback_secret: signs callbacks (``X-Linkflow-Signature: sha256=<hex HMAC>``).
    :param callback_retry_delays: seconds between callback attempts.
    :param clock: the calendar time of retries, waits, schedules and timestamps (default: the
        system clock; tests pass :class:`linkflow_engine.testing.VirtualClock`).
    :param scheduler: run the scheduler, which fires the schedule and interval triggers of
        active workflows (see :mod:`linkflow_engine.scheduler`).
    :param credentials: where ``config.credential`` ids are looked up (default: the store in
        the storage's database, see :func:`~linkflow_engine.credentials.credential_store_for`);
        the engine closes it when it closes.
    """

    def __init__(
        self,
        storage: Storage | None = None,
        registry: NodeRegistry | None = None,
        *,
        broker: EventBroker | None = None,
        env: Mapping[str, str] | None = None,
        variables: Mapping[str, Any] | None = None,
        lease_ttl: float = 30.0,
        poll_interval: float = 0.2,
        recover: bool = True,
        allow_outbound: Iterable[str] = (),
        callback_secret: str | None = None,
        callback_retry_delays: Sequence[float] = DEFAULT_RETRY_DELAYS,
        clock: Clock | None = None,
        scheduler: bool = False,
        credentials: CredentialStore | None = None,
    ) -> None:
        self.storage: Storage = storage if storage is not None else MemoryStorage()
        self.registry = registry if registry is not None else NodeRegistry()
        self.broker = broker if broker is not None else LocalEventBroker()
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.outbound = OutboundPolicy.from_entries(allow_outbound)
        self._http = SharedHttpClient(self.outbound)
        self._credentials: CredentialStore | None = credentials
        self._services = RunServices(
            storage=self.storage,
            broker=self.broker,
            env=env,
            variables=variables,
            http_client=self._http.get,
            sleep=self.clock.sleep,
            # The system clock's now() is time.time: skip the extra call per timestamp.
            clock=time.time if isinstance(self.clock, SystemClock) else self.clock.now,
            credentials=lambda: self.credentials,
            outbound=self.outbound,
        )
        self._keeper = (
            Keeper(
                self.storage,
                owner=f"engine-{os.urandom(6).hex()}",
                lease_ttl=lease_ttl,
                poll_interval=poll_interval,
            )
            if self.storage.durable
            else None
        )
        self._recover_at_start = recover
        self._control = RunControl(
            self._services,
            self.registry,
            keeper=self._keeper,
            validate=self.validate,
            task_group=self._require_running,
            on_end=self._after_run,
        )
        self._callbacks = CallbackService(
            self.storage,
            policy=self.outbound,
            secret=callback_secret,
            client=self._http.get,
            retry_delays=callback_retry_delays,
            clock=self.clock,
            targets={
                ERROR_WORKFLOWS: ("Error workflows", ErrorWorkflows(self).deliver),
                CANCEL_END: ("Cancel", self._control.end_cancelled),
            },
        )
        self._scheduler = _scheduler_service(self) if scheduler else None
        self._task_group: TaskGroup | None = None
        self._exit_stack: contextlib.AsyncExitStack | None = None

    def __repr__(self) -> str:
        return f"Engine(storage={self.storage!r}, registry={self.registry!r})"

    @property
    def credentials(self) -> CredentialStore:
        """Where ``config.credential`` ids are looked up (made on first use when not given)."""
        if self._credentials is None:
            from ..credentials import credential_store_for

            self._credentials = credential_store_for(self.storage)
        return self._credentials

    async def _close_credentials(self) -> None:
        if self._credentials is not None:
            await self._credentials.aclose()

    # -- lifecycle -------------------------------------------------------------------------

    async def __aenter__(self) -> Engine:
        async with contextlib.AsyncExitStack() as stack:
            await self.storage.open()
            stack.push_async_callback(self.storage.aclose)
            stack.push_async_callback(self._http.aclose)
            stack.push_async_callback(self._close_credentials)
            self._task_group = await stack.enter_async_context(anyio.create_task_group())
            stack.callback(self._detach_broker)
            if isinstance(self.broker, LocalEventBroker):
                self.broker.attach(self._task_group)
            stack.callback(self._control.suspend)
            _start_service(stack, self._task_group, self._callbacks.run)
            if self._scheduler is not None:
                _start_service(stack, self._task_group, self._scheduler.run)
            if self._keeper is not None:
                _start_service(stack, self._task_group, self._watch)
                if self._recover_at_start:
                    await self._recover_at_first()
            self._exit_stack = stack.pop_all()
        return self

    async def _recover_at_first(self) -> None:
        """Recovery at start: an error (a busy database, a dropped connection) does not stop
        the engine from starting; its periodic recovery tries again within a lease's time."""
        try:
            await self.recover()
        except Exception:
            logger.exception("recovering interrupted executions at start failed: tried again soon")

    async def _watch(self) -> None:
        assert self._keeper is not None
        await self._keeper.watch(self.recover)

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop background work and close the storage and the HTTP client.

        Executions still running on durable storage are left resumable (see :meth:`recover`);
        on memory storage they are waited for.
        """
        stack, self._exit_stack = self._exit_stack, None
        if stack is not None:
            await stack.aclose()

    def _detach_broker(self) -> None:
        if isinstance(self.broker, LocalEventBroker):
            self.broker.close_deliveries()
        self._task_group = None

    # -- running ---------------------------------------------------------------------------

    def validate(self, workflow: Mapping[str, Any] | Workflow) -> Workflow:
        """The workflow as a validated :class:`Workflow` (WorkflowValidationError otherwise)."""
        if isinstance(workflow, Workflow) and id(self.registry) in _validated.get(workflow, ()):
            return workflow
        checked = validate_workflow(workflow, self.registry)
        plan_for(checked, self.registry)  # the plan checks what needs node types: loop bodies
        _validated.setdefault(checked, set()).add(id(self.registry))
        return checked

    async def execute(
        self,
        workflow: Mapping[str, Any] | Workflow | str,
        input_data: Any = None,
        *,
        start_node_id: str | None = None,
        run_partial: bool = False,
        mode: ExecutionMode | str = ExecutionMode.MANUAL,
        triggered_by: str | None = None,
        debug: bool = False,
        breakpoints: Sequence[str] = (),
        webhook_url: str | None = None,
        wait: bool = True,
        _fire: FireKey | None = None,
        _execution_id: str | None = None,
    ) -> Execution:
        """Run ``workflow`` (a document, a :class:`Workflow`, or the id of a stored one) and
        return its execution record.

        With ``wait=False`` it returns as soon as the execution is stored as ``running``; the
        run goes on in the background (watch it with :meth:`subscribe`). With ``debug=True``
        the run pauses before nodes with ``breakpoint: true`` or listed in ``breakpoints``.
        When it ends, ``webhook_url`` receives the documented callback (durably, with retries).
        (``_fire`` is the scheduler's: the slot's fire is recorded with the execution.
        ``_execution_id``, the error workflows': the execution's id, StorageError if it exists.)
        """
        if isinstance(workflow, str):
            workflow = await self.storage.get_workflow(workflow)
        checked = self.validate(workflow)
        mode = execution_mode(mode)
        _check_breakpoints(checked, breakpoints)
        input_data = plain(input_data)  # as a recovered run reads it back
        starts = start_nodes(checked, self.registry, input_data, start_node_id, mode)
        reused = await partial_reuse(self.storage, checked, start_node_id) if run_partial else []
        execution = new_execution(checked, input_data, mode, triggered_by, self.clock)
        if _execution_id is not None:
            execution.id = _execution_id
        execution.options = {
            "startNodeId": start_node_id,
            "runPartial": run_partial,
            "debug": debug,
            "breakpoints": list(breakpoints),
            "starts": [list(start) for start in starts],
            "webhookUrl": callback_url(webhook_url),
        }
        return await self._control.launch(execution, checked, starts, reused, wait=wait, fire=_fire)

    async def retry(
        self,
        execution_id: str,
        *,
        from_node: str | None = None,
        input_overrides: dict[str, Any] | None = None,
        triggered_by: str | None = None,
        webhook_url: str | None = None,
        wait: bool = True,
    ) -> Execution:
        """Replay a finished execution as a new one (mode ``replay``) from ``from_node``
        (default: the node that failed), with ``input_overrides`` merged into its input.

        Nodes that ``from_node`` does not reach keep their recorded outputs (``reused``);
        retrying a pending, running or paused execution raises ExecutionConflictError.
        """
        original = await self.storage.get_execution(execution_id, include_data=True)
        if not original.status.is_terminal:
            raise ExecutionConflictError(execution_id, original.status.value, "retry")
        if original.workflow is None:
            raise ExecutionConflictError(execution_id, original.status.value, "retry (no snapshot)")
        checked = self.validate(original.workflow)
        execution, starts, reused = replay_of(
            original,
            checked,
            self.registry,
            self.clock,
            from_node=from_node,
            input_overrides=plain(input_overrides),
            triggered_by=triggered_by,
            webhook_url=webhook_url,
        )
        return await self._control.launch(execution, checked, starts, reused, wait=wait)

    async def _after_run(self, execution: Execution, deliveries: list[dict[str, Any]]) -> None:
        for delivery in deliveries:  # stored with its end
            self._callbacks.deliver_soon(delivery)

    def _require_running(self) -> TaskGroup:
        if self._task_group is None:
            raise RuntimeError("the engine is not running: use 'async with Engine(...) as engine'")
        return self._task_group

    async def save_workflow(self, workflow: Mapping[str, Any] | Workflow) -> Workflow:
        """Validate and store a workflow (a new version when its id exists); a running
        scheduler sees the change at once."""
        saved = await super().save_workflow(workflow)
        if self._scheduler is not None:
            self._scheduler.workflows_changed()
        return saved

    async def delete_workflow(self, workflow_id: str) -> None:
        """Delete every version of a stored workflow (executions keep their snapshots)."""
        await super().delete_workflow(workflow_id)
        if self._scheduler is not None:
            self._scheduler.workflows_changed()

    # -- control ---------------------------------------------------------------------------

    async def cancel(self, execution_id: str) -> Execution:
        """Cancel a pending, running or paused execution, in this process or any other that
        shares the storage (ExecutionConflictError when it has already finished); returns the
        execution as stored afterwards."""
        cancelled = await self._control.cancel(execution_id, now=self.clock.now())
        if cancelled.options.get("webhookUrl"):
            self._callbacks.wake()  # its delivery was stored with the cancel
        return cancelled

    async def resume(self, execution_id: str, *, step: bool = False) -> Execution:
        """Resume a paused (debug mode) execution, here or in the process that holds it;
        with ``step=True`` it runs one node and pauses again. ExecutionConflictError unless
        the execution is paused."""
        if not isinstance(step, bool):  # "no" would count as true
            raise WorkflowValidationError(
                [{"field": "step", "message": f"{step!r} is not a boolean"}]
            )
        return await self._control.resume(execution_id, step=step)

    async def recover(self) -> list[str]:
        """Take over running or paused executions whose owner stopped renewing its lease
        (a crash, a kill -9): settled nodes are kept, the others run again. Returns their
        ids. Engines on durable storage call this when they start and then periodically."""
        return await self._control.recover()

    # -- events ----------------------------------------------------------------------------

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


def _start_service(
    stack: contextlib.AsyncExitStack,
    task_group: TaskGroup,
    service: Callable[[], Awaitable[None]],
) -> None:
    """Run ``service`` in the background until ``stack`` closes."""
    scope = anyio.CancelScope()
    stack.callback(scope.cancel)
    task_group.start_soon(_run_in, scope, service)


async def _run_in(scope: anyio.CancelScope, service: Callable[[], Awaitable[None]]) -> None:
    with scope:
        await service()


def _scheduler_service(engine: Engine) -> SchedulerService:
    # Imported on demand: the scheduler brings croniter (~37 ms to import) with it.
    from ..scheduler import SchedulerService

    return SchedulerService(engine)


def _check_breakpoints(workflow: Workflow, breakpoints: Sequence[str]) -> None:
    """A breakpoint naming no node of the workflow would never pause: refused, naming it."""
    if not breakpoints:  # the usual case: no set of node ids built per execution
        return
    known = {node.id for node in workflow.nodes}
    problems = [
        {"field": f"breakpoints[{index}]", "message": f"no node with id {node_id!r}"}
        for index, node_id in enumerate(breakpoints)
        if node_id not in known
    ]
    if problems:
        raise WorkflowValidationError(problems)
