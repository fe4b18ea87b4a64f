"""Events: wire names, gap-free sequences, subscribers that cannot hurt an execution."""

from __future__ import annotations

import time
from typing import Any

import anyio

from builders import chain, node
from linkflow_engine import Engine, Event, ExecutionStatus
from linkflow_engine.testing import capture_events


async def test_events_have_wire_names_and_gap_free_sequences() -> None:
    """One execution publishes started, node events and completed, numbered 1, 2, 3 …"""
    async with Engine() as engine:
        with capture_events(engine) as events:
            execution = await engine.execute(chain("noop"))
    types = events.types()
    assert types[0] == "execution.started"
    assert types[-1] == "execution.completed"
    assert "execution.node.started" in types and "execution.node.completed" in types
    sequences = [e.sequence for e in events]
    assert sequences == list(range(1, len(events) + 1))
    wire = events[-1].to_dict()
    assert set(wire) == {"type", "executionId", "workflowId", "sequence", "timestamp", "payload"}
    assert wire["executionId"] == execution.id


async def test_a_log_line_and_its_event_are_one_record() -> None:
    """Each log line is published as an execution.log event bearing the line's own time and
    fields, in the order of the log."""
    async with Engine() as engine:
        with capture_events(engine) as events:
            execution = await engine.execute(chain("noop"))
    logged = events.of_type("execution.log")
    assert [e.timestamp for e in logged] == [entry.timestamp for entry in execution.logs]
    assert [e.payload for e in logged] == [entry.to_dict() for entry in execution.logs]
    assert [e.payload["message"] for e in logged] == ["Execution started", "Execution completed"]


async def test_a_node_runs_events_bear_its_own_times() -> None:
    """execution.node.started and execution.node.completed bear the start and end times of
    the node run they report, as stored."""
    async with Engine() as engine:
        with capture_events(engine) as events:
            execution = await engine.execute(chain("noop", "noop"))
    runs = {run.node_id: run for run in execution.node_executions}
    started = events.of_type("execution.node.started")
    completed = events.of_type("execution.node.completed")
    assert len(started) == len(completed) == len(runs) == 3
    for event in started:
        assert event.timestamp == runs[event.payload["nodeId"]].started_at
    for event in completed:
        assert event.timestamp == runs[event.payload["nodeId"]].finished_at


async def test_failed_execution_publishes_error_payload() -> None:
    """execution.failed carries the error; node failures publish execution.node.failed."""
    async with Engine() as engine:
        with capture_events(engine) as events:
            await engine.execute(chain(node("s", "stop_and_error", config={"message": "x"})))
    failed = events.of_type("execution.failed")[0]
    assert failed.payload["error"]["message"] == "x"
    assert events.of_type("execution.node.failed")[0].payload["nodeId"] == "s"


async def test_subscriber_filters_by_type_and_execution() -> None:
    """types= and execution_id= filter what a subscriber receives."""
    received: list[Event] = []
    async with Engine() as engine:
        with engine.subscribe(received.append, types=["execution.completed"]):
            await engine.execute(chain("noop"))
            await engine.execute(chain("noop"))
        await anyio.sleep(0.05)
    assert [e.type for e in received] == ["execution.completed"] * 2


async def test_slow_subscriber_never_delays_the_execution() -> None:
    """A subscriber that sleeps does not slow the run; it still receives every event later."""
    received: list[str] = []

    async def slow(event: Event) -> None:
        await anyio.sleep(0.05)
        received.append(event.type)

    async with Engine() as engine:
        engine.subscribe(slow)
        started = time.monotonic()
        execution = await engine.execute(chain("noop", "noop", "noop"))
        took = time.monotonic() - started
    assert execution.status is ExecutionStatus.COMPLETED
    assert took < 0.05 * 3
    assert received[-1] == "execution.completed"


async def test_raising_subscriber_never_breaks_the_execution(caplog: Any) -> None:
    """A subscriber that raises is logged; the execution completes."""

    def broken(event: Event) -> None:
        raise RuntimeError("subscriber bug")

    async with Engine() as engine:
        engine.subscribe(broken)
        engine.subscribe(broken, inline=True)
        execution = await engine.execute(chain("noop"))
    assert execution.status is ExecutionStatus.COMPLETED
    assert "subscriber" in caplog.text


async def test_unknown_event_type_in_a_filter_is_rejected() -> None:
    """Subscribing to a misspelled type fails at once instead of never firing."""
    import pytest

    async with Engine() as engine:
        with pytest.raises(ValueError, match=r"node\.finished"):
            engine.subscribe(print, types=["node.finished"])
