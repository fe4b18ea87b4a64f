"""Cancels and resumes reach the engine holding a run through PostgreSQL notifications.

Every engine here polls the stored status only every 30 s, far beyond the bounds the tests wait:
only a notification can explain a run that reacts in time.
"""

from __future__ import annotations

import logging
from typing import Any

import anyio
import psycopg
import pytest
from durable_counting import Counting
from durable_storages import POSTGRES_DSN, StorageFactory
from test_durable_control import debug_doc, wait_for_status

from builders import chain, node
from linkflow_engine import Engine, ExecutionStatus
from linkflow_engine.storage.postgres import PostgresStorage

POLL = 30.0
PROMPTLY = 5.0  # a liveness bound well under POLL, not a speed check


def slow_doc() -> dict[str, object]:
    return chain(node("s", "slow", config={"seconds": 60}), "noop")


async def started(counting: Counting, node_id: str) -> None:
    with anyio.fail_after(10):
        while counting.calls[node_id] == 0:
            await anyio.sleep(0.01)


async def cancel_reaches_the_run(runner: Engine, other: Engine, counting: Counting) -> None:
    """Start a slow run on ``runner``, cancel it through ``other``: it stops, recorded."""
    execution = await runner.execute(slow_doc(), wait=False)
    await started(counting, "s")
    await other.cancel(execution.id)
    with anyio.fail_after(PROMPTLY):
        while execution.status is not ExecutionStatus.CANCELLED:  # the run itself has ended
            await anyio.sleep(0.01)
    stored = await other.get_execution(execution.id)
    assert stored.status is ExecutionStatus.CANCELLED
    error = stored.node("s").error
    assert error is not None and error.code == "CANCELLED"


async def test_cancel_from_another_engine_arrives_by_notification(
    make_postgres_storage: StorageFactory,
) -> None:
    """A cancel said through one engine stops the run another engine holds long before its
    next poll, and the execution is recorded cancelled."""
    counting = Counting()
    async with (
        Engine(make_postgres_storage(), counting.registry, poll_interval=POLL) as runner,
        Engine(make_postgres_storage(), counting.registry, poll_interval=POLL) as other,
    ):
        await cancel_reaches_the_run(runner, other, counting)


async def test_resume_from_another_engine_arrives_by_notification(
    make_postgres_storage: StorageFactory,
) -> None:
    """A paused debug run held by one engine goes on, step by step, when another engine
    resumes it, long before the holder's next poll."""
    counting = Counting()
    async with (
        Engine(make_postgres_storage(), counting.registry, poll_interval=POLL) as holder,
        Engine(make_postgres_storage(), counting.registry, poll_interval=POLL) as other,
    ):
        execution = await holder.execute(debug_doc(), {"n": 0}, debug=True, wait=False)
        await wait_for_status(other, execution.id, ExecutionStatus.PAUSED)
        await other.resume(execution.id, step=True)
        with anyio.fail_after(PROMPTLY):
            await wait_for_status(other, execution.id, ExecutionStatus.PAUSED)
        assert (await other.get_execution(execution.id)).options["pausedAt"] == "c"
        await other.resume(execution.id)
        with anyio.fail_after(PROMPTLY):
            await wait_for_status(other, execution.id, ExecutionStatus.COMPLETED)
        done = await other.get_execution(execution.id, include_data=True)
    assert counting.calls == {"a": 1, "b": 1, "c": 1, "d": 1}
    assert done.outputs["d"]["n"] == 4


async def listeners(channel: str) -> set[int]:
    """The server processes of the connections listening on ``channel``."""
    async with await psycopg.AsyncConnection.connect(POSTGRES_DSN, autocommit=True) as connection:
        cursor = await connection.execute(
            "SELECT pid FROM pg_stat_activity WHERE query = %s", (f'LISTEN "{channel}"',)
        )
        return {int(row[0]) for row in await cursor.fetchall()}


