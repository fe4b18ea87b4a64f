"""Async runs with webhook callbacks: the documented body, signed, retried, logged, durable."""

from __future__ import annotations

import json
import socket
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import anyio
import orjson
import pytest
from callback_receiver import Receiver, running

from builders import chain, node
from error_documents import failing, watcher
from linkflow_engine import Engine, ExecutionStatus, NodeRegistry, WorkflowValidationError
from linkflow_engine.runtime._callbacks import signature
from linkflow_engine.storage.sqlite import SQLiteStorage

FAST = (0.05, 0.05, 0.05, 0.05, 0.05)


async def delivered(receiver: Receiver) -> None:
    # A liveness bound (Event.wait's own timeout: anyio's scopes do not cancel a thread).
    assert await anyio.to_thread.run_sync(receiver.received.wait, 10.0), "no callback in 10 s"


async def test_completed_execution_posts_the_signed_documented_body(tmp_path: Path) -> None:
    """The callback body is the spec's, signed with HMAC-SHA256 over the raw body, and logged."""
    with running(Receiver()) as receiver:
        async with Engine(
            SQLiteStorage(tmp_path / "db"), allow_outbound=["127.0.0.1"], callback_secret="s3cret"
        ) as engine:
            execution = await engine.execute(
                chain(node("v", "set", config={"values": {"ok": True}})),
                webhook_url=receiver.url,
                wait=False,
            )
            await delivered(receiver)
            await anyio.sleep(0.1)
            logs = (await engine.get_execution(execution.id)).logs
    headers, raw = receiver.requests[0]
    body = json.loads(raw)
    assert body["event"] == "execution.completed"
    assert body["executionId"] == execution.id
    assert body["status"] == "completed"
    assert body["outputs"]["v"]["ok"] is True
    assert isinstance(body["duration"], int)
    assert body["timestamp"].endswith("Z")
    assert headers["X-Linkflow-Signature"] == signature("s3cret", raw)
    assert any("Callback attempt 1: delivered" in entry.message for entry in logs)


async def test_failed_execution_callback_carries_the_error() -> None:
    """A failed execution's callback says execution.failed with the error."""
    with running(Receiver()) as receiver:
        async with Engine(allow_outbound=["127.0.0.1"]) as engine:
            await engine.execute(
                chain(node("s", "stop_and_error", config={"message": "bad"})),
                webhook_url=receiver.url,
            )
            await delivered(receiver)
    body = json.loads(receiver.requests[0][1])
    assert body["event"] == "execution.failed"
    assert body["error"]["message"] == "bad"
    assert "X-Linkflow-Signature" not in receiver.requests[0][0]


async def test_cancelled_execution_sends_a_callback() -> None:
    """Cancelling an async run sends execution.cancelled."""
    with running(Receiver()) as receiver:
        async with Engine(allow_outbound=["127.0.0.1"]) as engine:
            execution = await engine.execute(
                chain(node("w", "wait", config={"duration": 30})),
                webhook_url=receiver.url,
                wait=False,
            )
            await anyio.sleep(0.05)
            await engine.cancel(execution.id)
            await delivered(receiver)
    assert json.loads(receiver.requests[0][1])["event"] == "execution.cancelled"


async def test_failed_attempts_are_retried_and_each_is_logged() -> None:
    """A receiver answering 500 twice gets a third attempt; all three are in the logs."""
    with running(Receiver(fail_first=2)) as receiver:
        async with Engine(allow_outbound=["127.0.0.1"], callback_retry_delays=FAST) as engine:
            execution = await engine.execute(chain("noop"), webhook_url=receiver.url)
            await delivered(receiver)
            await anyio.sleep(0.1)
            messages = [e.message for e in (await engine.get_execution(execution.id)).logs]
    assert len(receiver.requests) == 3
    attempts = [m for m in messages if m.startswith("Callback attempt")]
    assert attempts == [
        "Callback attempt 1: failed: HTTP 500",
        "Callback attempt 2: failed: HTTP 500",
        "Callback attempt 3: delivered: HTTP 200",
    ]


async def test_loopback_is_refused_unless_allowed() -> None:
    """Without an allow-list entry a loopback callback is refused, not sent, and logged."""
    with running(Receiver()) as receiver:
        async with Engine(callback_retry_delays=FAST) as engine:
            execution = await engine.execute(chain("noop"), webhook_url=receiver.url)
            await anyio.sleep(0.3)
            logs = (await engine.get_execution(execution.id)).logs
    assert receiver.requests == []
    refused = [e for e in logs if e.message.startswith("Callback attempt 1: refused")]
    assert refused
    assert "giving up" in refused[0].message


