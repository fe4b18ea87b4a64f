"""The executor: one :class:`ExecutionRun` takes one execution from ``running`` to its end.

It owns the execution record and is its only writer (through its :class:`Recorder`). Each node
run goes: breakpoint checked → record started → input joined → config resolved → handler called
(with retries and timeout) → record finished → outputs routed by the walk. A run can also pick
up an execution where an earlier attempt stopped: the node runs that settled stay, the rest run
again.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import anyio
import attrs

from .._stored_values import plain
from ..events import (
    EventBroker,
    ExecutionCancelled,
    ExecutionCompleted,
    ExecutionFailed,
    ExecutionPaused,
    ExecutionResumed,
    ExecutionStarted,
)
from ..graph import Node
from ..nodes._context import ExecutionInfo
from ..outbound import OutboundPolicy
from ._callbacks import end_deliveries
from ._node_steps import NodeSteps
from ._plan import ExecutionPlan
from ._recorder import Recorder
from ._records import (
    Execution,
    ExecutionError,
    ExecutionStatus,
    NodeExecution,
    NodeStatus,
)
from ._scope import base_scope
from ._slots import Slots
from ._walk import Walk

if TYPE_CHECKING:
    import httpx

    from ..credentials import CredentialStore
    from ..credentials._oauth2 import OAuth2Tokens
    from ..storage.base import Storage

__all__ = ["ExecutionRun", "RunServices"]

Clock = Callable[[], float]


class RunServices:
    """What an engine lends every run: storage, events, environment, clock, HTTP, credentials
    and the outbound policy."""

    def __init__(
        self,
        *,
        storage: Storage,
        broker: EventBroker,
        env: Mapping[str, str] | None = None,
        variables: Mapping[str, Any] | None = None,
        http_client: Callable[[], httpx.AsyncClient] | None = None,
        sleep: Callable[[float], Any] = anyio.sleep,
        clock: Clock = time.time,
        credentials: Callable[[], CredentialStore] | None = None,
        outbound: OutboundPolicy | None = None,
    ) -> None:
        self.storage = storage
        self.broker = broker
        # Nothing of the process environment is exposed unless the embedder passes it: a
        # workflow document must not be able to read the host's secrets by default.
        self.env: Mapping[str, str] = {} if env is None else env
        self.variables: Mapping[str, Any] = variables or {}
        self.http_client = http_client
        self.sleep = sleep
        self.clock = clock
        self._credentials = credentials
        self.outbound = outbound if outbound is not None else OutboundPolicy()
        self._oauth2: OAuth2Tokens | None = None

    # Credentials cost nothing until a node uses one: the store (and the cryptography it needs)
    # is made on first use.
    @property
    def credentials(self) -> CredentialStore | None:
        return None if self._credentials is None else self._credentials()

    @property
    def oauth2(self) -> OAuth2Tokens:
        """OAuth2 access tokens outlive a run: the engine's runs share them until they expire."""
        if self._oauth2 is None:
            from ..credentials._oauth2 import OAuth2Tokens

            self._oauth2 = OAuth2Tokens(self.clock)
        return self._oauth2


