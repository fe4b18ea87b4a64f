"""How one node runs: breakpoint, record, input, config, attempts, outcome; and the services a
:class:`~linkflow_engine.NodeContext` calls. :class:`ExecutionRun` builds on this."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import anyio

from .._exceptions import (
    CredentialError,
    ExpressionError,
    LeaseLostError,
    LinkflowError,
    NodeError,
    NodeTimeoutError,
)
from .._stored_values import plain
from ..events import Event, NodeCompleted, NodeFailed, NodeSkipped, NodeStarted
from ..expressions import Expression, Template, compile_expression
from ..graph import Connection, Node
from ..nodes import NodeContext
from ._branches import run_body
from ._recorder import Payload
from ._records import ExecutionError, NodeExecution, NodeStatus
from ._retry import error_code
from ._scope import condition_scope, node_scope
from ._walk import Arrival, Walk, join_inputs

if TYPE_CHECKING:
    import httpx

    from ..credentials import Credential
    from ..graph import Workflow
    from ..nodes._context import ExecutionInfo
    from ..outbound import OutboundPolicy
    from ._executor import RunServices
    from ._plan import ExecutionPlan
    from ._recorder import Recorder
    from ._records import Execution
    from ._slots import Slots

__all__ = ["NodeSteps"]


logger = logging.getLogger("linkflow_engine.runtime")

DURABLE_SLEEP = 1.0
"""Seconds: a node's ``ctx.sleep`` this long or longer is durable (its deadline is stored)."""


