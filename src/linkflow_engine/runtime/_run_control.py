"""Run control: the executions an engine runs in this process, and what is said to them.

A run is known here, by execution id, from the moment it starts (so a cancel or a resume said in
this process reaches it) until it ends. Cancel and resume are stored transitions first, so they
reach a run in any process sharing the storage (through its keeper). On durable storage each
run holds a lease through the engine's :class:`~linkflow_engine.runtime._keeper.Keeper`; an
execution whose owner stopped renewing its lease is taken over: rebuilt from its stored record,
settled nodes kept, the others run again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import anyio
import attrs

from .._exceptions import ExecutionConflictError, ExecutionNotFoundError, LeaseLostError
from ..graph import Workflow
from ._callbacks import Postponed, delivery, end_deliveries
from ._executor import ExecutionRun, RunServices
from ._plan import plan_for
from ._records import Execution, ExecutionStatus, NodeExecution
from ._starts import start_nodes, stored_starts

if TYPE_CHECKING:
    from anyio.abc import TaskGroup

    from ..nodes import NodeRegistry
    from ..storage.base import FireKey, Lease
    from ._keeper import Keeper

__all__ = ["CANCEL_END", "RunControl"]

logger = logging.getLogger("linkflow_engine.runtime")

CANCEL_END = "linkflow:cancel-end"
"""The address of a delivery stored with each cancel on durable storage: an engine delivers it
by writing the cancelled execution's end (its last node runs, log line and event) when the run
that should have is gone (its engine closed or died). First attempted once the run's lease has
had time to run out; postponed while a run still holds it (see :meth:`RunControl.end_cancelled`)."""

RETRY_CAP = 3600.0
"""Seconds: the longest an execution whose run keeps stopping on an error waits for the next
attempt of this engine's recovery."""