class ExecutionRun(NodeSteps):
    """Runs one execution (or the rest of it, after an interruption or a pause)."""

    def __init__(
        self,
        services: RunServices,
        execution: Execution,
        plan: ExecutionPlan,
        *,
        starts: Sequence[tuple[str, Any]],
        reused: Sequence[NodeExecution] = (),
        resumed: bool = False,
        event_sequence: int = 0,
    ) -> None:
        self.services = services
        self.execution = execution
        self.plan = plan
        self.workflow = plan.workflow
        self.recorder = Recorder(services, execution, event_sequence=event_sequence)
        self.log = self.recorder.log
        self.publish = self.recorder.publish
        self.publish_run = self.recorder.publish_run
        self._starts = list(starts)
        self._resumed = resumed
        self.prior_outputs: dict[str, Any] = {}
        """Outputs by node name of nodes that are not run again (reused or already done)."""
        self.failure: ExecutionError | None = None
        self.stop_code: str | None = None
        self._cancel_scope: anyio.CancelScope | None = None
        self._deadline = float("inf")
        self._pausing = 0
        """How many nodes are paused (see :meth:`_stop_the_clock`), since when."""
        self._paused_since = 0.0
        options = execution.options
        self.debug = bool(options.get("debug"))
        self._breakpoints = frozenset(options.get("breakpoints") or ())
        self._stepping = bool(options.get("step"))
        # Taken over after a resume() (stored running): go past the pause. Taken over while
        # still paused (a recovery): pause there again, whatever else would break there.
        paused_at = options.get("pausedAt") if resumed else None
        running = execution.status is ExecutionStatus.RUNNING
        self._resume_past: str | None = paused_at if running else None
        self._pause_again: str | None = None if running else paused_at
        self.paused = False
        self.pauses = 0
        """How many times this run has paused: a resume read from storage is for the pause it
        was read during (see the keeper)."""
        self._sleeps = {}
        self.deliveries: list[dict[str, Any]] = []
        """What the write of the run's end stored with it (see ``end_deliveries``)."""
        self._resume_signal: anyio.Event | None = None
        self.info = ExecutionInfo(
            id=execution.id,
            mode=execution.mode.value,
            workflow=plan.workflow,
            triggered_by=execution.triggered_by,
            input_data=execution.input_data,
        )
        self._scope_base = base_scope(self, services)
        self._static_data = dict(plan.workflow.settings.static_data)
        self.slots = Slots(max(1, plan.workflow.settings.max_concurrency))
        self.as_stored = plain if services.storage.durable else _as_is
        self._reused_outputs = self._record_reused(reused)
        """What the reused runs emitted, by node and port; the runs are in the record from
        here on, so that storage creates the execution with them."""

    def __repr__(self) -> str:
        return f"ExecutionRun({self.execution.id!r}, status={self.execution.status.value!r})"

    # -- the whole execution ---------------------------------------------------------------

    async def run(self) -> Execution:
        execution = self.execution
        if self._resumed:
            if self.stop_code is None:  # (taken over cancelled, it only writes its end)
                self.log(None, "info", "Execution resumed from its stored progress", {})
            if self._resume_past is not None:  # resume() of a pause this engine did not hold
                self.publish(ExecutionResumed, {"status": "running", "nodeId": self._resume_past})
        else:
            self.publish(ExecutionStarted, {"status": "running", "mode": execution.mode.value})
            self.log(None, "info", "Execution started", {"mode": execution.mode.value})
        if self.stop_code is not None:  # cancelled before it got going: no node starts
            return await self._end_unstarted()
        settled = {**self._reused_outputs, **self._settled_from_prior()}
        walk = Walk(self, scope=self.plan.main_nodes, starts=self._starts, settled=settled)
        with anyio.CancelScope() as scope:
            self._cancel_scope = scope
            self._deadline = anyio.current_time() + self.workflow.settings.timeout
            scope.deadline = self._deadline
            await walk.run_to_end()
        if self.recorder.abandoned:
            return execution
        timed_out = scope.cancelled_caught and self.stop_code is None
        execution.outputs = self.recorder.redact(walk.leaf_outputs)
        await self._finish(timed_out)
        return execution

    def cancel(self, code: str = "CANCELLED") -> None:
        """Stop the run: running nodes fail with ``code``, the others stay pending."""
        if self.stop_code is None:
            self.stop_code = code
        if self._cancel_scope is not None:
            self._cancel_scope.cancel()

    def abandon(self) -> None:
        """Another process owns this execution now: stop at once and write nothing more."""
        self.recorder.abandoned = True
        self.cancel("CANCELLED")

    async def _end_unstarted(self) -> Execution:
        """The end of a run cancelled before it started any node (a run taken over to write
        the end of an execution cancelled while nobody ran it): what is stored stays as it
        is, loop iterations included, but for the runs a dead run left ``running``, which
        are pending, as if never run; the nodes never reached are pending too."""
        if not self.recorder.abandoned:
            self.recorder.reset_running()
            await self._finish(timed_out=False)
        return self.execution

    def _record_reused(self, reused: Sequence[NodeExecution]) -> dict[str, dict[str, Any]]:
        """Node runs taken from another execution (retry, partial run): settled, not run."""
        settled = {}
        for old in reused:
            record = self.recorder.new_record(self.plan.graph.nodes[old.node_id], None)
            record.status = old.status if old.status is NodeStatus.FAILED else NodeStatus.COMPLETED
            record.input, record.output, record.port = old.input, old.output, old.port
            record.started_at, record.finished_at = old.started_at, old.finished_at
            record.error = old.error
            record.reused = True
            record.source_execution_id = old.source_execution_id
            self.prior_outputs[record.node_name] = old.output
            settled[old.node_id] = {old.port or self.plan.default_port[old.node_id]: old.output}
        return settled

    def _settled_from_prior(self) -> dict[str, dict[str, Any]]:
        """When resuming: the node runs that already settled stay; the others run again."""
        if not self._resumed:
            return {}
        settled, again = {}, []
        for record in self.execution.node_executions:
            done = record.status is NodeStatus.COMPLETED or (
                record.status is NodeStatus.FAILED and record.port is not None
            )
            if done and record.iteration is None and record.node_id in self.plan.main_nodes:
                port = record.port or self.plan.default_port[record.node_id]
                settled[record.node_id] = {port: record.output}
                self.prior_outputs[record.node_name] = record.output
            else:
                again.append(record)
        self.recorder.recycle(again)
        return settled

    async def _finish(self, timed_out: bool) -> None:
        now = self.services.clock()
        self._record_pending()
        if timed_out and self.failure is None:
            limit = self.workflow.settings.timeout
            self.failure = ExecutionError(
                message=f"execution exceeded its timeout of {limit:g}s", code="TIMEOUT"
            )
        if self.stop_code == "CANCELLED" and self.failure is None:
            status = ExecutionStatus.CANCELLED
        else:
            status = ExecutionStatus.FAILED if self.failure else ExecutionStatus.COMPLETED
        if self.recorder.abandoned:  # another process runs it now: its end is theirs to write
            return
        # The end is stored with what is left to save (the last node's run), its log line and
        # event (held until then) in one write, and the lease goes with it: one commit where a
        # save, a transition, another save and a release were.
        execution = self.execution
        error = self.failure if status is ExecutionStatus.FAILED else None
        cancelled_at = now if status is ExecutionStatus.CANCELLED else None
        ended = attrs.evolve(
            execution,
            status=status,
            finished_at=now,
            cancelled_at=cancelled_at or execution.cancelled_at,
            error=error or execution.error,
        )
        self.recorder.hold()
        self._announce_end(ended)
        finished = await self.recorder.finish(
            expected=(ExecutionStatus.RUNNING, ExecutionStatus.PAUSED),
            status=status,
            finished_at=now,
            cancelled_at=cancelled_at,
            error=error,
            outputs=execution.outputs,
            deliveries=(deliveries := end_deliveries(ended, now)),
        )
        if finished:
            self.deliveries = deliveries
            execution.status, execution.finished_at = status, now
            if error is not None:
                execution.error = error
            if status is ExecutionStatus.CANCELLED:
                execution.cancelled_at = now
        elif not self.recorder.abandoned:
            # Someone else ended it first (a cancel from another process): that status stands.
            stored = await self.services.storage.get_execution(execution.id)
            execution.status = stored.status
            execution.finished_at = stored.finished_at or now
            execution.cancelled_at = stored.cancelled_at
            execution.error = stored.error
            self.recorder.hold()
            self._announce_end(execution)
            await self.recorder.save_held()

    def _announce_end(self, execution: Execution) -> None:
        """The end's log line and event, as ``execution`` (the run's record, or how it is
        about to be stored) says it ended."""
        status = execution.status
        payload: dict[str, Any] = {"status": status.value, "duration": execution.duration}
        if status is ExecutionStatus.COMPLETED:
            self.log(None, "info", "Execution completed", {"duration": execution.duration})
            self.publish(ExecutionCompleted, {**payload, "outputs": execution.outputs})
        elif status is ExecutionStatus.CANCELLED:
            self.log(None, "warning", "Execution cancelled", {})
            self.publish(ExecutionCancelled, payload)
        else:
            error = execution.error.to_dict() if execution.error else None
            message = execution.error.message if execution.error else "unknown error"
            self.log(None, "error", f"Execution failed: {message}", {})
            self.publish(ExecutionFailed, {**payload, "error": error})

    def _record_pending(self) -> None:
        self.recorder.reset_unreached()
        recorded = {r.node_id for r in self.execution.node_executions}
        for node_id in self.plan.order:
            if node_id not in recorded:
                self.recorder.new_record(self.plan.graph.nodes[node_id], None)

    # -- debug mode ------------------------------------------------------------------------

    def _breaks_at(self, node: Node) -> bool:
        if node.id == self._resume_past:
            self._resume_past = None
            return False
        if node.id == self._pause_again:
            self._pause_again = None
            return True
        return self._stepping or node.breakpoint or node.id in self._breakpoints

    async def _pause(self, node: Node) -> None:
        """Pause before ``node`` until :meth:`resumed` (durably: the status is ``paused``)."""
        storage = self.services.storage
        execution = self.execution
        # Where it pauses is stored first: whoever sees "paused" can read where.
        execution.options["pausedAt"] = node.id
        await storage.save_execution_options(execution.id, execution.options)
        if execution.status is not ExecutionStatus.PAUSED:
            paused = await storage.transition_execution(
                execution.id, expected=(ExecutionStatus.RUNNING,), status=ExecutionStatus.PAUSED
            )
            # Refused: cancelled meanwhile (the cancel reaches us at the next checkpoint), or
            # paused already by a node of this run that is pausing beside this one.
            if not paused and await storage.get_status(execution.id) is not ExecutionStatus.PAUSED:
                self.cancel("CANCELLED")
                await anyio.lowlevel.checkpoint()
                return
            execution.status = ExecutionStatus.PAUSED
        self.publish(
            ExecutionPaused, {"status": "paused", "nodeId": node.id, "nodeName": node.name}
        )
        self.log(node, "info", f"Execution paused before node {node.name!r}", {})
        await self.recorder.save()
        # Nodes ready together (parallel branches) pause together and one resume releases all.
        if self._resume_signal is None or self._resume_signal.is_set():
            self._resume_signal = anyio.Event()
            self.pauses += 1
        signal = self._resume_signal
        self.paused = True
        self._stop_the_clock()
        try:
            await signal.wait()
        finally:
            self._restart_the_clock()
        self.paused = False
        execution.status = ExecutionStatus.RUNNING
        self.publish(ExecutionResumed, {"status": "running", "nodeId": node.id})
        self.log(node, "info", "Execution resumed", {"step": self._stepping})

    def _stop_the_clock(self) -> None:
        """Time spent paused does not count against the execution's timeout: its deadline is
        lifted while any node is paused, and moved on by that time when the last one goes on
        (nodes pause side by side, and one may pause again before another has gone on)."""
        self._pausing += 1
        if self._pausing == 1:
            self._paused_since = anyio.current_time()
            if self._cancel_scope is not None:
                self._cancel_scope.deadline = float("inf")

    def _restart_the_clock(self) -> None:
        self._pausing -= 1
        if self._pausing:
            return
        self._deadline += anyio.current_time() - self._paused_since
        if self._cancel_scope is not None:
            self._cancel_scope.deadline = self._deadline

    def resumed(self, *, step: bool) -> None:
        """The stored status went from paused to running: go on (one node only with ``step``)."""
        self._stepping = step
        # As stored by resume(): the options the next pause stores must keep it.
        self.execution.options["step"] = step
        if self._pause_again is not None and not self.paused:
            # Taken over while paused, and not back at the pause yet: this resume is for it.
            node_id, self._pause_again = self._pause_again, None
            self._resume_past = node_id
            self.execution.status = ExecutionStatus.RUNNING
            self.publish(ExecutionResumed, {"status": "running", "nodeId": node_id})
        elif self._resume_signal is not None:
            self._resume_signal.set()


def _as_is(value: Any) -> Any:
    return value
