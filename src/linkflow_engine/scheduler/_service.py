"""The scheduler service: fires the timed triggers of active workflows, exactly once per slot.

The engine runs it in its task group (``Engine(..., scheduler=True)``). Each pass it re-reads the
active workflows, fires every due slot, then sleeps on the engine's clock until the next slot,
for at most ``refresh_interval`` seconds of real time (edits made by other processes), or until
this engine saves or deletes a workflow (:meth:`SchedulerService.workflows_changed`).

Exactly once: a slot's key (workflow id, trigger node id, slot in UTC) is recorded in the same
write that creates its execution (:meth:`Storage.create_execution` with ``fire``); only the
process whose write succeeded runs it, so schedulers in several processes, or one restarted,
never fire a slot twice, and a slot is never recorded without its execution (a slot whose
execution could not be stored stays due, tried again after a back-off; one that waited in a
queue when the engine stopped counts as missed). A slot dropped by the overlap policy is
recorded alone (:meth:`Storage.record_fire`).

Where a trigger's slots resume when the scheduler first sees it: after its latest recorded slot
when there is one (so downtime shows as missed slots, handled by the misfire policy), otherwise
from now (a new trigger does not catch up on its past).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterator
from typing import TYPE_CHECKING, Any

import anyio
from anyio.abc import TaskGroup

from .._exceptions import LinkflowError, StorageError
from ..graph import Node, Workflow
from ..runtime._records import ExecutionMode, ExecutionStatus
from ..storage.base import FireRecorded
from ._policies import QUEUE_LIMIT, Fire, due_fires
from ._triggers import TIMED_TRIGGERS, TimedTrigger, fingerprint, iso

if TYPE_CHECKING:
    from ..runtime import Engine

__all__ = ["SchedulerService"]

logger = logging.getLogger("linkflow_engine.scheduler")

_PAGE = 100
RETRY_CAP = 60.0
"""Seconds at most between passes that try a slot whose run failed to start."""
_FINISHED = ("execution.completed", "execution.failed", "execution.cancelled")


class SchedulerService:
    """Fires ``schedule_trigger`` and ``interval_trigger`` nodes of the engine's active workflows.

    :param refresh_interval: seconds (real time) between re-reads of the active workflows, so
        workflows activated, edited or deactivated by other processes take effect within it.
    """

    def __init__(self, engine: Engine, *, refresh_interval: float = 1.0) -> None:
        self._engine = engine
        self._refresh_interval = refresh_interval
        self._triggers: dict[tuple[str, str], TimedTrigger] = {}
        self._invalid: dict[tuple[str, str], str] = {}
        self._changed = anyio.Event()

    def __repr__(self) -> str:
        return f"SchedulerService(triggers={len(self._triggers)})"

    def workflows_changed(self) -> None:
        """Re-read the active workflows now instead of at the next refresh."""
        self._changed.set()

    async def run(self) -> None:
        """Fire due slots until cancelled."""
        async with anyio.create_task_group() as queued:
            while True:
                self._changed = anyio.Event()
                try:
                    await self._refresh()
                except Exception:  # storage unreachable, say: keep the triggers known so far
                    logger.exception("reading the active workflows failed")
                now = self._engine.clock.now()  # one time for the pass: none is late for another
                for trigger in list(self._triggers.values()):
                    try:
                        await self._fire_due(trigger, queued, now)
                    except Exception:  # one broken trigger must not stop the others (or the engine)
                        self._drop(trigger, "firing it failed")
                await self._sleep(self._next_slot())

    def _drop(self, trigger: TimedTrigger, reason: str) -> None:
        logger.exception("trigger %s is not scheduled any more: %s", trigger.label(), reason)
        self._triggers.pop(trigger.key, None)

    # -- knowing the triggers -------------------------------------------------------------

    async def _refresh(self) -> None:
        seen: set[tuple[str, str]] = set()
        for workflow in await self._active_workflows():
            for node in _timed_nodes(workflow):
                assert workflow.id is not None
                seen.add((workflow.id, node.id))
                await self._track(workflow, node)
        for key in self._triggers.keys() - seen:
            del self._triggers[key]

    async def _active_workflows(self) -> list[Workflow]:
        found: list[Workflow] = []
        while True:
            page, total = await self._engine.list_workflows(
                status="active", limit=_PAGE, offset=len(found)
            )
            found.extend(page)
            if not page or len(found) >= total:
                return found

    async def _track(self, workflow: Workflow, node: Node) -> None:
        assert workflow.id is not None
        key = (workflow.id, node.id)
        known = self._triggers.get(key)
        if known is not None and known.fingerprint == fingerprint(workflow, node):
            known.workflow, known.node = workflow, node  # e.g. a new version, same schedule
            return
        since = known.handled_until if known else await self._resume_point(workflow.id, node.id)
        try:
            self._triggers[key] = TimedTrigger.of(workflow, node, handled_until=since)
        except ValueError as error:
            self._triggers.pop(key, None)
            if self._invalid.get(key) != str(error):  # say it once per broken config
                self._invalid[key] = str(error)
                logger.warning("trigger %s/%s is not scheduled: %s", *key, error)

    async def _resume_point(self, workflow_id: str, node_id: str) -> float:
        """The trigger's latest recorded slot (fired, or dropped by its overlap policy), else
        now. (Its executions would tell too, but among the workflow's other triggers' they
        are a search, and pruning forgets them.)"""
        last = await self._engine.storage.last_fire(workflow_id=workflow_id, node_id=node_id)
        return self._engine.clock.now() if last is None else last

    # -- firing ---------------------------------------------------------------------------

    async def _fire_due(self, trigger: TimedTrigger, queued: TaskGroup, now: float) -> None:
        if now < trigger.retry_at:
            return
        for fire in due_fires(
            trigger.schedule, trigger.policy, after=trigger.handled_until, now=now
        ):
            try:
                await self._start_or_hold(trigger, fire, queued)
            except Exception as error:
                # Not stored (the storage busy or unreachable, say), so not recorded either:
                # the slot stays due, and a later pass takes it up, on time within the grace,
                # else as a missed slot by the misfire policy. Later passes wait longer after
                # each such failure in a row, so a storage that stays down does not flood.
                trigger.failures += 1
                _not_started(trigger, fire, error, trigger.failures)
                trigger.handled_until = fire.slot - 0.001  # (slots are whole milliseconds)
                trigger.retry_at = now + _back_off(trigger.failures)
                return
        trigger.failures = 0
        trigger.handled_until = max(trigger.handled_until, now)

    async def _start_or_hold(self, trigger: TimedTrigger, fire: Fire, queued: TaskGroup) -> None:
        """Start the slot's run, queue it, or drop it as the overlap policy says; raise when
        the storage failed at it (the slot is then not recorded)."""
        overlap = trigger.policy.overlap
        # A slot still queued is a run going on too: a later slot never overtakes it.
        if overlap == "allow" or not (trigger.queued or await self._running(trigger)):
            await self._start(trigger, fire)
        elif overlap == "queue" and trigger.queued < QUEUE_LIMIT:
            trigger.queued += 1
            queued.start_soon(self._start_when_idle, trigger, fire)
        elif await self._record_dropped(trigger, fire):
            logger.info(
                "slot %s of %s dropped: the previous run goes on", iso(fire.slot), trigger.label()
            )

    async def _record_dropped(self, trigger: TimedTrigger, fire: Fire) -> bool:
        """Record a slot the overlap policy drops (False when another process fired it)."""
        workflow_id, node_id = trigger.key
        return await self._engine.storage.record_fire(
            workflow_id=workflow_id, node_id=node_id, scheduled_at=fire.slot
        )

    async def _start_when_idle(self, trigger: TimedTrigger, fire: Fire) -> None:
        """Start a queued slot once the trigger's previous runs have ended, with its
        workflow's current version. When the storage fails at it (reading what runs, storing
        the run), try again, waiting longer each time; drop the slot once the trigger is
        deactivated, deleted or rescheduled."""
        async with trigger.queue_lock:  # FIFO: queued slots start in order, one at a time
            try:
                failures = 0
                # The same trigger object: same schedule (a new version updates it in place).
                while self._triggers.get(trigger.key) is trigger:
                    try:
                        while running := await self._running(trigger):
                            await self._until_finished(running[0])
                        if self._triggers.get(trigger.key) is not trigger:  # changed meanwhile
                            break
                        await self._start(trigger, fire)
                        return
                    except Exception as error:
                        failures += 1
                        _not_started(trigger, fire, error, failures)
                        await self._engine.clock.sleep(_back_off(failures))
                logger.info("queued slot %s of %s dropped", iso(fire.slot), trigger.label())
            finally:
                trigger.queued -= 1

    async def _start(self, trigger: TimedTrigger, fire: Fire) -> None:
        """Start the slot's run (nothing when another scheduler fired the slot). A workflow
        that cannot start (say, a node type this process lacks) is logged and the slot passes;
        a storage error is raised (the slot is not recorded)."""
        data: dict[str, Any] = {
            "scheduledTime": iso(fire.slot),
            "executionTime": iso(self._engine.clock.now()),
        }
        if fire.catch_up:
            data["catchUp"] = True
        try:
            await self._engine.execute(
                trigger.workflow,
                data,
                start_node_id=trigger.node.id,
                mode=ExecutionMode.SCHEDULE,
                triggered_by="scheduler",
                wait=False,
                _fire=(*trigger.key, fire.slot),
            )
        except FireRecorded:  # another scheduler (or this one, before a restart) fired it
            pass
        except Exception as error:
            if _storage_failure(error):
                raise
            # One broken workflow must not stop the others, nor be tried again: it would fail
            # again (it is a new version, or another trigger, that runs).
            logger.exception("scheduled run %s of %s cannot start", iso(fire.slot), trigger.label())

    async def _running(self, trigger: TimedTrigger) -> list[str]:
        """Ids of the trigger's executions still running, in any process."""
        executions, _ = await self._engine.list_executions(
            workflow_id=trigger.key[0],
            status=ExecutionStatus.RUNNING,
            mode=ExecutionMode.SCHEDULE,
            limit=_PAGE,
        )
        return [e.id for e in executions if e.options.get("startNodeId") == trigger.node.id]

    async def _until_finished(self, execution_id: str) -> None:
        finished = anyio.Event()
        subscription = self._engine.subscribe(
            lambda _: finished.set(), types=_FINISHED, execution_id=execution_id, inline=True
        )
        with subscription:
            # Events reach us only from this process: poll storage for runs held by others.
            while not (await self._engine.storage.get_status(execution_id)).is_terminal:
                with anyio.move_on_after(self._refresh_interval):
                    await finished.wait()

    # -- waiting --------------------------------------------------------------------------

    def _next_slot(self) -> float | None:
        upcoming = []
        for trigger in list(self._triggers.values()):
            try:
                slot = _first(trigger.schedule.slots_after(trigger.handled_until))
                upcoming.append(max(slot, trigger.retry_at))
            except Exception:
                self._drop(trigger, "its next slot cannot be computed")
        return min(upcoming, default=None)

    async def _sleep(self, until: float | None) -> None:
        """Until ``until`` on the engine clock, a change, or the refresh interval in real time."""
        with anyio.move_on_after(self._refresh_interval):
            async with anyio.create_task_group() as group:
                group.start_soon(_then_cancel, group, self._changed.wait)
                if until is not None:
                    delay = max(until - self._engine.clock.now(), 0.0)
                    group.start_soon(_then_cancel, group, lambda: self._engine.clock.sleep(delay))


