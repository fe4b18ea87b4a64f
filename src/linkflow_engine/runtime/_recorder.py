"""The recorder: the one writer of an execution's record, logs and events.

It keeps the record in memory (what ``run_workflow`` returns) and, when the storage is durable,
writes progress through in one transaction per settled node: the node runs changed since the
last write, with the log lines and events gathered meanwhile, under the run's lease fence. With
memory storage the record *is* the stored one and nothing is written at all.

Events get a gap-free ``sequence`` always, but are made only when someone listens or durable
storage keeps them for replay (storage gets them as plain records, listeners as objects).

Being the one writer makes it the place for redaction: once a node of the run has used a
credential, every node run, log line and event passes through the run's redactor before it is
kept or sent (see :mod:`linkflow_engine.credentials._redaction`). Until then ``redactor`` is None
and nothing is checked.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from .._stored_values import plain, text
from ..events import RUN_PAYLOADS, Event, EventRecord, ExecutionLogged
from ._records import Execution, LogEntry, NodeExecution, NodeStatus

if TYPE_CHECKING:
    from ..credentials._redaction import Redactor
    from ..graph import Node
    from ..storage.base import Lease
    from ._executor import RunServices

__all__ = ["Payload", "Recorder"]

Payload = dict[str, Any] | Callable[[], dict[str, Any]]
"""An event payload, or a function making it (so the hot path builds nothing unheard)."""

_RECYCLED_FIELDS: dict[str, Any] = {
    "status": NodeStatus.PENDING,
    "started_at": None,
    "finished_at": None,
    "input": None,
    "output": None,
    "error": None,
    "attempts": 0,
    "port": None,
}


def _afresh(record: NodeExecution) -> None:
    """A stored node run as a run that has not started."""
    for field, value in _RECYCLED_FIELDS.items():
        setattr(record, field, value)
    record.timers = None


class Recorder:
    """Creates node runs, log lines and events for one execution, and saves them."""

    def __init__(self, services: RunServices, execution: Execution, *, event_sequence: int = 0):
        self.services = services
        self.execution = execution
        self.lease: Lease | None = None
        self.abandoned = False
        """True once another process owns the execution: nothing more is written."""
        self.broken: Exception | None = None
        """The storage error the run stops on: a progress write's that failed (storage then
        lacks part of what the run did, which a later write must not skip over: stored run
        numbers would have a gap), or its execution found deleted. The run writes nothing
        more and leaves the execution to recovery."""
        self._durable = services.storage.durable
        # settings.saveExecutionProgress false: write once at the end (and when pausing); a
        # crash then loses the whole run's progress, and recovery runs every node again.
        workflow = execution.workflow
        self._per_node = workflow is None or workflow.settings.save_execution_progress
        self.saves_steps = self._durable and self._per_node
        """Whether storage keeps the run's progress step by step (durable, saved per node)."""
        self._keeps_events = self._durable
        self._sequence = event_sequence
        self._logs_saved = len(execution.logs)
        self._events: list[EventRecord] = []
        self._held: list[Event] | None = None
        """While not None: events heard by subscribers wait here for the run's last write."""
        self._mark = (0, 0)
        self._dirty: dict[int, NodeExecution] = {}
        self._recyclable: dict[tuple[str, int | None], list[NodeExecution]] = {}
        self.redactor: Redactor | None = None

    # -- secrets ---------------------------------------------------------------------------

    def add_secrets(self, secrets: list[str]) -> None:
        """From now on, ``secrets`` are replaced by ``[REDACTED]`` in all this run writes."""
        if self.redactor is None:
            from ..credentials._redaction import Redactor

            self.redactor = Redactor()
        self.redactor.add(secrets)

    def redact(self, value: Any) -> Any:
        """``value`` without the run's secrets (the same object when it has none)."""
        return value if self.redactor is None else self.redactor.redact(value)

    def _redact_records(self, records: Iterable[NodeExecution]) -> None:
        redact = self.redact
        for record in records:
            record.input = redact(record.input)
            record.output = redact(record.output)
            record.error = redact(record.error)

    # -- node runs -------------------------------------------------------------------------

    def recycle(self, records: list[NodeExecution]) -> None:
        """Node runs of an earlier attempt of this execution that will run again: their slots
        (and sequence numbers) are reused instead of adding new runs, in the order they were
        made (a node in nested loops has several runs of one iteration number)."""
        for record in sorted(records, key=lambda record: record.sequence):
            self._recyclable.setdefault((record.node_id, record.iteration), []).append(record)

    def new_record(self, node: Node, iteration: int | None) -> NodeExecution:
        old = self._recycled(node.id, iteration) if self._recyclable else None
        if old is not None:
            # A run interrupted mid-way goes on where it was: its attempts, the error it was
            # waiting to retry, its sleeps' deadlines. Any other runs afresh.
            interrupted = old.status is NodeStatus.RUNNING
            where = (old.attempts, old.error, old.timers)
            _afresh(old)
            if interrupted:
                old.attempts, old.error, old.timers = where
            record = old
        else:
            # After the last run's number, which (stored runs read back in order) may be past
            # their count should a number be missing: a new run never takes a stored one's.
            runs = self.execution.node_executions
            sequence = runs[-1].sequence + 1 if runs else 0
            record = NodeExecution(
                node_id=node.id, node_name=node.name, sequence=sequence, iteration=iteration
            )
            runs.append(record)
        if self._durable:
            self._dirty[record.sequence] = record
        return record

    def _recycled(self, node_id: str, iteration: int | None) -> NodeExecution | None:
        runs = self._recyclable.get((node_id, iteration))
        if not runs:
            return None
        record = runs.pop(0)
        if not runs:
            del self._recyclable[(node_id, iteration)]
        return record

    def reset_unreached(self) -> None:
        """At the run's end: the node runs it did not reach (runs of an earlier attempt of
        this execution it never took up, runs taken up that never started) are pending, as
        if never run, and written so with the end."""
        left = [record for runs in self._recyclable.values() for record in runs]
        self._recyclable.clear()
        runs = self.execution.node_executions
        self._reset([*left, *(r for r in runs if r.status is NodeStatus.PENDING)])

    def stored_with_execution(self, lease: Lease | None) -> None:
        """The execution was created with the runs made so far (those the run reuses), and
        ``lease`` taken: writes go on from there, under it."""
        self._dirty.clear()
        self.lease = lease

    def reset_running(self) -> None:
        """The runs stored ``running`` whose run is gone are pending, as if never run."""
        runs = self.execution.node_executions
        self._reset([record for record in runs if record.status is NodeStatus.RUNNING])

    def _reset(self, records: list[NodeExecution]) -> None:
        for record in records:
            _afresh(record)
            if self._durable:
                self._dirty[record.sequence] = record

    async def node_settled(self, record: NodeExecution, *, last: bool = False) -> None:
        """A node run finished: write its progress now. Not when nothing runs after it
        (``last``): the run's end writes it, in the same commit. Nor when the workflow asked
        to save progress only at the end."""
        if self._per_node and not last:
            await self.save(record)
        elif self._durable:
            self._dirty[record.sequence] = record

    async def save(self, *changed: NodeExecution) -> None:
        """Write the ``changed`` node runs and those created since the last save (in their
        current state) with the logs and events since then, in one storage transaction. After
        a write failed, raise its error again and write nothing (see :attr:`broken`)."""
        self.check_intact()
        progress = self._progress(changed)
        if progress is not None:
            try:
                await self.services.storage.save_progress(self.execution.id, **progress)
            except Exception as error:  # a lost lease too: then the run leaves it quietly
                if self.broken is None:  # (a write beside it may have failed first)
                    self.broken = error
                raise

    def check_intact(self) -> None:
        """Raise the error of the progress write that failed, if one did."""
        if self.broken is not None:
            raise self.broken

    async def save_runs(self, record: NodeExecution) -> None:
        """Write the node run ``record`` as it is now (a durable sleep's deadline), with the
        runs created since the last save (so that stored sequence numbers have no gap), and
        nothing else: those runs, the logs and the events stay pending for the next save, so
        a refused write leaves nothing to give back."""
        if not self._durable or self.abandoned or self.broken is not None:
            return
        runs = {**self._dirty, record.sequence: record}
        if self.redactor is not None:
            self._redact_records(runs.values())
        fence = self.lease.fence if self.lease else None
        await self.services.storage.save_progress(
            self.execution.id, nodes=list(runs.values()), fence=fence
        )

    def _progress(self, changed: tuple[NodeExecution, ...]) -> dict[str, Any] | None:
        """What the next write carries (taken: it is no longer pending), or None."""
        if self.redactor is not None:
            # With no ``changed`` (the run's last saves) every run is swept: memory storage keeps
            # the records themselves, and a skipped node's input was never saved on its own.
            self._redact_records(changed or self.execution.node_executions)
            self._redact_records(self._dirty.values())
        if not self._durable or self.abandoned:
            return None
        for record in changed:
            self._dirty[record.sequence] = record
        logs = self.execution.logs
        if not (self._dirty or self._events or len(logs) > self._logs_saved):
            return None
        nodes = list(self._dirty.values())
        new_logs = logs[self._logs_saved :]
        events, self._events = self._events, []
        self._dirty.clear()
        self._logs_saved = len(logs)
        fence = self.lease.fence if self.lease else None
        return {"nodes": nodes, "logs": new_logs, "events": events, "fence": fence}

    # -- the end ---------------------------------------------------------------------------

    def hold(self) -> None:
        """From now on events wait for :meth:`finish` before anyone hears them: the run's end
        is announced only once it is stored, and dropped if another process ended it first."""
        self._held = []
        self._mark = (self._sequence, len(self.execution.logs))

    async def finish(self, **ending: Any) -> bool:
        """The run's last write: the final status (``ending``: the fields of
        ``storage.finish_execution``), what is left to save and the lease's release, in one
        transaction. True when stored; the held events are then published. False when
        another process ended the execution first: what was logged and published since
        :meth:`hold` is dropped, as if never said, and what came before it (the last node's
        run, say), which that refused write did not store either, waits for the next save."""
        held, self._held = self._held or [], None
        if self.abandoned:  # another process runs it now: nothing is written or said
            return False
        self.check_intact()
        logs_saved = self._logs_saved
        # Under the lease's fence even with nothing left to write: a run that lost its lease
        # must not set the status of an execution another process now runs.
        progress = self._progress(()) or {"fence": self.lease.fence if self.lease else None}
        finished = await self.services.storage.finish_execution(
            self.execution.id, **ending, **progress, lease=self.lease
        )
        if not finished:
            self._sequence, logged = self._mark
            del self.execution.logs[logged:]
            self._logs_saved = min(logs_saved, logged)
            for record in progress.get("nodes", ()):
                self._dirty.setdefault(record.sequence, record)
            said = [event for event in progress.get("events", ()) if event[1] <= self._sequence]
            self._events[:0] = said
            return False
        self.lease = None  # released with the end
        self._publish_all(held)
        return True

    async def save_held(self) -> None:
        """Save, then publish what was held since :meth:`hold`."""
        held, self._held = self._held or [], None
        await self.save()
        if not self.abandoned:  # left to another process meanwhile: it says what happens
            self._publish_all(held)

    def _publish_all(self, events: list[Event]) -> None:
        for event in events:
            self.services.broker.publish(event)

    # -- logs and events -------------------------------------------------------------------

    def log(self, node: Node | None, level: str, message: str, data: dict[str, Any]) -> None:
        if self.redactor is not None:
            message, data = self.redactor.redact(message), self.redactor.redact(data)
        entry = LogEntry(
            timestamp=self.services.clock(),
            level=level,
            message=text(message),
            node_id=node.id if node is not None else None,
            data=plain(data) if data else None,
        )
        self.execution.logs.append(entry)
        # The line's event bears the line's own time: a log line and its event are one record.
        self.publish(ExecutionLogged, entry.to_dict, entry.timestamp)

    def publish(
        self,
        event_class: type[Event],
        payload: Payload,
        timestamp: float | None = None,
        *,
        run: int | None = None,
    ) -> None:
        """Number the event; make its payload only when someone listens or storage keeps it (a
        callable ``payload`` is called only then), and the :class:`Event` only for listeners:
        storage keeps the plain :data:`EventRecord` (building the object cost more than a
        tenth of a durable node's write). ``timestamp``: when it happened (default: now).
        ``run``: storage keeps this node run's number in place of the payload, which is then
        made only for listeners (see :meth:`publish_run`)."""
        self._sequence += 1
        broker = self.services.broker
        listening = not broker.idle and broker.has_subscribers(self.execution.id)
        if not (listening or self._keeps_events):
            return
        data: dict[str, Any] = {}
        if listening or run is None:
            data = payload() if callable(payload) else payload
            if self.redactor is not None:
                data = self.redactor.redact(data)
        if timestamp is None:
            timestamp = self.services.clock()
        if self._keeps_events:
            self._events.append(
                (event_class.type, self._sequence, timestamp, data if run is None else run)
            )
        if listening:
            event = event_class(
                execution_id=self.execution.id,
                workflow_id=self.execution.workflow_id,
                sequence=self._sequence,
                timestamp=timestamp,
                payload=data,
            )
            if self._held is not None:
                self._held.append(event)
            else:
                broker.publish(event)

    def publish_run(self, event_class: type[Event], run: NodeExecution, timestamp: float) -> None:
        """Publish an event made from the node run ``run`` alone (see
        :data:`~linkflow_engine.events.RUN_PAYLOADS`), at ``timestamp`` (the run's own time
        of what it says: its start, its end): storage keeps the run's number in place of the
        payload. Not when the payload could differ from the one made later from the stored
        run: a run in a loop's body runs again under its number when a stopped execution
        resumes, and a run whose payload passes through the redactor keeps that redacted
        payload."""
        by_number = run.iteration is None and self.redactor is None
        self.publish(
            event_class,
            lambda: RUN_PAYLOADS[event_class.type](run),
            timestamp,
            run=run.sequence if by_number else None,
        )