class RunControl:
    """Starts, controls and takes over the engine's runs.

    ``task_group()`` is the engine's task group for background runs (it raises when the engine
    is not running); ``on_end`` hears each run that ended, with the deliveries its end stored.
    """

    def __init__(
        self,
        services: RunServices,
        registry: NodeRegistry,
        *,
        keeper: Keeper | None,
        validate: Callable[[Mapping[str, Any] | Workflow], Workflow],
        task_group: Callable[[], TaskGroup],
        on_end: Callable[[Execution, list[dict[str, Any]]], Awaitable[None]],
    ) -> None:
        self._services = services
        self._storage = services.storage
        self._registry = registry
        self._keeper = keeper
        self._validate = validate
        self._task_group = task_group
        self._on_end = on_end
        self._runs: dict[str, ExecutionRun] = {}
        self._stopped: dict[str, tuple[int, float]] = {}
        """Executions whose run here stopped on an error (or could not be taken over): how
        many times in a row, and the (monotonic) time before which recovery leaves them alone."""
        self._taking: set[str] = set()
        """Executions being taken over here: a second take-over (recover() beside the keeper's,
        or resume()) would claim the lease again, which its owner may, and run it twice."""

    def __repr__(self) -> str:
        return f"RunControl(runs={len(self._runs)})"

    async def launch(
        self,
        execution: Execution,
        workflow: Workflow,
        starts: Sequence[tuple[str, Any]],
        reused: Sequence[NodeExecution],
        *,
        wait: bool,
        fire: FireKey | None = None,
    ) -> Execution:
        """Store a new execution (taking its lease, and recording the schedule ``fire`` it runs
        for, in the same write: FireRecorded when that fire was recorded before) and run it,
        to its end or in the background."""
        keeper = self._keeper
        # A background run needs the running engine: asked first, a closed one stores nothing.
        group = None if wait else self._task_group()
        # The run first: it records the runs it reuses, which are stored with the execution
        # (a crash before its first write then leaves its recovery something to go on from).
        run = self._new_run(execution, workflow, None, starts=starts, reused=reused)
        lease = await self._storage.create_execution(
            execution, lease=keeper.terms() if keeper is not None else None, fire=fire
        )
        if keeper is not None:
            try:
                lease = await keeper.freshen(lease)
            except Exception:  # stored all the same: run it, under the lease as granted
                logger.warning("could not renew the lease of %s", execution.id, exc_info=True)
            if lease is None:  # taken over by another engine while the creation waited
                return await self._ended_elsewhere(execution) if wait else execution
        run.recorder.stored_with_execution(lease)
        if wait:
            return await self._run(run)
        self._start(run, group)
        return execution

    async def _ended_elsewhere(self, execution: Execution) -> Execution:
        """The execution another engine runs, read once it has ended."""
        assert self._keeper is not None
        while not (await self._storage.get_status(execution.id)).is_terminal:  # noqa: ASYNC110
            await anyio.sleep(self._keeper.poll_interval)  # (only storage tells, across processes)
        return await self._storage.get_execution(execution.id, include_data=True)

    def _new_run(
        self,
        execution: Execution,
        workflow: Workflow,
        lease: Lease | None,
        *,
        starts: Sequence[tuple[str, Any]],
        reused: Sequence[NodeExecution] = (),
        resumed: bool = False,
        event_sequence: int = 0,
    ) -> ExecutionRun:
        """A run of ``execution`` that writes under ``lease``."""
        plan = plan_for(workflow, self._registry)
        run = ExecutionRun(
            self._services,
            execution,
            plan,
            starts=starts,
            reused=reused,
            resumed=resumed,
            event_sequence=event_sequence,
        )
        run.recorder.lease = lease
        return run

    def _start(self, run: ExecutionRun, group: TaskGroup | None = None) -> None:
        """Run in the background (in ``group``, by default the engine's task group); known to
        cancel() from this moment on."""
        if group is None:
            group = self._task_group()  # raises when the engine is not running: nothing is known
        self._runs[run.execution.id] = run
        group.start_soon(self._run_in_background, run)

    async def _run_in_background(self, run: ExecutionRun) -> None:
        """:meth:`_run` for a run nobody awaits. An error it meets (storage unreachable, say)
        is logged instead of stopping the engine, whose task group runs it: the execution,
        its lease released, is taken up again by recovery from what was stored; after each
        such stop in a row, recovery here waits twice as long (from two leases' time, up to
        :data:`RETRY_CAP`), so an error that persists does not rerun its nodes every round."""
        execution_id = run.execution.id
        try:
            await self._run(run)
        except Exception as error:
            if _says_deleted(error, execution_id):  # nothing left to run, nor to recover
                logger.warning("execution %s was deleted while it ran: left it", execution_id)
                return
            if not self._storage.durable:
                logger.exception("execution %s stopped on an error", execution_id)
                return
            stops, wait = self._back_off(execution_id)
            logger.exception(
                "execution %s stopped on an error (%d in a row); recovery takes it up again"
                " in %.0f s at the earliest",
                execution_id, stops, wait,
            )  # fmt: skip
        else:
            self._stopped.pop(execution_id, None)

    def _back_off(self, execution_id: str) -> tuple[int, float]:
        """Count one more stop on an error in a row; recovery here waits twice as long after
        each (from two leases' time, up to :data:`RETRY_CAP`). The stops and the wait."""
        stops = self._stopped.get(execution_id, (0, 0.0))[0] + 1
        ttl = self._keeper.lease_ttl if self._keeper is not None else 30.0
        wait = min(ttl * 2**stops, RETRY_CAP)
        self._stopped[execution_id] = (stops, time.monotonic() + wait)
        return stops, wait

    async def _run(self, run: ExecutionRun) -> Execution:
        execution_id = run.execution.id
        self._runs[execution_id] = run
        if self._keeper is not None:
            self._keeper.track(run)
        try:
            try:
                execution = await run.run()
            except* LeaseLostError:
                # A write learnt before the keeper did that another process took the execution
                # over: this run leaves it (the write changed nothing), the engine goes on.
                logger.warning("lost the lease of execution %s: leaving it", execution_id)
                run.recorder.lease = None
                run.recorder.broken = None  # not this run's error to raise: it leaves quietly
                run.abandon()
                execution = run.execution
        except ExceptionGroup as group:  # the run's task groups wrap what they raise
            # A write failed, and the run stopped on it (beside it, others may have met the
            # same storage): that error is what the run raises.
            raise run.recorder.broken or _sole_error(group) from None
        finally:
            del self._runs[execution_id]
            if self._keeper is not None:
                await self._keeper.release(run)
        if run.recorder.broken is not None:  # found deleted by a check (see Keeper._check)
            raise run.recorder.broken
        if not run.recorder.abandoned:
            await self._on_end(execution, run.deliveries)
        return execution

    async def cancel(self, execution_id: str, *, now: float) -> Execution:
        """Store the cancel, with the callback that reports it, then stop the run if it is
        here (see ``Engine.cancel``). The callback goes with the cancel because the run may
        be nowhere (its process died) to report its end."""
        stored = await self._storage.get_execution(execution_id)
        ended = attrs.evolve(
            stored, status=ExecutionStatus.CANCELLED, finished_at=now, cancelled_at=now
        )
        deliveries = end_deliveries(ended, now)
        if self._keeper is not None:
            due = now + self._keeper.lease_ttl
            deliveries.append(delivery(execution_id, CANCEL_END, {}, due=due))
        cancelled = await self._storage.transition_execution(
            execution_id,
            expected=(ExecutionStatus.PENDING, ExecutionStatus.RUNNING, ExecutionStatus.PAUSED),
            status=ExecutionStatus.CANCELLED,
            cancelled_at=now,
            finished_at=now,
            deliveries=deliveries,
        )
        if not cancelled:
            stored = await self._storage.get_execution(execution_id)
            raise ExecutionConflictError(execution_id, stored.status.value, "cancel")
        run = self._runs.get(execution_id)
        if run is not None:
            run.cancel("CANCELLED")
        return await self._storage.get_execution(execution_id)

    async def end_cancelled(self, cancel_end: dict[str, Any]) -> tuple[str, str | None, bool]:
        """Deliver a :data:`CANCEL_END` delivery: write the end of the cancelled execution it
        is about, unless its run wrote it. Done only once that end is stored: postponed while
        a run (here, or in a live engine) still holds the execution; retried after an error
        (a storage error, a node type this engine lacks) like a callback."""
        execution_id = cancel_end["executionId"]
        try:
            return await self._end_cancelled(execution_id)
        except Postponed:
            raise
        except ExecutionNotFoundError:  # pruned meanwhile: nothing is left to end
            return "", None, False
        except Exception as error:  # a busy database, a node type this engine lacks: again later
            return f"failed: {type(error).__name__}: {error}", str(error) or "error", False

    async def _end_cancelled(self, execution_id: str) -> tuple[str, str | None, bool]:
        stored = await self._storage.get_execution(execution_id)
        if await self._end_written(execution_id):
            return "", None, False
        if stored.workflow is None:  # stored before executions kept their workflow
            return "refused: no workflow is stored with it", "no workflow", True
        if execution_id in self._runs or execution_id in self._taking:
            raise Postponed("its run here has not written its end yet")
        await self._take_over(execution_id, ending=True)
        if not await self._end_written(execution_id):
            raise Postponed("its run still holds the execution")
        return "", None, False

    async def _end_written(self, execution_id: str) -> bool:
        events = await self._storage.list_events(execution_id)
        return any(event.data.get("type") == "execution.cancelled" for event in events)

    async def resume(self, execution_id: str, *, step: bool) -> Execution:
        """Store the resume, then release the run here, or take it over when nobody holds it
        (see ``Engine.resume``)."""
        stored = await self._storage.get_execution(execution_id)
        if stored.status is not ExecutionStatus.PAUSED:
            raise ExecutionConflictError(execution_id, stored.status.value, "resume")
        await self._storage.save_execution_options(execution_id, {**stored.options, "step": step})
        resumed = await self._storage.transition_execution(
            execution_id, expected=(ExecutionStatus.PAUSED,), status=ExecutionStatus.RUNNING
        )
        if not resumed:
            status = await self._storage.get_status(execution_id)
            raise ExecutionConflictError(execution_id, status.value, "resume")
        run = self._runs.get(execution_id)
        if run is not None:
            run.resumed(step=step)
        elif self._storage.durable:
            # Nobody here holds it: whoever holds its lease goes on; if nobody does, we do.
            await self._take_over(execution_id)
        return await self._storage.get_execution(execution_id)

    async def recover(self) -> list[str]:
        """Take over the recoverable executions not running here (see ``Engine.recover``);
        the ids of those taken."""
        if not self._storage.durable:
            return []
        taken = []
        for execution_id in await self._storage.recoverable_executions(now=time.time()):
            if execution_id in self._runs or self._waits(execution_id):
                continue
            try:
                if await self._take_over(execution_id):
                    taken.append(execution_id)
            except Exception:  # this one cannot run here (a node type this engine lacks, say)
                stops, wait = self._back_off(execution_id)
                logger.exception(
                    "could not take over execution %s (%d in a row); recovery here tries it"
                    " again in %.0f s at the earliest, and goes on with the others",
                    execution_id, stops, wait,
                )  # fmt: skip
        return taken

    def _waits(self, execution_id: str) -> bool:
        """Its run stopped on an error here, and its time for another attempt has not come."""
        stopped = self._stopped.get(execution_id)
        return stopped is not None and time.monotonic() < stopped[1]

    async def _take_over(self, execution_id: str, *, ending: bool = False) -> bool:
        """Claim the lease of a stored execution and run it on from its record (False when a
        live owner holds it, or this engine runs it or is taking it over already, or it has
        ended, or it has no snapshot to run). When it cannot be run (its workflow does not
        validate here), the lease is released and the error raised. With ``ending``, a
        cancelled execution whose end is not written yet is taken too, and its end written
        before this returns."""
        assert self._keeper is not None
        if execution_id in self._runs or execution_id in self._taking:
            return False
        self._taking.add(execution_id)
        try:
            lease = await self._keeper.claim(execution_id)
            if lease is None:
                return False
            try:
                return await self._run_taken(execution_id, lease, ending=ending)
            except BaseException:
                with anyio.CancelScope(shield=True):
                    await self._storage.release_lease(lease)
                raise
        finally:
            self._taking.discard(execution_id)

    async def _run_taken(self, execution_id: str, lease: Lease, *, ending: bool) -> bool:
        """:meth:`_take_over` once the lease is claimed."""
        execution = await self._storage.get_execution(execution_id, include_data=True)
        ending = ending and execution.status is ExecutionStatus.CANCELLED
        left = ending or not execution.status.is_terminal  # something is left to write
        if ending:  # checked under the lease: a run that wrote its end released it first
            left = not await self._end_written(execution_id)
        if not left or execution.workflow is None:
            await self._storage.release_lease(lease)
            return False
        checked = self._validate(execution.workflow)
        starts = stored_starts(execution) or start_nodes(
            checked, self._registry, execution.input_data, None, execution.mode
        )
        events = await self._storage.list_events(execution_id)
        sequence = events[-1].sequence if events else 0
        run = self._new_run(
            execution, checked, lease, starts=starts, resumed=True, event_sequence=sequence
        )
        if ending:  # it runs no node: it writes the end the cancel left unwritten, now
            run.cancel("CANCELLED")
            await self._run(run)
        else:
            self._start(run)
        return True

    def suspend(self) -> None:
        """On close: paused runs, and every run on durable storage, stop where they are and
        stay resumable (another engine, or this one restarted, picks them up); runs on memory
        storage are waited for, since nothing could resume them."""
        for run in list(self._runs.values()):
            if run.paused or self._storage.durable:
                run.abandon()


def _says_deleted(error: BaseException, execution_id: str) -> bool:
    """Whether ``error`` says that the execution ``execution_id`` is gone from storage."""
    return (
        isinstance(error, ExecutionNotFoundError)
        and error.kind == "execution"
        and error.id == execution_id
    )


def _sole_error(group: ExceptionGroup[Exception]) -> Exception:
    """The one error a group of one wraps (groups within it unwrapped too), else the group:
    a caller of ``execute`` catches a StorageError as such."""
    error: Exception = group
    while isinstance(error, ExceptionGroup) and len(error.exceptions) == 1:
        error = error.exceptions[0]
    return error
