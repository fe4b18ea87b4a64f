"""The storage contract. Every backend (memory, SQLite, PostgreSQL) implements :class:`Storage`
exactly as its docstrings say, and one contract test suite holds them to it.

Rules every method keeps:
- Records go in and come out as the classes of :mod:`linkflow_engine.runtime` and
  :mod:`linkflow_engine.graph`; a record read back equals the one written (timestamps to the
  millisecond).
- Unknown ids raise :class:`~linkflow_engine.ExecutionNotFoundError` (``kind`` says what was
  missing: ``"execution"`` or ``"workflow"``).
- An execution's status changes only through :meth:`Storage.transition_execution`, a
  compare-and-set; a terminal status (completed, failed, cancelled) is never overwritten.
- Progress writes carry the writer's lease ``fence``; a write with a stale fence (another process
  took the execution over) raises :class:`~linkflow_engine.StorageError` and changes nothing.

A backend may also offer :class:`StatusFeed`, an optional capability the engine uses when present.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import attrs

from .._exceptions import StorageError

if TYPE_CHECKING:
    from ..events import EventRecord
    from ..graph import Workflow
    from ..runtime._records import (
        Execution,
        ExecutionError,
        ExecutionMode,
        ExecutionStatus,
        LogEntry,
        NodeExecution,
    )

__all__ = [
    "ExecutionQuery",
    "FireKey",
    "FireRecorded",
    "Lease",
    "LeaseTerms",
    "StatusFeed",
    "Storage",
    "StoredEvent",
]

FireKey = tuple[str, str, float]
"""A schedule slot's fire: (workflow id, trigger node id, slot in epoch seconds UTC)."""


class FireRecorded(StorageError):
    """:meth:`Storage.create_execution` was given a fire recorded before: nothing was stored."""


@attrs.frozen(kw_only=True)
class ExecutionQuery:
    """Filters for :meth:`Storage.list_executions` (all optional; ``None`` matches anything)."""

    workflow_id: str | None = None
    status: ExecutionStatus | None = None
    mode: ExecutionMode | None = None
    started_after: float | None = None
    started_before: float | None = None
    limit: int = 20
    offset: int = 0


@attrs.frozen(kw_only=True)
class Lease:
    """A process's claim on a running execution; ``fence`` grows with every new owner."""

    execution_id: str
    owner: str
    fence: int
    expires_at: float


@attrs.frozen(kw_only=True)
class LeaseTerms:
    """What :meth:`Storage.acquire_lease` takes, for taking a lease along with another write."""

    owner: str
    ttl: float
    now: float


@attrs.frozen(kw_only=True)
class StoredEvent:
    """A kept event as read back for replay: its wire dictionary and its sequence."""

    execution_id: str
    sequence: int
    data: dict[str, Any]


