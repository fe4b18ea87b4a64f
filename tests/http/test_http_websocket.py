"""The WebSocket /ws against a real uvicorn server and the ``websockets`` client library."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from ws_server import (
    authenticate,
    client,
    events_until,
    nothing_arrives,
    read_until_closed,
    receive,
    send,
    sequences,
    serving,
    stalled_client,
    subscribe,
)

from builders import chain, node
from linkflow_engine import ExecutionStatus
from linkflow_engine.nodes import NodeContext, NodeRegistry
from linkflow_engine.runtime import Engine
from linkflow_engine.storage.memory import MemoryStorage
from linkflow_engine.storage.sqlite import SQLiteStorage


def pausing(seconds: float = 0.3, *, workflow_id: str = "wf-ws") -> dict[str, Any]:
    """Start, a short wait (time to subscribe while it runs), then a noop."""
    return chain(node("pause", "wait", config={"duration": seconds}), "noop", id=workflow_id)


def subscribe_text(**fields: Any) -> str:
    """A subscribe message to the execution channel as JSON text."""
    return json.dumps({"type": "subscribe", "channel": "execution", **fields})


def chatty_registry(
    lines: int, *, pause: float = 0.0, every: float | None = None, size: int = 200
) -> NodeRegistry:
    """Built-ins plus ``chatty``: logs ``lines`` lines of about ``size`` bytes after ``pause``
    seconds, in one burst or one line ``every`` so many seconds."""
    registry = NodeRegistry()

    @registry.register("chatty")
    async def chatty(ctx: NodeContext) -> Any:
        await anyio.sleep(pause)
        for index in range(lines):
            ctx.log("info", "line", index=index, padding="x" * size)
            if every is not None:
                await anyio.sleep(every)
        await anyio.sleep(pause)
        return ctx.input

    return registry


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[Engine]:
    async with Engine(SQLiteStorage(tmp_path / "x.db")) as opened:
        yield opened


# -- the spec's flow ---------------------------------------------------------------------------


async def test_spec_snippet_flow_receives_node_completed_and_execution_completed(
    engine: Engine,
) -> None:
    """Subscribe as the spec's snippet does; node.completed carries nodeId, then completed."""
    execution = await engine.execute(pausing(), wait=False)
    async with serving(engine) as url, client(url) as ws:
        await send(ws, {"type": "subscribe", "channel": "execution", "executionId": execution.id})
        ack = await receive(ws)
        received = await events_until(ws)
    assert ack == {
        "type": "subscribed",
        "payload": {
            "channel": "execution",
            "executionId": execution.id,
            "afterSequence": 0,
            "replay": True,
        },
    }
    completed = [
        m["payload"]["nodeId"] for m in received if m["type"] == "execution.node.completed"
    ]
    assert completed == ["start", "pause", "n2"]
    last = received[-1]
    assert last["type"] == "execution.completed"
    assert set(last) == {"type", "executionId", "workflowId", "sequence", "timestamp", "payload"}
    assert (last["executionId"], last["workflowId"]) == (execution.id, "wf-ws")


async def test_subscribing_mid_run_gets_every_event_once_in_order(engine: Engine) -> None:
    """Subscribed while a node runs: sequences 1..N without gap or duplicate, as stored."""
    execution = await engine.execute(pausing(0.4), wait=False)
    await anyio.sleep(0.15)
    async with serving(engine) as url, client(url) as ws:
        await subscribe(ws, executionId=execution.id)
        received = await events_until(ws)
    stored = await engine.storage.list_events(execution.id)
    assert sequences(received) == list(range(1, len(stored) + 1))
    assert received == [event.data for event in stored]


async def test_failed_execution_sends_payload_error(engine: Engine) -> None:
    """execution.failed carries payload.error, as the spec's snippet reads it."""
    failing = chain(
        node("pause", "wait", config={"duration": 0.2}),
        node("stop", "stop_and_error", config={"message": "boom"}),
    )
    execution = await engine.execute(failing, wait=False)
    async with serving(engine) as url, client(url) as ws:
        await subscribe(ws, executionId=execution.id)
        received = await events_until(ws)
    assert received[-1]["type"] == "execution.failed"
    assert received[-1]["payload"]["error"]["message"] == "boom"


