"""Failures: error objects and codes, retries, onError, timeouts, cancel, final statuses."""

from __future__ import annotations

import threading
import time
from typing import Any

import anyio
import pytest

from builders import chain, conn, node, workflow
from linkflow_engine import (
    Engine,
    ExecutionConflictError,
    ExecutionStatus,
    NodeContext,
    NodeError,
    NodeRegistry,
    NodeStatus,
    RateLimitedError,
    run_workflow,
)
from linkflow_engine.storage.base import ExecutionQuery
from linkflow_engine.storage.memory import MemoryStorage


def registry_with(**handlers: Any) -> NodeRegistry:
    registry = NodeRegistry()
    for name, handler in handlers.items():
        registry.register(name, handler)
    return registry


class Flaky:
    """Fails the first ``failures`` calls, then returns its input."""

    def __init__(self, failures: int, error: Exception | None = None) -> None:
        self.failures = failures
        self.calls = 0
        self.error = error or NodeError("not yet")

    async def __call__(self, ctx: NodeContext) -> Any:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return {"calls": self.calls}


def test_node_error_becomes_the_execution_error_with_its_code_and_details() -> None:
    """A NodeError's code and details reach the execution's error object."""

    async def fail(ctx: NodeContext) -> Any:
        raise NodeError(
            "HTTP request failed: 404 Not Found", code="HTTP_ERROR", details={"statusCode": 404}
        )

    execution = run_workflow(
        chain(node("fetch", "fail", name="Fetch Data")), registry=registry_with(fail=fail)
    )
    assert execution.status is ExecutionStatus.FAILED
    assert execution.to_dict()["error"] == {
        "message": "HTTP request failed: 404 Not Found",
        "nodeId": "fetch",
        "nodeName": "Fetch Data",
        "code": "HTTP_ERROR",
        "details": {"statusCode": 404},
    }
    assert execution.node("fetch").status is NodeStatus.FAILED


def test_any_other_exception_is_node_error_with_its_type() -> None:
    """A plain exception becomes NODE_ERROR with the exception type in details."""

    async def boom(ctx: NodeContext) -> Any:
        raise ValueError("bad value")

    execution = run_workflow(chain(node("b", "boom")), registry=registry_with(boom=boom))
    assert execution.error is not None
    assert execution.error.code == "NODE_ERROR"
    assert execution.error.details == {"type": "ValueError"}
    assert execution.error.message == "bad value"


def test_stop_and_error_fails_with_its_message() -> None:
    """stop_and_error fails the execution with its message."""
    execution = run_workflow(chain(node("s", "stop_and_error", config={"message": "nope"})))
    assert execution.status is ExecutionStatus.FAILED
    assert execution.error is not None and execution.error.message == "nope"


def test_expression_error_names_node_and_path() -> None:
    """A failing config expression is EXPRESSION_ERROR naming the node and config path."""
    doc = chain(node("bad", "set", config={"values": {"x": "{{ $input.a.b.c }}"}}))
    execution = run_workflow(doc, {})
    assert execution.error is not None
    assert execution.error.code == "EXPRESSION_ERROR"
    assert execution.error.node_id == "bad"
    assert "config.values.x" in execution.error.message


def test_retry_on_fail_retries_and_records_attempts() -> None:
    """retryOnFail runs up to maxRetries more attempts; the record counts them."""
    flaky = Flaky(failures=2)
    doc = chain(node("f", "flaky", retryOnFail=True, maxRetries=3, retryDelay=1))
    execution = run_workflow(doc, registry=registry_with(flaky=flaky))
    assert execution.status is ExecutionStatus.COMPLETED
    assert flaky.calls == 3
    assert execution.node("f").attempts == 3
    assert sum("Attempt" in entry.message for entry in execution.logs) == 2


def test_retries_run_out_then_the_node_fails() -> None:
    """After maxRetries more attempts the node fails."""
    flaky = Flaky(failures=10)
    doc = chain(node("f", "flaky", retryOnFail=True, maxRetries=2, retryDelay=1))
    execution = run_workflow(doc, registry=registry_with(flaky=flaky))
    assert execution.status is ExecutionStatus.FAILED
    assert flaky.calls == 3


def test_settings_error_handling_retry_applies_to_every_node() -> None:
    """settings.errorHandling == "retry" retries nodes without retryOnFail."""
    flaky = Flaky(failures=1)
    doc = chain(node("f", "flaky", maxRetries=1, retryDelay=1), settings={"errorHandling": "retry"})
    assert (
        run_workflow(doc, registry=registry_with(flaky=flaky)).status is ExecutionStatus.COMPLETED
    )


