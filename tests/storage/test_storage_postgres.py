"""PostgreSQL only: status notifications (the optional StatusFeed) and the pipelined progress
write, against the real server, each test in schemas of its own."""

from __future__ import annotations

import functools
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import anyio
import psycopg
import pytest
from storage_records import POSTGRES_DSN, T0, make_event, make_execution, make_node

from linkflow_engine import StorageError
from linkflow_engine.runtime._records import ExecutionStatus
from linkflow_engine.storage.base import StatusFeed
from linkflow_engine.storage.memory import MemoryStorage
from linkflow_engine.storage.postgres import PostgresStorage
from linkflow_engine.storage.sqlite import SQLiteStorage


@pytest.fixture
async def open_postgres() -> AsyncIterator[Callable[[str], PostgresStorage]]:
    """Makes open storages on the given schemas; closes them and drops the schemas after."""
    opened: list[PostgresStorage] = []

    def make(schema: str) -> PostgresStorage:
        storage = PostgresStorage(POSTGRES_DSN, schema=schema, min_size=1, max_size=1)
        opened.append(storage)
        return storage

    try:
        yield make
    finally:
        for storage in opened:
            await storage.aclose()
        with psycopg.connect(POSTGRES_DSN, autocommit=True) as connection:
            for schema in {storage.schema for storage in opened}:
                connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def new_schema(length: int = 21) -> str:
    return f"test_{uuid.uuid4().hex}".ljust(length, "x")[:length]


def test_only_postgres_offers_the_status_feed(tmp_path: Path) -> None:
    """PostgresStorage is a StatusFeed; memory and SQLite are not (the engine polls them)."""
    assert isinstance(PostgresStorage(POSTGRES_DSN), StatusFeed)
    assert not isinstance(MemoryStorage(), StatusFeed)
    assert not isinstance(SQLiteStorage(tmp_path / "x.db"), StatusFeed)


def test_status_channel_is_per_schema_and_a_valid_name() -> None:
    """Each schema has its own channel, at most 63 bytes even for the longest schema name."""
    long_a, long_b = "a" * 62 + "1", "a" * 62 + "2"
    channels = [PostgresStorage(POSTGRES_DSN, schema=s).status_channel for s in ("a", "b")]
    longs = [PostgresStorage(POSTGRES_DSN, schema=s).status_channel for s in (long_a, long_b)]
    assert channels[0] != channels[1] and longs[0] != longs[1]
    assert all(len(channel) <= 63 for channel in channels + longs)


async def cancel(storage: PostgresStorage, execution_id: str) -> bool:
    return await storage.transition_execution(
        execution_id, expected=[ExecutionStatus.RUNNING], status=ExecutionStatus.CANCELLED
    )


async def test_feed_reports_the_cancels_and_resumes_of_its_schema_only(
    open_postgres: Callable[[str], PostgresStorage],
) -> None:
    """A listener hears the committed cancels and resumes of its own schema (here one with the
    longest name allowed), not those of another schema on the same database nor a
    compare-and-set that changed nothing."""
    mine, theirs = open_postgres(new_schema(63)), open_postgres(new_schema())
    heard: list[str] = []
    listening = anyio.Event()

    async def changed(execution_id: str) -> None:
        heard.append(execution_id)

    async def connected() -> None:
        listening.set()

    for storage in (mine, theirs):
        await storage.open()
        await storage.create_execution(make_execution("ex-1"))
    await mine.create_execution(make_execution("ex-2", status=ExecutionStatus.PAUSED))
    async with anyio.create_task_group() as group:
        group.start_soon(functools.partial(mine.watch_status_changes, changed, connected=connected))
        with anyio.fail_after(5):
            await listening.wait()
        assert await cancel(theirs, "ex-1")
        assert not await cancel(mine, "ex-2")  # paused: the compare-and-set changes nothing
        assert await cancel(mine, "ex-1")
        assert await mine.transition_execution(
            "ex-2", expected=[ExecutionStatus.PAUSED], status=ExecutionStatus.RUNNING
        )
        with anyio.fail_after(5):
            while len(heard) < 2:
                await anyio.sleep(0.01)
        group.cancel_scope.cancel()
    # Notifications arrive in commit order: the other schema's change would have come first.
    assert heard == ["ex-1", "ex-2"]


async def test_stale_progress_write_leaves_the_connection_usable(
    open_postgres: Callable[[str], PostgresStorage],
) -> None:
    """A progress write refused for its stale fence leaves nothing open on the (only) pooled
    connection: the new owner's next write goes through."""
    storage = open_postgres(new_schema())
    await storage.open()
    await storage.create_execution(make_execution())
    old = await storage.acquire_lease("ex-1", owner="a", ttl=10, now=T0)
    new = await storage.acquire_lease("ex-1", owner="b", ttl=10, now=T0 + 11)
    assert old is not None and new is not None
    with pytest.raises(StorageError):
        await storage.save_progress("ex-1", nodes=[make_node(0, output="late")], fence=old.fence)
    await storage.save_progress("ex-1", nodes=[make_node(0, output="b")], fence=new.fence)
    read = await storage.get_execution("ex-1", include_data=True)
    assert [(n.sequence, n.output) for n in read.node_executions] == [(0, "b")]


async def test_a_schema_with_capitals_and_the_dsn_options_are_kept() -> None:
    """A schema named with capital letters is created and used as named (not folded to lower
    case), and the DSN's own ``options`` (here ``synchronous_commit``) still reach every
    connection next to the schema's search path."""
    schema = f"Mixed_Case_{uuid.uuid4().hex[:8]}"
    separator = "&" if "?" in POSTGRES_DSN else "?"
    dsn = f"{POSTGRES_DSN}{separator}options=-c%20synchronous_commit%3Doff"
    storage = PostgresStorage(dsn, schema=schema, min_size=1, max_size=1)
    await storage.open()
    try:
        await storage.create_execution(make_execution())
        assert (await storage.get_execution("ex-1")).id == "ex-1"
        async with storage.pool.connection() as connection:
            cursor = await connection.execute("SHOW synchronous_commit")
            assert await cursor.fetchone() == ("off",)
            cursor = await connection.execute("SELECT current_schema()")
            assert await cursor.fetchone() == (schema,)
    finally:
        await storage.aclose()
        with psycopg.connect(POSTGRES_DSN, autocommit=True) as connection:
            connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


async def test_events_stored_in_wire_form_are_still_listed(
    open_postgres: Callable[[str], PostgresStorage],
) -> None:
    """Events used to be stored in their wire form; they are listed as they were, in sequence
    order with the ones stored as records since."""
    schema = new_schema()
    storage = open_postgres(schema)
    await storage.open()
    await storage.create_execution(make_execution())
    wire = [make_event(1).to_dict(), make_event(2).to_dict()]
    with psycopg.connect(POSTGRES_DSN, autocommit=True) as connection:
        for event in wire:
            connection.execute(
                f'INSERT INTO "{schema}".events VALUES (%s, %s, %s)',
                ("ex-1", event["sequence"], psycopg.types.json.Json(event)),
            )
    await storage.append_events("ex-1", [make_event(3).record()])
    listed = await storage.list_events("ex-1")
    assert [e.data for e in listed] == [*wire, make_event(3).to_dict()]