class NodeSteps:
    """The node-level half of an execution run (the state lives in :class:`ExecutionRun`)."""

    services: RunServices
    execution: Execution
    plan: ExecutionPlan
    workflow: Workflow
    recorder: Recorder
    info: ExecutionInfo
    debug: bool
    prior_outputs: dict[str, Any]
    failure: ExecutionError | None
    stop_code: str | None
    _deadline: float
    _static_data: dict[str, Any]
    slots: Slots
    """``settings.maxConcurrency``: shared by every walk of the run."""
    as_stored: Callable[[Any], Any]
    """:func:`~linkflow_engine._stored_values.plain` on durable storage, else the identity."""
    _scope_base: dict[str, Any]
    _sleeps: dict[int, int]
    """How many durable sleeps each node run (by sequence) began in this run."""
    abandon: Callable[[], None]
    """Another process owns the execution now: stop at once, write nothing more."""

    # The recorder's own bound methods (set by ExecutionRun): no extra call on the hot path.
    log: Callable[[Node | None, str, str, dict[str, Any]], None]
    publish: Callable[[type[Event], Payload], None]
    publish_run: Callable[[type[Event], NodeExecution, float], None]

    def cancel(self, code: str = "CANCELLED") -> None:
        raise NotImplementedError

    def _breaks_at(self, node: Node) -> bool:
        raise NotImplementedError

    async def _pause(self, node: Node) -> None:
        raise NotImplementedError

    async def run_node(
        self, walk: Walk, node_id: str, arrivals: list[Arrival]
    ) -> dict[str, Any] | None:
        """Run one node; returns what it emitted by port (None when it emitted nothing)."""
        self.recorder.check_intact()  # a write failed beside it: no node starts after that
        node = self.plan.graph.nodes[node_id]
        node_type = self.plan.types[node_id]
        if self.debug and self._breaks_at(node):
            await self._pause(node)
        record = walk.records[node_id] = self.recorder.new_record(node, walk.iteration)
        try:
            value, inputs = join_inputs(
                node.name,
                node_type.accepts_many_inputs,
                arrivals,
                self.plan.input_position,
                self.plan.names,
            )
        except NodeError as error:
            record.started_at = self.services.clock()
            return await self._node_failed(walk, node, record, error)
        record.input = value
        if node.disabled:
            record.status = NodeStatus.SKIPPED
            self.publish(NodeSkipped, {"nodeId": node.id, "nodeName": node.name, "disabled": True})
            return {self.plan.default_port[node_id]: value}
        if node_type.branch_ports:  # it waits for its body, whose nodes take the slots
            return await self._run_started(walk, node, record, value, inputs)
        # The slot first: a node waiting for one is still pending (not running, not timed).
        slots = self.slots
        if not slots.take_now():
            await slots.take()
        try:
            return await self._run_started(walk, node, record, value, inputs)
        finally:
            slots.release()

    async def _run_started(
        self, walk: Walk, node: Node, record: NodeExecution, value: Any, inputs: dict[str, Any]
    ) -> dict[str, Any] | None:
        record.status = NodeStatus.RUNNING
        record.started_at = started = self.services.clock()
        self.publish_run(NodeStarted, record, started)
        if node.pinned_data is not None and self.execution.mode.value == "manual":
            return await self._node_completed(
                walk, node, record, {self.plan.default_port[node.id]: node.pinned_data}
            )
        try:
            emitted = await self._attempts(walk, node, record, value, inputs)
        except anyio.get_cancelled_exc_class():
            with anyio.CancelScope(shield=True):
                await self._node_interrupted(node, record)
            raise
        except LeaseLostError:  # another process runs the execution now: not the node's failure
            raise
        except Exception as error:
            # A progress write failed under it (a loop body's, say, which reaches it grouped):
            # not the node's failure, but the run's end (see Recorder.broken).
            self.recorder.check_intact()
            return await self._node_failed(walk, node, record, error)
        return await self._node_completed(walk, node, record, emitted)

    async def _attempts(
        self, walk: Walk, node: Node, record: NodeExecution, value: Any, inputs: dict[str, Any]
    ) -> dict[str, Any]:
        policy = self.plan.policies[node.id]
        compiled = self.plan.configs[node.id]
        credential_id = node.config.get("credential")
        if compiled.has_expressions or credential_id is not None:
            scope = self.scope_for(walk, node, value)
            if credential_id is not None:  # $credentials: this node's own credential only
                scope["$credentials"] = await self.credentials(node, credential_id)
            try:  # without expressions, resolve() returns the config as it is
                config = compiled.resolve(scope, path="config")
            except ExpressionError as error:
                raise error.located(node_id=node.id) from None
        else:
            scope, config = None, node.config
        attempt = 0
        if record.attempts:  # a run taken up after its process stopped
            attempt = await self._resumed_attempts(node, record)
        while True:
            attempt += 1
            record.attempts = attempt
            ctx = NodeContext(
                node=node,
                input=value,
                inputs=inputs,
                config=config,
                execution=self.info,
                static_data=self._static_data,
                services=self,
                scope=scope,
                frame=walk,
                run=record,
            )
            try:
                return await self._call(node, ctx)
            except Exception as error:
                self.recorder.check_intact()  # a failed write under it is no attempt's failure
                code = error_code(error)
                if not policy.should_retry(error, code, attempt):
                    raise
                failed, wait = error, policy.wait_before(attempt, error)
                self.log(
                    node,
                    "warning",
                    f"Attempt {attempt} failed: {error}; retrying in {wait:.2f}s",
                    {"code": code},
                )
            await self._retry_after(node, record, failed, wait)

    async def _resumed_attempts(self, node: Node, record: NodeExecution) -> int:
        """The attempts a run taken up after its process stopped already made: when it was
        waiting to retry (its last attempt's error stored), the wait ends when it was due and
        the next attempt follows; when it was making an attempt, that attempt runs again."""
        made = record.attempts
        if record.error is not None:
            due = record.timers[0] if record.timers else 0.0
            # Kept until the wait is over: a write meanwhile (another node's) stores it as is.
            await self._wait_to_retry(node, max(0.0, due - self.services.clock()))
            record.error, record.timers = None, None
            return made
        return max(0, made - 1)

    async def _retry_after(
        self, node: Node, record: NodeExecution, error: Exception, seconds: float
    ) -> None:
        """Wait ``seconds`` before the run's next attempt, whose sleeps start afresh. Durable
        like a sleep (see :meth:`_timer`): the wait is stored first, with the run, as the
        attempts made, the last one's error and when the next is due."""
        self._sleeps.pop(record.sequence, None)
        record.timers = None
        if seconds >= DURABLE_SLEEP and self.recorder.saves_steps:
            record.error = self.recorder.redact(_error_of(node, error))
            record.timers = [self.services.clock() + seconds]
            await self._save_wait(record)
        await self._wait_to_retry(node, seconds)
        record.error, record.timers = None, None

    async def _save_wait(self, run: NodeExecution) -> None:
        """Store the run with the deadline of the wait it begins (a sleep, a retry's)."""
        try:
            await self.recorder.save_runs(run)
        except LeaseLostError:  # another process runs the execution now
            self.abandon()
            raise
        except Exception:  # not the node's failure: the run's next write meets it, or succeeds
            logger.warning("a wait of %s is not durable: not stored", run.node_id, exc_info=True)

    async def _wait_to_retry(self, node: Node, seconds: float) -> None:
        """Wait before the next attempt without the node's slot: other nodes run meanwhile."""
        if self.plan.types[node.id].branch_ports:  # holds no slot (see run_node)
            await self.services.sleep(seconds)
            return
        self.slots.release()
        try:
            await self.services.sleep(seconds)
        finally:
            # Taken back even when cancelled: run_node gives the slot back when it ends.
            if not self.slots.take_now():
                with anyio.CancelScope(shield=True):
                    await self.slots.take()

    async def _call(self, node: Node, ctx: NodeContext) -> dict[str, Any]:
        node_type = self.plan.types[node.id]
        if node.timeout is None:
            result = await self._invoke(node_type.handler, node_type.is_async, ctx)
        else:
            with anyio.move_on_after(node.timeout / 1000) as scope:
                result = await self._invoke(node_type.handler, node_type.is_async, ctx)
            if scope.cancelled_caught:
                raise NodeTimeoutError(
                    f"node {node.name!r} timed out after {node.timeout} ms",
                    details={"timeout": node.timeout},
                )
        # On durable storage, what it emitted as storage reads it back: the nodes after it see
        # what they would see in a run recovered from storage. (Memory storage recovers
        # nothing, and the check costs about what writing the output costs.)
        emitted, as_stored = ctx.emitted, self.as_stored
        if emitted is None:
            return {self.plan.default_port[node.id]: as_stored(result)}
        return {port: as_stored(value) for port, value in emitted.items()}

    @staticmethod
    async def _invoke(
        handler: Callable[[NodeContext], Any], is_async: bool, ctx: NodeContext
    ) -> Any:
        if is_async:
            return await handler(ctx)
        return await anyio.to_thread.run_sync(handler, ctx, abandon_on_cancel=True)

    def scope_for(self, frame: Any, node: Node, value: Any) -> dict[str, Any]:
        """The variables a node's expressions see (built only when a node has some)."""
        walk: Walk = frame
        return node_scope(self._scope_base, walk.named, walk.variables, node.id, value)

    async def _node_completed(
        self, walk: Walk, node: Node, record: NodeExecution, emitted: dict[str, Any]
    ) -> dict[str, Any]:
        port, output = next(iter(emitted.items())) if emitted else (None, None)
        record.status = NodeStatus.COMPLETED
        record.output = output
        record.port = port
        record.finished_at = finished = self.services.clock()
        walk.named[node.name] = output
        # The event first, so the node's progress write stores it with the node run.
        self.publish_run(NodeCompleted, record, finished)
        await self.recorder.node_settled(record, last=walk.ends_with_this_node())
        return emitted

    async def _node_failed(
        self, walk: Walk, node: Node, record: NodeExecution, error: BaseException
    ) -> dict[str, Any] | None:
        failure = self.recorder.redact(_error_of(node, error))
        record.status = NodeStatus.FAILED
        record.error = failure
        record.finished_at = self.services.clock()
        self.log(
            node, "error", f"Node {node.name!r} failed: {failure.message}", {"code": failure.code}
        )
        on_error = node.on_error or self.workflow.settings.error_handling
        if on_error in ("continue", "errorOutput"):
            record.output = {"error": failure.to_dict()}
            record.port = "error" if on_error == "errorOutput" else self.plan.default_port[node.id]
        self.publish(
            NodeFailed, {"nodeId": node.id, "nodeName": node.name, "error": failure.to_dict()}
        )
        await self.recorder.node_settled(record, last=walk.ends_with_this_node())
        if record.port is not None:
            walk.named[node.name] = record.output
            return {record.port: record.output}
        if self.failure is None:
            self.failure = failure
        self.cancel("CANCELLED")
        return None

    async def _node_interrupted(self, node: Node, record: NodeExecution) -> None:
        code = self.stop_code
        if code is None:
            code = "TIMEOUT" if anyio.current_time() >= self._deadline else "CANCELLED"
        reason = "the execution timed out" if code == "TIMEOUT" else "the execution was stopped"
        record.status = NodeStatus.FAILED
        record.error = ExecutionError(
            message=f"interrupted: {reason}", code=code, node_id=node.id, node_name=node.name
        )
        record.finished_at = self.services.clock()
        self.publish(
            NodeFailed, {"nodeId": node.id, "nodeName": node.name, "error": record.error.to_dict()}
        )
        if self.recorder.broken is None:  # else the run stops on that error, written nothing
            await self.recorder.node_settled(record)

    def record_skipped(self, node_id: str, iteration: int | None) -> None:
        node = self.plan.graph.nodes[node_id]
        record = self.recorder.new_record(node, iteration)
        record.status = NodeStatus.SKIPPED
        self.publish(NodeSkipped, {"nodeId": node.id, "nodeName": node.name})
        for (owner, _), body in self.plan.bodies.items():
            if owner == node_id:
                for inner in self.plan.order:
                    if inner in body.nodes and self.plan.owner_of.get(inner) is body:
                        self.record_skipped(inner, iteration)

    # -- NodeServices ----------------------------------------------------------------------

    def http_client(self) -> httpx.AsyncClient:
        if self.services.http_client is None:
            raise NodeError("this engine has no HTTP client")
        return self.services.http_client()

    def outbound_policy(self) -> OutboundPolicy:
        return self.services.outbound

    async def credentials(self, node: Node, credential_id: str) -> dict[str, Any]:
        return dict((await self.credential(node, credential_id)).data or {})

    async def credential(
        self,
        node: Node,
        credential_id: str | None = None,
        types: Sequence[str] | None = None,
        *,
        refresh: bool = False,
    ) -> Credential:
        from ._credentials import load_credential  # credentials load on first use only

        credential = await load_credential(self, node, credential_id, refresh=refresh)
        if types is not None and credential.type not in types:
            raise CredentialError(
                f"node {node.name!r} cannot use credential {credential.id!r} of type"
                f" {credential.type!r}: it needs one of {', '.join(types)}",
                details={"credentialId": credential.id, "type": credential.type},
            )
        return credential

    async def sleep(self, seconds: float, run: NodeExecution | None = None) -> None:
        """A node's ``ctx.sleep``: durable when the node ``run`` is saved step by step and the
        sleep lasts :data:`DURABLE_SLEEP` or more (see :meth:`_timer`)."""
        if run is not None and seconds >= DURABLE_SLEEP and self.recorder.saves_steps:
            seconds = await self._timer(run, seconds)
        await self.services.sleep(seconds)

    async def _timer(self, run: NodeExecution, seconds: float) -> float:
        """How long the run's next durable sleep lasts: until the deadline an earlier attempt
        of this execution stored for it (a run taken up after a crash), else ``seconds``,
        whose deadline is stored first, with the run, before the sleep begins."""
        ordinal = self._sleeps.get(run.sequence, 0)
        self._sleeps[run.sequence] = ordinal + 1
        now = self.services.clock()
        timers = run.timers or []
        if ordinal < len(timers):
            return max(0.0, min(seconds, timers[ordinal] - now))
        run.timers = [*timers, now + seconds]
        await self._save_wait(run)
        return seconds

    def evaluate(self, expression: str, scope: Mapping[str, Any]) -> Any:
        return compile_expression(expression).evaluate(scope)

    async def run_branch(
        self, frame: Any, node: Node, port: str, items: Sequence[Any], *, parallel: bool
    ) -> list[Any]:
        body = self.plan.bodies.get((node.id, port))
        if body is None:
            raise NodeError(f"port {port!r} of node {node.name!r} is not a branch port")
        return await run_body(self, frame, body, items, parallel=parallel)

    def condition_holds(
        self, walk: Walk, conn: Connection, condition: Template | Expression, value: Any
    ) -> bool:
        scope = condition_scope(self._scope_base, walk.named, value)
        try:
            return _truthy(condition.evaluate(scope))
        except ExpressionError as error:
            # The source node's output cannot be routed: the execution fails on that node.
            node = self.plan.graph.nodes[conn.source]
            index = self.plan.connection_index[id(conn)]
            located = error.located(node_id=node.id, path=f"connections[{index}].condition")
            failure = _error_of(node, located)
            self.log(node, "error", f"Connection condition failed: {located.message}", {})
            if self.failure is None:
                self.failure = failure
            self.cancel("CANCELLED")
            return False


def _truthy(value: Any) -> bool:
    if isinstance(value, float) and value != value:  # NaN is falsy, as in JavaScript
        return False
    return bool(value) if not isinstance(value, (dict, list)) else True


def _error_of(node: Node, error: BaseException) -> ExecutionError:
    if isinstance(error, LinkflowError):
        payload = error.to_dict()
        return ExecutionError(
            message=error.message,
            code=error.code,
            node_id=node.id,
            node_name=node.name,
            details=plain(payload.get("details")),
        )
    return ExecutionError(
        message=str(error) or type(error).__name__,
        code="NODE_ERROR",
        node_id=node.id,
        node_name=node.name,
        details={"type": type(error).__name__},
    )