async def test_live_event_ahead_of_storage_waits_for_the_earlier_ones(tmp_path: Path) -> None:
    """A log line published mid-node, before earlier events are stored, still comes in order."""
    registry = chatty_registry(1, pause=0.3)
    async with Engine(SQLiteStorage(tmp_path / "x.db"), registry) as engine:
        execution = await engine.execute(chain("chatty"), wait=False)
        await anyio.sleep(0.1)  # node.started is published but not stored until the node ends
        async with serving(engine) as url, client(url) as ws:
            await subscribe(ws, executionId=execution.id)
            received = await events_until(ws)
        stored = await engine.storage.list_events(execution.id)
    assert received == [event.data for event in stored]


# -- replay ------------------------------------------------------------------------------------


async def test_reconnect_with_after_sequence_gets_exactly_the_missed_events(
    engine: Engine,
) -> None:
    """Disconnect after the first node, reconnect with afterSequence: the rest, each once."""
    execution = await engine.execute(pausing(0.4), wait=False)
    async with serving(engine) as url:
        async with client(url) as ws:
            await subscribe(ws, executionId=execution.id)
            first = await events_until(ws, "execution.node.completed")
        seen = first[-1]["sequence"]
        await anyio.sleep(0.1)  # events go on while the client is away
        async with client(url) as ws:
            await subscribe(ws, executionId=execution.id, afterSequence=seen)
            rest = await events_until(ws)
    stored = await engine.storage.list_events(execution.id)
    assert sequences(first) == list(range(1, seen + 1))
    assert sequences(rest) == list(range(seen + 1, len(stored) + 1))


async def test_replay_of_finished_execution_then_nothing_more(engine: Engine) -> None:
    """A finished execution replays what came after afterSequence, then stays quiet."""
    execution = await engine.execute(pausing(0.0))
    stored = await engine.storage.list_events(execution.id)
    async with serving(engine) as url, client(url) as ws:
        await subscribe(ws, executionId=execution.id, afterSequence=2)
        replayed = await events_until(ws)
        assert await nothing_arrives(ws)
    assert replayed == [event.data for event in stored[2:]]


async def test_without_after_sequence_a_finished_execution_replays_everything(
    engine: Engine,
) -> None:
    """No afterSequence means 0: a client that subscribes late still sees the whole run."""
    execution = await engine.execute(pausing(0.0))
    async with serving(engine) as url, client(url) as ws:
        await subscribe(ws, executionId=execution.id)
        replayed = await events_until(ws)
    assert replayed[0]["type"] == "execution.started"
    assert replayed[-1]["type"] == "execution.completed"


async def test_memory_storage_sends_live_events_only() -> None:
    """Without durable storage there is nothing to replay: the ack says so, live events flow."""
    async with Engine(MemoryStorage()) as engine:
        execution = await engine.execute(pausing(0.3), wait=False)
        async with serving(engine) as url, client(url) as ws:
            ack = await subscribe(ws, executionId=execution.id)
            received = await events_until(ws)
    assert ack["payload"]["replay"] is False
    assert received[-1]["type"] == "execution.completed"
    assert sequences(received) == sorted(set(sequences(received)))


# -- channels ----------------------------------------------------------------------------------


async def test_workflow_channel_gets_only_that_workflows_executions(engine: Engine) -> None:
    """channel workflow: events of its executions only."""
    async with serving(engine) as url, client(url) as ws:
        ack = await subscribe(ws, channel="workflow", workflowId="wf-a")
        await engine.execute(pausing(0.0, workflow_id="wf-b"))
        wanted = await engine.execute(pausing(0.0, workflow_id="wf-a"))
        received = await events_until(ws)
    assert ack["payload"] == {"channel": "workflow", "workflowId": "wf-a"}
    assert {m["executionId"] for m in received} == {wanted.id}
    assert sequences(received) == list(range(1, len(received) + 1))


async def test_all_channel_gets_every_execution(engine: Engine) -> None:
    """channel all: events of every execution."""
    async with serving(engine) as url, client(url) as ws:
        await subscribe(ws, channel="all")
        one = await engine.execute(pausing(0.0, workflow_id="wf-a"))
        two = await engine.execute(pausing(0.0, workflow_id="wf-b"))
        received = await events_until(ws)
        received += await events_until(ws)
    completed = {m["executionId"] for m in received if m["type"] == "execution.completed"}
    assert completed == {one.id, two.id}