async def test_undelivered_callback_is_delivered_after_a_restart(tmp_path: Path) -> None:
    """A callback the first engine could not deliver is delivered by the next one."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/hook"  # nobody listens yet: the first attempt fails
    database = tmp_path / "db"
    async with Engine(
        SQLiteStorage(database), allow_outbound=["127.0.0.1"], callback_retry_delays=(0.2,) * 5
    ) as first:
        execution = await first.execute(chain("noop"), webhook_url=url)
        with anyio.fail_after(10):
            while not any(
                e.message.startswith("Callback attempt 1")
                for e in (await first.get_execution(execution.id)).logs
            ):
                await anyio.sleep(0.02)
    receiver = Receiver()
    import threading
    from http.server import ThreadingHTTPServer

    server = ThreadingHTTPServer(("127.0.0.1", port), receiver.handler())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        async with Engine(SQLiteStorage(database), allow_outbound=["127.0.0.1"]) as second:
            await delivered(receiver)
            assert (await second.get_execution(execution.id)).status is ExecutionStatus.COMPLETED
    finally:
        server.shutdown()
        server.server_close()
    assert json.loads(receiver.requests[0][1])["executionId"] == execution.id


async def test_two_engines_on_one_database_deliver_a_callback_once(tmp_path: Path) -> None:
    """Both engines see the due delivery while the receiver is still answering the first
    attempt; the one that claimed it sends, the other skips it: one POST, one log line."""
    with running(Receiver(delay=1.5)) as receiver:
        async with (
            Engine(SQLiteStorage(tmp_path / "db"), allow_outbound=["127.0.0.1"]) as runner,
            Engine(SQLiteStorage(tmp_path / "db"), allow_outbound=["127.0.0.1"]),
        ):
            execution = await runner.execute(chain("noop"), webhook_url=receiver.url)
            await delivered(receiver)
            await anyio.sleep(1.0)  # the other engine polls every 0.5 s meanwhile
            logs = (await runner.get_execution(execution.id)).logs
    assert len(receiver.requests) == 1
    assert sum(e.message.startswith("Callback attempt") for e in logs) == 1


async def test_an_engine_closing_mid_attempt_hands_the_delivery_back(tmp_path: Path) -> None:
    """Closed while its attempt waits for the receiver, an engine leaves the delivery due at
    once, and the next engine delivers it without waiting out the claim."""
    with running(Receiver(delay=3.0)) as slow, running(Receiver()) as receiver:
        async with Engine(SQLiteStorage(tmp_path / "db"), allow_outbound=["127.0.0.1"]) as first:
            execution = await first.execute(chain("noop"), webhook_url=slow.url)
            with anyio.fail_after(10):
                while not slow.requests:
                    await anyio.sleep(0.02)
        database = sqlite3.connect(tmp_path / "db")
        with database:  # the receiver moved: point the pending delivery at the new one
            database.execute("UPDATE webhook_deliveries SET url = ?", (receiver.url,))
        database.close()
        async with Engine(SQLiteStorage(tmp_path / "db"), allow_outbound=["127.0.0.1"]):
            # Well within the claim's 120 s (Event.wait's own timeout: a thread is not
            # cancelled by anyio's scopes).
            assert await anyio.to_thread.run_sync(receiver.received.wait, 10.0)
    assert json.loads(receiver.requests[0][1])["executionId"] == execution.id


class SlowClaims:
    """SQLite storage whose claims of deliveries wait (a stalled database server)."""

    def __init__(self, path: Path) -> None:
        self.inner = SQLiteStorage(path)
        self.claims = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def claim_delivery(self, delivery_id: str, **terms: Any) -> bool:
        self.claims += 1
        await anyio.sleep(60)
        return bool(await self.inner.claim_delivery(delivery_id, **terms))


async def test_an_engine_closing_during_a_stalled_claim_closes_all_the_same(
    tmp_path: Path,
) -> None:
    """A delivery's claim that the database does not answer holds the engine's close only a
    few seconds (the claim is protected from the close, so that it is stored whole or not at
    all, but not for ever)."""
    storage = SlowClaims(tmp_path / "db")
    with anyio.fail_after(30):  # liveness bound: the claim would hold the close 60 s
        async with Engine(storage, allow_outbound=["127.0.0.1"]) as engine:  # type: ignore[arg-type]
            await engine.execute(chain("noop"), webhook_url="http://127.0.0.1:9/hook")
            while not storage.claims:
                await anyio.sleep(0.02)


async def test_webhook_url_must_be_http() -> None:
    """A webhookUrl that is not an http(s) URL with a host is a validation error naming the
    field, and nothing runs."""
    bad = [
        "ftp://example.com/x",
        "http://[::1/x",
        "http:///no-host",
        "http://host:port/",
        "http://exa\nmple.test/",
        "http://example.test:0/",
    ]
    async with Engine() as engine:
        for url in bad:
            with pytest.raises(WorkflowValidationError) as caught:
                await engine.execute(chain("noop"), webhook_url=url)
            assert caught.value.details[0]["field"] == "webhookUrl", url
        listed, total = await engine.list_executions()
    assert total == 0 and listed == []


async def test_an_unusable_stored_callback_fails_alone(tmp_path: Path) -> None:
    """A pending delivery whose URL cannot be used (stored by an older version) is marked
    failed with its reason; the engine stays up and delivers the next callback."""
    storage = SQLiteStorage(tmp_path / "db")
    with running(Receiver()) as receiver:
        async with Engine(storage, allow_outbound=["127.0.0.1"]) as engine:
            first = await engine.execute(chain("noop"))
            await storage.save_delivery(
                {"id": "dlv-bad", "executionId": first.id, "url": "http://[::1/x", "body": "{}",
                 "attempts": 0, "nextAttemptAt": 0.0, "status": "pending", "lastError": None}
            )  # fmt: skip
            second = await engine.execute(chain("noop"), webhook_url=receiver.url)
            await delivered(receiver)
            with anyio.fail_after(5):
                while await storage.pending_deliveries(now=time.time()):
                    await anyio.sleep(0.02)
            logs = [entry.message for entry in (await engine.get_execution(first.id)).logs]
    assert json.loads(receiver.requests[0][1])["executionId"] == second.id
    assert any(m.startswith("Callback attempt 1: refused") for m in logs)


class FlakyDeliveries(SQLiteStorage):
    """Its first look for pending deliveries fails, as an unreachable database would."""

    failed = False

    async def pending_deliveries(self, *, now: float, limit: int = 100) -> list[dict[str, Any]]:
        if not self.failed:
            self.failed = True
            raise OSError("database unreachable")
        return await super().pending_deliveries(now=now, limit=limit)


async def test_a_storage_hiccup_does_not_stop_callbacks(tmp_path: Path) -> None:
    """The callback service's failed look for due deliveries is logged; the next round
    delivers, and the engine stays up."""
    storage = FlakyDeliveries(tmp_path / "db")
    with running(Receiver()) as receiver:
        async with Engine(storage, allow_outbound=["127.0.0.1"]) as engine:
            execution = await engine.execute(chain("noop"), webhook_url=receiver.url)
            await delivered(receiver)
    assert storage.failed
    assert json.loads(receiver.requests[0][1])["executionId"] == execution.id


class LosesSeparateWrites(SQLiteStorage):
    """A storage whose every write after an execution's end fails (as if the process died
    right after the end was stored): a callback stored on its own would be lost."""

    async def save_delivery(self, delivery: dict[str, Any]) -> None:
        raise sqlite3.OperationalError("disk I/O error")


async def test_the_callback_is_stored_with_the_end_it_reports(tmp_path: Path) -> None:
    """The write that stores an execution's end stores its callback too: no later write can
    fail (or a crash come) between them and lose it."""
    storage = LosesSeparateWrites(tmp_path / "db")
    with running(Receiver()) as receiver:
        async with Engine(storage, allow_outbound=["127.0.0.1"]) as engine:
            execution = await engine.execute(chain("noop"), webhook_url=receiver.url)
            await delivered(receiver)
    assert execution.status is ExecutionStatus.COMPLETED
    assert json.loads(receiver.requests[0][1])["executionId"] == execution.id


async def test_cancelling_an_orphaned_execution_sends_its_callback(tmp_path: Path) -> None:
    """An execution whose engine is gone, cancelled from another engine that does not run it,
    still reports its end: the cancel stores the callback with the status."""
    database = tmp_path / "db"
    with running(Receiver()) as receiver:
        async with Engine(SQLiteStorage(database), allow_outbound=["127.0.0.1"]) as first:
            execution = await first.execute(
                chain(node("w", "wait", config={"duration": 30})),
                webhook_url=receiver.url,
                wait=False,
            )
            await anyio.sleep(0.1)
        # The first engine closed: the execution is left running, owned by nobody alive.
        async with Engine(
            SQLiteStorage(database), allow_outbound=["127.0.0.1"], recover=False
        ) as other:
            await other.cancel(execution.id)
            await delivered(receiver)
    body = json.loads(receiver.requests[0][1])
    assert (body["executionId"], body["event"]) == (execution.id, "execution.cancelled")
    assert len(receiver.requests) == 1


async def test_a_callback_body_is_strict_json_whatever_the_outputs_hold() -> None:
    """NaN in an output is written as null (the body used to carry NaN, which is not JSON)."""
    registry = NodeRegistry()

    @registry.register("not_a_number")
    async def not_a_number(ctx: Any) -> dict[str, Any]:
        return {"ratio": float("nan")}  # plain JSON to orjson: it reaches the end as NaN

    with running(Receiver()) as receiver:
        async with Engine(registry=registry, allow_outbound=["127.0.0.1"]) as engine:
            await engine.execute(
                chain(node("n", "not_a_number")), webhook_url=receiver.url, wait=False
            )
            await delivered(receiver)
    _, raw = receiver.requests[0]
    body = orjson.loads(raw)  # strict: refuses NaN
    assert body["outputs"]["n"] == {"ratio": None}


async def test_error_workflows_start_while_a_callback_receiver_has_not_answered() -> None:
    """A failure's error workflows start at once, not after the callbacks in flight: here one
    whose receiver holds the request until the error workflow has run."""
    gate = threading.Event()
    with running(Receiver(gate=gate)) as receiver:
        try:
            async with Engine(allow_outbound=["127.0.0.1"]) as engine:
                await engine.save_workflow(failing("wf-billing"))
                await engine.save_workflow(watcher("wf-alert"))
                await engine.execute(chain(node("a", "noop")), webhook_url=receiver.url)
                with anyio.fail_after(10):
                    while not receiver.requests:  # the callback is in flight
                        await anyio.sleep(0.01)
                await engine.execute("wf-billing")
                with anyio.fail_after(10):
                    while not (await engine.list_executions(workflow_id="wf-alert"))[1]:
                        await anyio.sleep(0.01)
                answered = receiver.received.is_set()
        finally:
            gate.set()
    assert not answered


async def test_a_receiver_that_holds_a_callback_delays_no_other_callback() -> None:
    """Attempts run side by side: while one receiver holds its request, another execution's
    callback to another receiver is delivered."""
    gate = threading.Event()
    with running(Receiver(gate=gate)) as held, running(Receiver()) as quick:
        try:
            async with Engine(allow_outbound=["127.0.0.1"]) as engine:
                await engine.execute(chain(node("a", "noop")), webhook_url=held.url)
                with anyio.fail_after(10):
                    while not held.requests:  # the first callback is in flight
                        await anyio.sleep(0.01)
                await engine.execute(chain(node("b", "noop")), webhook_url=quick.url)
                with anyio.fail_after(10):
                    while not quick.received.is_set():
                        await anyio.sleep(0.01)
                answered = held.received.is_set()
        finally:
            gate.set()
    assert not answered


async def test_a_host_that_never_resolves_ends_the_attempt_in_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An attempt's time bound covers resolving the receiver's host: a resolver that never
    answers fails the attempt (logged, then retried) instead of holding it past its claim,
    after which another engine could send the same callback beside it."""
    from linkflow_engine import outbound
    from linkflow_engine.runtime import _callbacks

    async def never_answers(url: str, host: str, port: int) -> list[str]:
        await anyio.sleep_forever()
        raise AssertionError("unreachable")

    monkeypatch.setattr(outbound, "_resolve", never_answers)
    monkeypatch.setattr(_callbacks, "CLAIM_SECONDS", 0.4)
    async with Engine(callback_retry_delays=FAST) as engine:
        execution = await engine.execute(chain("noop"), webhook_url="http://hooks.example/end")
        attempts: list[str] = []
        with anyio.fail_after(10):
            while len(attempts) < 2:
                await anyio.sleep(0.05)
                logs = (await engine.get_execution(execution.id)).logs
                attempts = [e.message for e in logs if e.message.startswith("Callback attempt")]
    assert attempts[:2] == [
        "Callback attempt 1: failed: no answer in time",
        "Callback attempt 2: failed: no answer in time",
    ]