@runtime_checkable
class Storage(Protocol):
    """Where workflows, executions, node runs, logs and events live.

    Open with ``await storage.open()`` (creates or migrates the schema; a database of a newer
    schema version raises StorageError) and close with ``await storage.aclose()``; an
    :class:`~linkflow_engine.Engine` does both for the storage it owns.
    """

    durable: bool
    """True when records survive the process (SQLite, PostgreSQL); the engine then saves
    progress after every node and holds leases."""

    async def open(self) -> None: ...

    async def aclose(self) -> None: ...

    # -- workflows -------------------------------------------------------------------------

    async def save_workflow(self, workflow: Workflow) -> Workflow:
        """Store ``workflow`` and return it as stored.

        A new id gets version 1; saving an existing id stores the next version (the stored
        version + 1, whatever ``workflow.version`` says) and keeps the earlier versions, which
        :meth:`get_workflow` can still read. ``created_at`` is kept from version 1,
        ``updated_at`` set now. A workflow without id gets a fresh ``wf-…`` id.
        """
        ...

    async def get_workflow(self, workflow_id: str, *, version: int | None = None) -> Workflow:
        """The latest (or the given) version of a workflow; ExecutionNotFoundError if none."""
        ...

    async def list_workflows(
        self, *, status: str | None = None, limit: int = 20, offset: int = 0
    ) -> tuple[list[Workflow], int]:
        """Latest versions, newest ``updated_at`` first, and the total that match."""
        ...

    async def delete_workflow(self, workflow_id: str) -> None:
        """Delete every version of a workflow (executions keep their snapshots)."""
        ...

    # -- executions ------------------------------------------------------------------------

    async def create_execution(
        self, execution: Execution, *, lease: LeaseTerms | None = None, fire: FireKey | None = None
    ) -> Lease | None:
        """Insert a new execution with its workflow snapshot, options and input data, and the
        node runs it already holds (those a retry or partial run reuses), in one transaction
        (StorageError when its id exists). With ``lease``, also take the execution's lease
        in the same transaction, as :meth:`acquire_lease` would, and return it. With
        ``fire``, also record that schedule fire in the same transaction, as
        :meth:`record_fire` would (with this execution's id); when it was recorded before,
        raise :class:`FireRecorded` and store nothing: a slot's fire and its execution are
        stored together or not at all."""
        ...

    async def get_execution(self, execution_id: str, *, include_data: bool = False) -> Execution:
        """The execution with its node runs and logs.

        With ``include_data=False`` node ``input``/``output`` and ``outputs`` are ``None`` and
        the backend does not read them.
        """
        ...

    async def list_executions(self, query: ExecutionQuery) -> tuple[list[Execution], int]:
        """Matching executions, newest ``created_at`` first, without node runs, logs or data
        (``workflow`` and ``input_data`` are None, ``outputs`` empty), and the total number that
        match the filters (ignoring limit/offset)."""
        ...

    async def transition_execution(
        self,
        execution_id: str,
        *,
        expected: Sequence[ExecutionStatus],
        status: ExecutionStatus,
        started_at: float | None = None,
        finished_at: float | None = None,
        cancelled_at: float | None = None,
        error: ExecutionError | None = None,
        outputs: dict[str, Any] | None = None,
        deliveries: Sequence[dict[str, Any]] = (),
    ) -> bool:
        """Compare-and-set: when the stored status is one of ``expected``, set ``status`` and
        the given (non-None) fields, :meth:`save_delivery` of each of ``deliveries`` (what
        reports this change: a callback, the failure's error workflows) in the same
        transaction, and return True; otherwise change nothing and return False.
        ExecutionNotFoundError when the execution does not exist."""
        ...

    async def finish_execution(
        self,
        execution_id: str,
        *,
        expected: Sequence[ExecutionStatus],
        status: ExecutionStatus,
        finished_at: float,
        cancelled_at: float | None = None,
        error: ExecutionError | None = None,
        outputs: dict[str, Any] | None = None,
        nodes: Sequence[NodeExecution] = (),
        logs: Sequence[LogEntry] = (),
        events: Sequence[EventRecord] = (),
        fence: int | None = None,
        lease: Lease | None = None,
        deliveries: Sequence[dict[str, Any]] = (),
    ) -> bool:
        """An execution's last write, in one transaction: :meth:`transition_execution` to its
        final ``status``, and only when that changed the status, :meth:`save_progress` of the
        last ``nodes``, ``logs`` and ``events`` (under ``fence``), :meth:`save_delivery` of
        each of ``deliveries`` (what reports the end: a callback, the failure's error
        workflows) and :meth:`release_lease` of ``lease``. False, with nothing written, when
        the stored status was not one of ``expected`` (another process ended it first);
        ExecutionNotFoundError when there is no such execution; StorageError, with nothing
        written, for a stale fence."""
        ...

    async def get_status(self, execution_id: str) -> ExecutionStatus:
        """Just the status (cheap: running executions poll it for cancels and resumes)."""
        ...

    async def save_execution_options(self, execution_id: str, options: dict[str, Any]) -> None:
        """Replace the execution's ``options`` (debug state: where it paused, stepping)."""
        ...

    async def save_node_execution(
        self, execution_id: str, node: NodeExecution, *, fence: int | None = None
    ) -> None:
        """Insert or replace the node run with ``node.sequence`` of the execution."""
        ...

    async def save_progress(
        self,
        execution_id: str,
        *,
        nodes: Sequence[NodeExecution] = (),
        logs: Sequence[LogEntry] = (),
        events: Sequence[EventRecord] = (),
        fence: int | None = None,
    ) -> None:
        """One atomic write of an execution's progress: upsert ``nodes`` (by sequence),
        append ``logs`` and ``events``. With a stale ``fence`` nothing is written
        (StorageError); with a ``fence``, an execution that is not stored raises
        ExecutionNotFoundError. The executor calls this once per settled node. ``logs`` read
        back in the order written; a line without its ``execution.log`` event among
        ``events`` is placed as :meth:`append_logs` places it. A write the caller's task is
        cancelled during completes all the same (so does :meth:`finish_execution`): the run
        knows what it stored. After a write raised, the run writes nothing more."""
        ...

    async def append_logs(
        self, execution_id: str, entries: Sequence[LogEntry], *, fence: int | None = None
    ) -> None:
        """Append log entries: they read back after every line stored, in order of
        appending. Lines written later with their ``execution.log`` events (the executor's)
        may read back before them (SQLite places such lines by their events' numbers)."""
        ...

    async def append_events(self, execution_id: str, events: Sequence[EventRecord]) -> None:
        """Keep events for replay to late subscribers: each an :data:`EventRecord`, read back
        in its wire form (:func:`linkflow_engine.events.wire_form`, with the execution's own
        workflow id). An event made from a node run (its payload that run's sequence number)
        is read back with the payload made from the run as then stored: the run is saved with
        it or before it, and reading it without its run raises StorageError."""
        ...

    async def list_events(self, execution_id: str, *, after_sequence: int = 0) -> list[StoredEvent]:
        """Events of the execution with a sequence greater than ``after_sequence``, in order."""
        ...

    async def find_node_outputs(
        self, workflow_id: str, node_ids: Sequence[str]
    ) -> dict[str, NodeExecution]:
        """For each node id, its latest completed run in any execution of the workflow, with
        ``source_execution_id`` set to that execution (nodes never completed are left out)."""
        ...

    # -- leases (durable backends; MemoryStorage grants every claim) -----------------------

    async def acquire_lease(
        self, execution_id: str, *, owner: str, ttl: float, now: float
    ) -> Lease | None:
        """Claim the execution for ``owner`` when nobody holds an unexpired lease on it (or
        ``owner`` already does); the new lease has a fence greater than any before it. An
        execution that is not stored is never leased (None)."""
        ...

    async def renew_lease(self, lease: Lease, *, ttl: float, now: float) -> Lease | None:
        """Extend ``lease``; None when it was lost (expired and taken, or released)."""
        ...

    async def release_lease(self, lease: Lease) -> None:
        """Give the lease up (no-op when it was already lost)."""
        ...

    async def recoverable_executions(self, *, now: float) -> list[str]:
        """Ids of running or paused executions whose lease has expired (or was never taken),
        oldest first: candidates for recovery by any engine."""
        ...

    # -- history ---------------------------------------------------------------------------

    async def execution_stats(
        self, *, workflow_id: str | None = None, period: str = "day", now: float
    ) -> dict[str, Any]:
        """Aggregates over the executions created in the last ``period`` before ``now``.

        ``period`` is ``"day"``, ``"week"`` or ``"month"`` (1, 7 or 30 days; anything else is a
        ValueError); ``workflow_id`` narrows to one workflow. Returns exactly the spec's fields::

            {"total", "completed", "failed", "cancelled",
             "avgDuration",   # ms (int), mean of finished - started over finished executions
             "successRate",   # completed / (completed + failed + cancelled) * 100, one decimal,
                              # 0.0 when none finished
             "byDay": [{"date": "YYYY-MM-DD", "count", "failed"}, ...]}

        ``byDay`` lists the UTC calendar days (of ``created_at``) that have executions, oldest
        first. Durable backends aggregate in the database, never by loading the rows.
        """
        ...

    async def prune(
        self,
        *,
        older_than: float | None = None,
        keep_last_per_workflow: int | None = None,
        now: float | None = None,
    ) -> int:
        """Delete finished executions (completed, failed, cancelled) with their node runs, logs,
        events and lease, then every done delivery whose execution is gone (a pending one stays
        to be delivered, and goes with a later prune once done); return how many executions
        were deleted.

        An execution goes when it is finished and either was created before ``older_than``
        (epoch seconds) or is not among the ``keep_last_per_workflow`` newest executions of its
        workflow (newest by ``created_at``, counting executions of every status; executions of
        inline workflows, without id, form one group). Pending, running and paused executions
        are never deleted, nor one whose lease is live at ``now`` (epoch seconds, default the
        current time, which leases are on): a run cancelled from elsewhere writes its end after
        the cancel, and a later prune takes it. With neither ``older_than`` nor
        ``keep_last_per_workflow`` nothing is deleted.
        """
        ...

    # -- schedule fires and webhook deliveries ---------------------------------------------

    async def record_fire(
        self,
        *,
        workflow_id: str,
        node_id: str,
        scheduled_at: float,
        execution_id: str | None = None,
    ) -> bool:
        """Record the fire of a schedule slot: the key (``workflow_id``, ``node_id``,
        ``scheduled_at`` to the millisecond, epoch seconds UTC) is unique across every process
        sharing the storage. True when this call recorded it, False when the slot was recorded
        before (by this or another process)."""
        ...

    async def last_fire(self, *, workflow_id: str, node_id: str) -> float | None:
        """The latest slot recorded for the trigger ``node_id`` of ``workflow_id`` (epoch
        seconds UTC, to the millisecond), None when none is: where its schedule resumes."""
        ...

    async def save_delivery(self, delivery: dict[str, Any]) -> None:
        """Insert (or replace, by ``id``) a webhook callback delivery::

        {"id", "executionId", "url", "body": str, "attempts": int,
         "nextAttemptAt": float (epoch s), "status": "pending"|"delivered"|"failed",
         "lastError": str | None}
        """
        ...

    async def pending_deliveries(self, *, now: float, limit: int = 100) -> list[dict[str, Any]]:
        """Deliveries with status ``pending`` and ``nextAttemptAt <= now``, earliest due first,
        at most ``limit``, as dictionaries of the shape :meth:`save_delivery` takes."""
        ...

    async def claim_delivery(self, delivery_id: str, *, due_at: float, until: float) -> bool:
        """Take a delivery for one attempt: set its ``nextAttemptAt`` to ``until`` if it is
        still pending and still due at ``due_at`` (the value the caller read), atomically.
        True for the one caller that got it; another engine that read the same delivery gets
        False. A claimant that dies leaves the delivery due again at ``until``."""
        ...

    async def update_delivery(self, delivery_id: str, **fields: Any) -> None:
        """Set the given fields (keys of the delivery dictionary other than ``id``, such as
        ``attempts``, ``nextAttemptAt``, ``status``, ``lastError``) of a delivery.
        ExecutionNotFoundError(``"delivery"``, id) when there is none; ValueError for an unknown
        field."""
        ...


@runtime_checkable
class StatusFeed(Protocol):
    """Optional: a storage that pushes cancels and resumes to the process running the execution.

    Without it (memory, SQLite) that process sees them when it next polls the stored status
    (``Engine(poll_interval=...)``); with it (PostgreSQL, through LISTEN/NOTIFY) at once. The
    engine polls in both cases: the feed only makes the news arrive sooner.
    """

    async def watch_status_changes(
        self,
        changed: Callable[[str], Awaitable[object]],
        *,
        connected: Callable[[], Awaitable[object]],
    ) -> None:
        """Run until cancelled, reporting status changes made by any process sharing the storage.

        Awaits ``changed(execution_id)`` after every committed change of an execution's status
        to ``cancelled`` or ``running`` (a cancel, a resume); it may report other changes too,
        and an id more than once. Awaits ``connected()`` each time it starts listening, the
        first time and after a reconnect: changes made while it was not listening are not
        reported, so the caller then looks at what it holds. Losing the connection is logged
        and retried, never raised. The callbacks must not raise.
        """
        ...
