"""The executor: one :class:`ExecutionRun` takes one execution from ``running`` to its end.

It owns the execution record and is its only writer. Each node run goes: record started →
input joined → config resolved → handler called (with retries and timeout) → record finished →
outputs routed by the walk. Events are built only when someone listens; progress is written to
storage only when it is durable (memory storage holds this very record).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import anyio

from .._exceptions import ExpressionError, LinkflowError, NodeError, NodeTimeoutError
from ..events import (
    Event,
    EventBroker,
    ExecutionCancelled,
    ExecutionCompleted,
    ExecutionFailed,
    ExecutionLogged,
    ExecutionStarted,
    NodeCompleted,
    NodeFailed,
    NodeSkipped,
    NodeStarted,
)
from ..expressions import Expression, Template, compile_expression
from ..graph import Connection, Node
from ..nodes import NodeContext
from ..nodes._context import ExecutionInfo
from ._plan import ExecutionPlan
from ._records import (
    Execution,
    ExecutionError,
    ExecutionStatus,
    LogEntry,
    NodeExecution,
    NodeStatus,
)
from ._retry import error_code
from ._scope import NodeOutputs, base_scope
from ._walk import Arrival, Walk, join_inputs

if TYPE_CHECKING:
    import httpx

    from ..storage.base import Lease, Storage

__all__ = ["ExecutionRun", "RunServices"]

Clock = Callable[[], float]


class RunServices:
    """What an engine lends every run: storage, events, environment, clock, HTTP."""

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
    ) -> None:
        self.storage = storage
        self.broker = broker
        self.env: Mapping[str, str] = os.environ if env is None else env
        self.variables: Mapping[str, Any] = variables or {}
        self.http_client = http_client
        self.sleep = sleep
        self.clock = clock


class ExecutionRun:
    """Runs one execution; implements the services a :class:`NodeContext` calls."""

    def __init__(
        self,
        services: RunServices,
        execution: Execution,
        plan: ExecutionPlan,
        *,
        starts: Sequence[tuple[str, Any]],
        reused: Sequence[NodeExecution] = (),
        lease: Lease | None = None,
    ) -> None:
        self.services = services
        self.execution = execution
        self.plan = plan
        self.workflow = plan.workflow
        self.lease = lease
        self._starts = list(starts)
        self._reused = list(reused)
        self.reused_by_name: dict[str, Any] = {}
        self.failure: ExecutionError | None = None
        self.stop_code: str | None = None
        self._cancel_scope: anyio.CancelScope | None = None
        self._deadline = float("inf")
        self._durable = services.storage.durable
        self._event_sequence = 0
        self.info = ExecutionInfo(
            id=execution.id,
            mode=execution.mode.value,
            workflow=plan.workflow,
            triggered_by=execution.triggered_by,
            input_data=execution.input_data,
        )
        self._scope_base = base_scope(self, services)
        self._static_data = dict(plan.workflow.settings.static_data)

    # -- the whole execution ---------------------------------------------------------------

    async def run(self) -> Execution:
        execution = self.execution
        self.publish(ExecutionStarted, {"status": "running", "mode": execution.mode.value})
        self.log(None, "info", "Execution started", {"mode": execution.mode.value})
        settled = self._record_reused()
        walk = Walk(self, scope=self.plan.main_nodes, starts=self._starts, settled=settled)
        timeout = self.workflow.settings.timeout
        with anyio.CancelScope() as scope:
            self._cancel_scope = scope
            self._deadline = anyio.current_time() + timeout
            scope.deadline = self._deadline
            await walk.run_to_end()
        timed_out = scope.cancelled_caught and self.stop_code is None
        self.execution.outputs = walk.leaf_outputs
        await self._finish(timed_out)
        return execution

    def cancel(self, code: str = "CANCELLED") -> None:
        """Stop the run: running nodes fail with ``code``, the others stay pending."""
        if self.stop_code is None:
            self.stop_code = code
        if self._cancel_scope is not None:
            self._cancel_scope.cancel()

    def _record_reused(self) -> dict[str, dict[str, Any]]:
        settled = {}
        for old in self._reused:
            record = self._new_record(self.plan.graph.nodes[old.node_id], None)
            record.status = NodeStatus.COMPLETED
            record.input, record.output = old.input, old.output
            record.started_at, record.finished_at = old.started_at, old.finished_at
            record.reused = True
            record.source_execution_id = old.source_execution_id
            record.port = old.port
            self.reused_by_name[record.node_name] = old.output
            settled[old.node_id] = {old.port or self.plan.default_port[old.node_id]: old.output}
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
        await self._transition(status, now)
        self._announce_end()

    async def _transition(self, status: ExecutionStatus, now: float) -> None:
        execution = self.execution
        if self._durable:
            for record in execution.node_executions:
                await self._persist(record)
        changed = await self.services.storage.transition_execution(
            execution.id,
            expected=(ExecutionStatus.RUNNING, ExecutionStatus.PAUSED),
            status=status,
            finished_at=now,
            cancelled_at=now if status is ExecutionStatus.CANCELLED else None,
            error=self.failure if status is ExecutionStatus.FAILED else None,
            outputs=execution.outputs,
        )
        if changed:
            execution.status = status
            execution.finished_at = now
            if status is ExecutionStatus.FAILED:
                execution.error = self.failure
        else:
            # Someone else ended it first (a cancel from another process): that status stands.
            stored = await self.services.storage.get_execution(execution.id)
            execution.status = stored.status
            execution.finished_at = stored.finished_at or now
            execution.cancelled_at = stored.cancelled_at

    def _announce_end(self) -> None:
        execution = self.execution
        status = execution.status
        if status is ExecutionStatus.COMPLETED:
            self.log(None, "info", "Execution completed", {"duration": execution.duration})
            self.publish(
                ExecutionCompleted,
                {
                    "status": "completed",
                    "outputs": execution.outputs,
                    "duration": execution.duration,
                },
            )
        elif status is ExecutionStatus.CANCELLED:
            self.log(None, "warning", "Execution cancelled", {})
            self.publish(
                ExecutionCancelled, {"status": "cancelled", "duration": execution.duration}
            )
        else:
            error = execution.error.to_dict() if execution.error else None
            message = execution.error.message if execution.error else "unknown error"
            self.log(None, "error", f"Execution failed: {message}", {})
            self.publish(
                ExecutionFailed,
                {"status": "failed", "error": error, "duration": execution.duration},
            )

    def _record_pending(self) -> None:
        recorded = {r.node_id for r in self.execution.node_executions}
        for node_id in self.plan.order:
            if node_id not in recorded:
                self._new_record(self.plan.graph.nodes[node_id], None)

    # -- one node --------------------------------------------------------------------------

    async def run_node(
        self, walk: Walk, node_id: str, arrivals: list[Arrival]
    ) -> dict[str, Any] | None:
        """Run one node; returns what it emitted by port (None when it emitted nothing)."""
        node = self.plan.graph.nodes[node_id]
        node_type = self.plan.types[node_id]
        record = walk.records[node_id] = self._new_record(node, walk.iteration)
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
        record.status = NodeStatus.RUNNING
        record.started_at = self.services.clock()
        await self._persist(record)
        self.publish(NodeStarted, {"nodeId": node.id, "nodeName": node.name})
        if node.pinned_data is not None and self.execution.mode.value == "manual":
            return await self._node_completed(
                walk, node, record, {self.plan.default_port[node_id]: node.pinned_data}
            )
        try:
            emitted = await self._attempts(walk, node, record, value, inputs)
        except anyio.get_cancelled_exc_class():
            with anyio.CancelScope(shield=True):
                await self._node_interrupted(node, record)
            raise
        except Exception as error:
            return await self._node_failed(walk, node, record, error)
        return await self._node_completed(walk, node, record, emitted)

    async def _attempts(
        self, walk: Walk, node: Node, record: NodeExecution, value: Any, inputs: dict[str, Any]
    ) -> dict[str, Any]:
        policy = self.plan.policies[node.id]
        compiled = self.plan.configs[node.id]
        if compiled.has_expressions:
            scope = self.scope_for(walk, node, value)
            try:
                config = compiled.resolve(scope, path="config")
            except ExpressionError as error:
                raise error.located(node_id=node.id) from None
        else:
            scope, config = None, node.config
        attempt = 0
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
            )
            try:
                return await self._call(node, ctx)
            except Exception as error:
                code = error_code(error)
                if not policy.should_retry(error, code, attempt):
                    raise
                wait = policy.wait_before(attempt, error)
                self.log(
                    node,
                    "warning",
                    f"Attempt {attempt} failed: {error}; retrying in {wait:.2f}s",
                    {"code": code},
                )
                await self.services.sleep(wait)

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
        emitted = ctx.emitted
        return emitted if emitted is not None else {self.plan.default_port[node.id]: result}

    @staticmethod
    async def _invoke(
        handler: Callable[[NodeContext], Any], is_async: bool, ctx: NodeContext
    ) -> Any:
        if is_async:
            return await handler(ctx)
        return await anyio.to_thread.run_sync(handler, ctx, abandon_on_cancel=True)

    def scope_for(self, frame: Any, node: Node, value: Any) -> Mapping[str, Any]:
        """The variables a node's expressions see (built only when a node has some)."""
        walk: Walk = frame
        scope = dict(self._scope_base)
        scope["$input"] = scope["$json"] = value
        scope["$nodeId"] = node.id
        scope["$node"] = NodeOutputs(walk.named)
        if walk.variables:
            scope.update(walk.variables)
        return scope

    async def _node_completed(
        self, walk: Walk, node: Node, record: NodeExecution, emitted: dict[str, Any]
    ) -> dict[str, Any]:
        port, output = next(iter(emitted.items())) if emitted else (None, None)
        record.status = NodeStatus.COMPLETED
        record.output = output
        record.port = port
        record.finished_at = self.services.clock()
        walk.named[node.name] = output
        await self._persist(record)
        self.publish(
            NodeCompleted,
            {
                "nodeId": node.id,
                "nodeName": node.name,
                "port": port,
                "output": output,
                "duration": record.duration,
            },
        )
        return emitted

    async def _node_failed(
        self, walk: Walk, node: Node, record: NodeExecution, error: BaseException
    ) -> dict[str, Any] | None:
        failure = _error_of(node, error)
        record.status = NodeStatus.FAILED
        record.error = failure
        record.finished_at = self.services.clock()
        self.log(
            node, "error", f"Node {node.name!r} failed: {failure.message}", {"code": failure.code}
        )
        await self._persist(record)
        self.publish(
            NodeFailed, {"nodeId": node.id, "nodeName": node.name, "error": failure.to_dict()}
        )
        on_error = node.on_error or self.workflow.settings.error_handling
        if on_error == "continue":
            record.output = {"error": failure.to_dict()}
            return {self.plan.default_port[node.id]: record.output}
        if on_error == "errorOutput":
            record.output = {"error": failure.to_dict()}
            return {"error": record.output}
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
        await self._persist(record)
        self.publish(
            NodeFailed, {"nodeId": node.id, "nodeName": node.name, "error": record.error.to_dict()}
        )

    # -- records, logs, events -------------------------------------------------------------

    def _new_record(self, node: Node, iteration: int | None) -> NodeExecution:
        runs = self.execution.node_executions
        record = NodeExecution(
            node_id=node.id, node_name=node.name, sequence=len(runs), iteration=iteration
        )
        runs.append(record)
        return record

    def record_skipped(self, node_id: str, iteration: int | None) -> None:
        node = self.plan.graph.nodes[node_id]
        record = self._new_record(node, iteration)
        record.status = NodeStatus.SKIPPED
        self.publish(NodeSkipped, {"nodeId": node.id, "nodeName": node.name})
        for (owner, _), body in self.plan.bodies.items():
            if owner == node_id:
                for inner in self.plan.order:
                    if inner in body.nodes and self.plan.owner_of.get(inner) is body:
                        self.record_skipped(inner, iteration)

    async def _persist(self, record: NodeExecution) -> None:
        if self._durable:
            fence = self.lease.fence if self.lease else None
            await self.services.storage.save_node_execution(self.execution.id, record, fence=fence)

    def publish(self, event_class: type[Event], payload: dict[str, Any]) -> None:
        self._event_sequence += 1
        broker = self.services.broker
        if broker.idle or not broker.has_subscribers(self.execution.id):
            return
        event = event_class(
            execution_id=self.execution.id,
            workflow_id=self.execution.workflow_id,
            sequence=self._event_sequence,
            timestamp=self.services.clock(),
            payload=payload,
        )
        broker.publish(event)

    # -- NodeServices ----------------------------------------------------------------------

    def log(self, node: Node | None, level: str, message: str, data: dict[str, Any]) -> None:
        entry = LogEntry(
            timestamp=self.services.clock(),
            level=level,
            message=message,
            node_id=node.id if node is not None else None,
            data=data or None,
        )
        self.execution.logs.append(entry)
        self.publish(ExecutionLogged, entry.to_dict())

    def http_client(self) -> httpx.AsyncClient:
        if self.services.http_client is None:
            raise NodeError("this engine has no HTTP client")
        return self.services.http_client()

    async def credentials(self, node: Node, credential_id: str) -> dict[str, Any]:
        from .._exceptions import CredentialError

        raise CredentialError(f"credential {credential_id!r} is not available: no credential store")

    async def sleep(self, seconds: float) -> None:
        await self.services.sleep(seconds)

    def evaluate(self, expression: str, scope: Mapping[str, Any]) -> Any:
        return compile_expression(expression).evaluate(scope)

    async def run_branch(
        self, frame: Any, node: Node, port: str, items: Sequence[Any], *, parallel: bool
    ) -> list[Any]:
        body = self.plan.bodies.get((node.id, port))
        if body is None:
            raise NodeError(f"port {port!r} of node {node.name!r} is not a branch port")
        results: list[Any] = [None] * len(items)
        parent: Walk = frame

        async def one(index: int) -> None:
            variables = {
                "$item": items[index],
                "$index": index,
                "$first": index == 0,
                "$last": index == len(items) - 1,
            }
            starts = [(conn.target, items[index]) for conn in body.entries]
            walk = Walk(
                self,
                scope=body.nodes,
                starts=starts,
                iteration=index,
                variables=variables,
                parent=parent,
            )
            await walk.run_to_end()
            results[index] = walk.result()

        if parallel:
            limiter = anyio.CapacityLimiter(max(1, self.workflow.settings.max_concurrency))
            async with anyio.create_task_group() as task_group:
                for index in range(len(items)):
                    task_group.start_soon(_limited, limiter, one, index)
        else:
            for index in range(len(items)):
                await one(index)
        return results

    def condition_holds(
        self, walk: Walk, conn: Connection, condition: Template | Expression, value: Any
    ) -> bool:
        scope = dict(self._scope_base)
        scope["$output"] = scope["$json"] = value
        scope["$node"] = NodeOutputs(walk.named)
        try:
            return _truthy(condition.evaluate(scope))
        except ExpressionError as error:
            # The source node's output cannot be routed: the execution fails on that node.
            node = self.plan.graph.nodes[conn.source]
            located = error.located(node_id=node.id, path=f"connections[{conn.target}].condition")
            failure = _error_of(node, located)
            self.log(node, "error", f"Connection condition failed: {located.message}", {})
            if self.failure is None:
                self.failure = failure
            self.cancel("CANCELLED")
            return False


async def _limited(limiter: anyio.CapacityLimiter, fn: Callable[[int], Any], index: int) -> None:
    async with limiter:
        await fn(index)


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
            details=payload.get("details"),
        )
    return ExecutionError(
        message=str(error) or type(error).__name__,
        code="NODE_ERROR",
        node_id=node.id,
        node_name=node.name,
        details={"type": type(error).__name__},
    )