async def test_overlapping_subscriptions_send_each_event_once(engine: Engine) -> None:
    """Subscribed to all, to the workflow and to the execution: every sequence arrives once."""
    execution = await engine.execute(pausing(0.3), wait=False)
    async with serving(engine) as url, client(url) as ws:
        await subscribe(ws, channel="all")
        await subscribe(ws, channel="workflow", workflowId="wf-ws")
        await subscribe(ws, executionId=execution.id)
        received = await events_until(ws)
    assert sequences(received) == list(range(1, len(received) + 1))


async def test_unsubscribe_stops_delivery(engine: Engine) -> None:
    """After unsubscribe (acknowledged) no event of that channel arrives."""
    async with serving(engine) as url, client(url) as ws:
        await subscribe(ws, channel="all")
        await send(ws, {"type": "unsubscribe", "channel": "all"})
        ack = await receive(ws)
        await engine.execute(pausing(0.0))
        assert await nothing_arrives(ws)
    assert ack == {"type": "unsubscribed", "payload": {"channel": "all"}}


async def test_unsubscribe_from_an_execution_stops_its_events(engine: Engine) -> None:
    """Unsubscribing from a running execution ends its events at once."""
    execution = await engine.execute(pausing(0.3), wait=False)
    async with serving(engine) as url, client(url) as ws:
        await subscribe(ws, executionId=execution.id)
        await send(ws, {"type": "unsubscribe", "channel": "execution", "executionId": execution.id})
        while (await receive(ws))["type"] != "unsubscribed":
            pass  # events replayed before the unsubscribe arrived
        assert await nothing_arrives(ws, within=0.5)
    assert (await engine.get_execution(execution.id)).status is ExecutionStatus.COMPLETED


async def test_ping_gets_pong(engine: Engine) -> None:
    """{type: ping} is answered with {type: pong}."""
    async with serving(engine) as url, client(url) as ws:
        await send(ws, {"type": "ping"})
        assert (await receive(ws))["type"] == "pong"


# -- auth --------------------------------------------------------------------------------------


async def test_auth_by_bearer_header(engine: Engine) -> None:
    """A valid key in the handshake's Authorization header opens the connection."""
    execution = await engine.execute(pausing(0.0))
    headers = {"Authorization": "Bearer key-alice"}
    async with serving(engine, authenticate) as url, client(url, additional_headers=headers) as ws:
        await subscribe(ws, executionId=execution.id)
        received = await events_until(ws)
    assert received[-1]["type"] == "execution.completed"


async def test_auth_by_first_message(engine: Engine) -> None:
    """Browsers send {type: auth, token} first; the server answers with the user id."""
    async with serving(engine, authenticate) as url, client(url) as ws:
        await send(ws, {"type": "auth", "token": "key-bob"})
        authenticated = await receive(ws)
        await send(ws, {"type": "ping"})
        assert (await receive(ws))["type"] == "pong"
    assert authenticated == {"type": "authenticated", "payload": {"userId": "bob"}}


@pytest.mark.parametrize(
    ("headers", "first"),
    [
        ({"Authorization": "Bearer wrong"}, None),
        ({"Authorization": "Basic a2V5LWFsaWNl"}, None),
        ({}, {"type": "auth", "token": "wrong"}),
        ({}, {"type": "subscribe", "channel": "all"}),
        ({}, None),
    ],
    ids=["bad-key", "not-bearer", "bad-first-message", "no-auth-message", "silence"],
)
async def test_unauthenticated_client_is_told_and_closed_with_4401(
    engine: Engine, headers: dict[str, str], first: dict[str, Any] | None
) -> None:
    """A missing or wrong key gets error UNAUTHORIZED, then close code 4401."""
    async with (
        serving(engine, authenticate, auth_timeout=0.3) as url,
        client(url, additional_headers=headers) as ws,
    ):
        if first is not None:
            await send(ws, first)
        messages, close_code = await read_until_closed(ws)
    assert [m["type"] for m in messages] == ["error"]
    assert messages[0]["payload"]["code"] == "UNAUTHORIZED"
    assert close_code == 4401