async def _then_cancel(group: TaskGroup, waiting: Callable[[], Awaitable[None]]) -> None:
    await waiting()
    group.cancel_scope.cancel()


_DRIVERS = frozenset({"sqlite3", "psycopg", "psycopg_pool"})


def _storage_failure(error: Exception) -> bool:
    """Whether ``error`` is the storage's (which may pass: the slot is tried again) rather
    than the workflow's (which would fail again)."""
    if isinstance(error, LinkflowError):
        return isinstance(error, StorageError)
    driver = type(error).__module__.partition(".")[0]
    return driver in _DRIVERS or isinstance(error, (OSError, TimeoutError))


def _back_off(failures: int) -> float:
    """Seconds before trying again a slot that failed ``failures`` times in a row."""
    return min(2.0 ** (failures - 1), RETRY_CAP)


def _not_started(trigger: TimedTrigger, fire: Fire, error: Exception, failures: int) -> None:
    """Log a slot whose run the storage failed to store (``failures`` times in a row): with
    its traceback the first time, in one line after."""
    if failures == 1:
        logger.exception("scheduled run %s of %s not stored", iso(fire.slot), trigger.label())
    else:
        logger.warning(
            "scheduled run %s of %s still not stored: %s: %s",
            iso(fire.slot), trigger.label(), type(error).__name__, error,
        )  # fmt: skip


def _first(slots: Iterator[float]) -> float:
    return next(slots)


def _timed_nodes(workflow: Workflow) -> list[Node]:
    if workflow.id is None:
        return []
    return [n for n in workflow.nodes if n.type in TIMED_TRIGGERS and not n.disabled]