def test_credential_errors_are_not_retried() -> None:
    """CREDENTIAL_ERROR (like EXPRESSION_ERROR) is never retried."""
    from linkflow_engine import CredentialError

    flaky = Flaky(failures=5, error=CredentialError("no key"))
    doc = chain(node("f", "flaky", retryOnFail=True, maxRetries=3, retryDelay=1))
    run_workflow(doc, registry=registry_with(flaky=flaky))
    assert flaky.calls == 1


def test_rate_limited_waits_for_retry_after() -> None:
    """A RATE_LIMITED failure waits for its retry_after before the next attempt."""
    flaky = Flaky(failures=1, error=RateLimitedError("slow down", retry_after=0.2))
    doc = chain(node("f", "flaky", retryOnFail=True, maxRetries=1, retryDelay=1))
    started = time.monotonic()
    execution = run_workflow(doc, registry=registry_with(flaky=flaky))
    assert execution.status is ExecutionStatus.COMPLETED
    assert time.monotonic() - started >= 0.2


def test_on_error_continue_emits_the_error_and_goes_on() -> None:
    """onError continue: the node is failed, its output {error} flows on, the run completes."""

    async def fail(ctx: NodeContext) -> Any:
        raise NodeError("broken")

    doc = chain(node("f", "fail", onError="continue"), "noop")
    execution = run_workflow(doc, registry=registry_with(fail=fail))
    assert execution.status is ExecutionStatus.COMPLETED
    assert execution.node("f").status is NodeStatus.FAILED
    assert execution.node("n2").output["error"]["message"] == "broken"


def test_on_error_error_output_routes_to_the_error_port() -> None:
    """onError errorOutput sends {error} on port `error`; the normal port carries nothing."""

    async def fail(ctx: NodeContext) -> Any:
        raise NodeError("broken")

    doc = workflow(
        node("start", "manual_trigger"),
        node("f", "fail", onError="errorOutput"),
        node("ok", "noop"),
        node("handler", "noop"),
        connections=[conn("start", "f"), conn("f", "ok"), conn("f", "handler", sourcePort="error")],
    )
    execution = run_workflow(doc, registry=registry_with(fail=fail))
    assert execution.status is ExecutionStatus.COMPLETED
    assert execution.node("ok").status is NodeStatus.SKIPPED
    assert execution.node("handler").output["error"]["message"] == "broken"


def test_on_error_stop_cancels_running_nodes_and_leaves_the_rest_pending() -> None:
    """stop: the failure ends the run, a running node is CANCELLED, later ones stay pending."""

    async def fail(ctx: NodeContext) -> Any:
        await anyio.sleep(0.05)
        raise NodeError("broken")

    async def slow(ctx: NodeContext) -> Any:
        await anyio.sleep(10)

    doc = workflow(
        node("start", "manual_trigger"),
        node("f", "fail"),
        node("s", "slow"),
        node("after", "noop"),
        connections=[conn("start", "f"), conn("start", "s"), conn("s", "after")],
    )
    started = time.monotonic()
    execution = run_workflow(doc, registry=registry_with(fail=fail, slow=slow))
    assert time.monotonic() - started < 5
    assert execution.status is ExecutionStatus.FAILED
    assert execution.error is not None and execution.error.node_id == "f"
    slow_run = execution.node("s")
    assert slow_run.status is NodeStatus.FAILED
    assert slow_run.error is not None and slow_run.error.code == "CANCELLED"
    assert execution.node("after").status is NodeStatus.PENDING


def test_node_timeout_interrupts_an_awaiting_handler() -> None:
    """node.timeout (ms) interrupts the attempt with TIMEOUT."""

    async def slow(ctx: NodeContext) -> Any:
        await anyio.sleep(10)

    started = time.monotonic()
    execution = run_workflow(
        chain(node("s", "slow", timeout=50)), registry=registry_with(slow=slow)
    )
    assert time.monotonic() - started < 5
    assert execution.error is not None and execution.error.code == "TIMEOUT"


def test_node_timeout_is_retried() -> None:
    """A TIMEOUT attempt is retried like any other failure."""
    calls = []

    async def slow_once(ctx: NodeContext) -> Any:
        calls.append(1)
        if len(calls) == 1:
            await anyio.sleep(10)
        return {"ok": True}

    doc = chain(node("s", "slow_once", timeout=50, retryOnFail=True, maxRetries=1, retryDelay=1))
    execution = run_workflow(doc, registry=registry_with(slow_once=slow_once))
    assert execution.status is ExecutionStatus.COMPLETED
    assert len(calls) == 2