async def test_listeners_killed_by_the_server_listen_again(
    make_postgres_storage: StorageFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """When the server ends the listening connections, the engines log it, listen again on new
    connections, and a cancel from one engine then reaches the other by notification again."""
    counting = Counting()
    async with (
        Engine(make_postgres_storage(), counting.registry, poll_interval=POLL) as runner,
        Engine(make_postgres_storage(), counting.registry, poll_interval=POLL) as other,
    ):
        assert isinstance(runner.storage, PostgresStorage)
        channel = runner.storage.status_channel
        with anyio.fail_after(10):
            while len(killed := await listeners(channel)) < 2:  # one per engine
                await anyio.sleep(0.02)
        async with await psycopg.AsyncConnection.connect(POSTGRES_DSN, autocommit=True) as admin:
            for pid in killed:
                await admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        with anyio.fail_after(10):
            while len(await listeners(channel) - killed) < 2:
                await anyio.sleep(0.02)
        await cancel_reaches_the_run(runner, other, counting)
    warnings = [r.message for r in caplog.records if r.levelno == logging.WARNING]
    assert sum("lost the connection" in message for message in warnings) == 2


async def test_a_check_stuck_on_a_row_lock_does_not_hold_back_the_other_runs(
    make_postgres_storage: StorageFactory,
) -> None:
    """Another session holds the row of one execution's lease (a statement waiting on it
    never returns meanwhile): the engine's other run still renews its lease and runs once
    (before, every check waited behind the stuck one, that lease expired, and the other
    engine took the execution over and ran its node a second time)."""
    calls: list[str] = []

    async def nap(ctx: Any) -> dict[str, Any]:
        calls.append(ctx.execution.id)
        await anyio.sleep(5)
        return {}

    counting = Counting()
    counting.registry.register("nap", nap)
    terms: dict[str, Any] = {"lease_ttl": 1.0, "poll_interval": 0.1}
    schema = make_postgres_storage().schema  # type: ignore[attr-defined]
    async with Engine(make_postgres_storage(), counting.registry, **terms) as runner:
        held = await runner.execute(chain(node("n", "nap")), wait=False)
        other = await runner.execute(chain(node("n", "nap")), wait=False)
        async with await psycopg.AsyncConnection.connect(POSTGRES_DSN) as locker:
            await locker.execute(
                f'SELECT 1 FROM "{schema}".leases WHERE execution_id = %s FOR UPDATE', (held.id,)
            )
            async with Engine(make_postgres_storage(), counting.registry, **terms) as second:
                await anyio.sleep(4)  # four leases' time with the row held
                await locker.rollback()
                await wait_for_status(second, other.id, ExecutionStatus.COMPLETED)
    assert calls.count(other.id) == 1


async def test_pooled_connections_the_server_dropped_are_replaced_before_use(
    make_postgres_storage: StorageFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """The server ends the pool's idle connections (a restart, an idle timeout): whatever
    takes one next (a run's write, the callbacks' poll) gets a fresh one instead (before, it
    met the dead connection and failed)."""
    schema = make_postgres_storage().schema  # type: ignore[attr-defined]
    name = f"lf_{schema}"
    storage = PostgresStorage(f"{POSTGRES_DSN}?application_name={name}", schema=schema)
    async with Engine(storage) as engine:
        first = await engine.execute(chain("noop"))
        async with await psycopg.AsyncConnection.connect(POSTGRES_DSN, autocommit=True) as admin:
            ended = await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = %s AND query NOT LIKE 'LISTEN%%'",
                (name,),
            )
            assert len(await ended.fetchall()) >= 1
        await anyio.sleep(0.6)  # the callbacks' poll (every 0.5 s) takes one meanwhile
        second = await engine.execute(chain("noop"))
    assert first.status is ExecutionStatus.COMPLETED
    assert second.status is ExecutionStatus.COMPLETED
    assert not [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