# -- bad messages and limits -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "field"),
    [
        ("not json", "body"),
        ("[1, 2]", "body"),
        ('{"type": "shout"}', "type"),
        ('{"type": "subscribe", "channel": "everything"}', "channel"),
        ('{"type": "subscribe", "channel": "execution"}', "executionId"),
        ('{"type": "subscribe", "channel": "workflow", "workflowId": 7}', "workflowId"),
        (subscribe_text(executionId="e", afterSequence=-1), "afterSequence"),
        (subscribe_text(executionId="e", afterSequence=True), "afterSequence"),
        ('{"type": "subscribe", "channel": "all", "afterSequence": 3}', "afterSequence"),
        (subscribe_text(executionId="e", afterSequence=2**63), "afterSequence"),
        ("[" * 100_000, "body"),  # nests past the recursion limit
        (b"\x00binary", "body"),
    ],
)
async def test_bad_message_gets_validation_error_and_connection_survives(
    engine: Engine, message: str | bytes, field: str
) -> None:
    """A message that breaks the protocol is answered with VALIDATION_ERROR naming the field."""
    async with serving(engine) as url, client(url) as ws:
        await ws.send(message)
        error = await receive(ws)
        await send(ws, {"type": "ping"})
        assert (await receive(ws))["type"] == "pong"
    assert error["type"] == "error"
    assert error["payload"]["code"] == "VALIDATION_ERROR"
    assert error["payload"]["details"][0]["field"] == field


async def test_unknown_execution_gets_not_found(engine: Engine) -> None:
    """Subscribing to an execution that does not exist gets error NOT_FOUND."""
    async with serving(engine) as url, client(url) as ws:
        await send(ws, {"type": "subscribe", "channel": "execution", "executionId": "exec-nope"})
        error = await receive(ws)
    assert error["payload"]["code"] == "NOT_FOUND"


async def test_subscriptions_per_connection_are_bounded(engine: Engine) -> None:
    """Beyond max_subscriptions a subscribe is refused; the others keep working."""
    async with serving(engine, max_subscriptions=2) as url, client(url) as ws:
        await subscribe(ws, channel="workflow", workflowId="wf-1")
        await subscribe(ws, channel="workflow", workflowId="wf-2")
        await send(ws, {"type": "subscribe", "channel": "all"})
        refused = await receive(ws)
        await subscribe(ws, channel="workflow", workflowId="wf-2")  # a renewal is no new one
    assert refused["payload"]["code"] == "VALIDATION_ERROR"


# -- slow clients ------------------------------------------------------------------------------


async def test_event_burst_beyond_the_queue_disconnects_the_client(tmp_path: Path) -> None:
    """More events at once than the queue holds: OVERFLOW, close 1013; the run finishes."""
    async with (
        Engine(SQLiteStorage(tmp_path / "x.db"), chatty_registry(3000)) as engine,
        serving(engine, queue_size=100) as url,
        client(url, max_queue=1) as ws,
    ):
        await subscribe(ws, channel="all")
        started = time.monotonic()
        execution = await engine.execute(chain("chatty"))
        elapsed = time.monotonic() - started
        messages, close_code = await read_until_closed(ws)
    assert execution.status is ExecutionStatus.COMPLETED
    assert elapsed < 5
    assert messages[-1]["type"] == "error"
    assert messages[-1]["payload"]["code"] == "OVERFLOW"
    assert close_code == 1013


async def test_stalled_client_is_disconnected_without_slowing_the_run(tmp_path: Path) -> None:
    """A client that stops reading blocks its socket, overflows and is cut off; the run is not
    slowed."""
    registry = chatty_registry(400, every=0.001, size=16000)  # a pace any reading client keeps
    async with (
        Engine(SQLiteStorage(tmp_path / "x.db"), registry) as engine,
        serving(engine, queue_size=100) as url,
        stalled_client(url) as stalled,
    ):
        await stalled.send({"type": "subscribe", "channel": "all"})
        while not await stalled.receive():
            pass
        # Subscribed; from now on the client reads nothing until the run is over.
        started = time.monotonic()
        execution = await engine.execute(chain("chatty"))
        elapsed = time.monotonic() - started
        received, close_code = await stalled.read_until_closed()
    assert execution.status is ExecutionStatus.COMPLETED
    assert elapsed < 3
    assert "execution.completed" not in [m["type"] for m in received]
    assert close_code in (1013, None)  # the close frame too may find the socket still full