def test_stuck_sync_handler_is_abandoned_on_timeout() -> None:
    """A sync handler stuck in its thread is abandoned; its node fails with TIMEOUT."""
    release = threading.Event()

    def stuck(ctx: NodeContext) -> Any:
        release.wait(5)
        return {"late": True}

    started = time.monotonic()
    execution = run_workflow(
        chain(node("s", "stuck", timeout=50)), registry=registry_with(stuck=stuck)
    )
    release.set()
    assert time.monotonic() - started < 4
    assert execution.node("s").error is not None
    assert execution.node("s").error.code == "TIMEOUT"


def test_execution_timeout_fails_the_run_with_timeout() -> None:
    """settings.timeout bounds the whole execution."""

    async def slow(ctx: NodeContext) -> Any:
        await anyio.sleep(10)

    doc = chain(node("s", "slow"), settings={"timeout": "100ms"})
    started = time.monotonic()
    execution = run_workflow(doc, registry=registry_with(slow=slow))
    assert time.monotonic() - started < 5
    assert execution.status is ExecutionStatus.FAILED
    assert execution.error is not None and execution.error.code == "TIMEOUT"
    assert execution.node("s").error is not None and execution.node("s").error.code == "TIMEOUT"


async def test_cancel_interrupts_a_running_execution() -> None:
    """cancel() stops a running execution: running node CANCELLED, the rest pending."""
    started = anyio.Event()

    async def slow(ctx: NodeContext) -> Any:
        started.set()
        await anyio.sleep(30)

    async with Engine(registry=registry_with(slow=slow)) as engine:
        ended = anyio.Event()
        engine.subscribe(lambda event: ended.set(), types=["execution.cancelled"], inline=True)
        execution = await engine.execute(chain(node("s", "slow"), "noop"), wait=False)
        await started.wait()
        cancelled = await engine.cancel(execution.id)
        assert cancelled.status is ExecutionStatus.CANCELLED
        assert cancelled.cancelled_at is not None
        with anyio.fail_after(5):  # liveness only: the node sleeps for 30 s
            await ended.wait()
    assert execution.status is ExecutionStatus.CANCELLED
    assert execution.node("s").error is not None
    assert execution.node("s").error.code == "CANCELLED"
    assert execution.node("n2").status is NodeStatus.PENDING
    assert execution.to_dict()["cancelledAt"] is not None


async def test_cancel_of_a_finished_execution_is_a_conflict() -> None:
    """Cancelling a completed execution raises ExecutionConflictError; the status stays."""
    async with Engine() as engine:
        execution = await engine.execute(chain("noop"))
        with pytest.raises(ExecutionConflictError) as caught:
            await engine.cancel(execution.id)
        assert caught.value.code == "CONFLICT"
        assert (await engine.get_execution(execution.id)).status is ExecutionStatus.COMPLETED


async def test_a_late_finish_never_overwrites_cancelled() -> None:
    """A node that ignores cancellation cannot turn a cancelled execution into completed."""
    release = threading.Event()
    entered = threading.Event()

    def stubborn(ctx: NodeContext) -> Any:
        entered.set()
        release.wait(5)
        return {"done": True}

    async with Engine(registry=registry_with(stubborn=stubborn)) as engine:
        execution = await engine.execute(chain(node("s", "stubborn")), wait=False)
        await anyio.to_thread.run_sync(entered.wait)
        await engine.cancel(execution.id)
        release.set()
    stored = await engine.get_execution(execution.id)
    assert stored.status is ExecutionStatus.CANCELLED


def test_stop_leaves_the_failed_nodes_successors_pending() -> None:
    """After a stop, the nodes after the failed one are pending (never run), not skipped."""
    execution = run_workflow(chain(node("s", "stop_and_error"), "noop", "noop"))
    assert execution.node("n2").status is NodeStatus.PENDING
    assert execution.node("n3").status is NodeStatus.PENDING


async def test_a_background_run_asked_of_an_engine_not_running_stores_nothing() -> None:
    """execute(wait=False) needs the running engine: outside ``async with`` (or once it has
    closed) it raises before storing anything, instead of leaving a run nobody runs."""
    storage = MemoryStorage()
    engine = Engine(storage)
    with pytest.raises(RuntimeError, match="not running"):
        await engine.execute(chain(node("a", "noop")), wait=False)
    assert (await storage.list_executions(ExecutionQuery()))[1] == 0
