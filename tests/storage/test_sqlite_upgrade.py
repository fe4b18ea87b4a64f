"""SQLite databases written by earlier schema versions open, migrate and keep their records."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path

from storage_records import (
    T0,
    logged,
    make_event,
    make_execution,
    make_log,
    make_node,
    make_workflow,
)

from linkflow_engine.runtime._records import NodeStatus
from linkflow_engine.storage._sql import (
    EXECUTION_INSERT,
    execution_params,
    log_params,
    node_params,
)
from linkflow_engine.storage._sqlite_rows import event_text
from linkflow_engine.storage._sqlite_schema import MIGRATIONS
from linkflow_engine.storage.base import ExecutionQuery
from linkflow_engine.storage.sqlite import SQLiteStorage


def _database_at_version(path: Path, version: int) -> sqlite3.Connection:
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    connection.execute("INSERT INTO schema_version VALUES (?)", (version,))
    for statements in MIGRATIONS[:version]:
        for statement in statements:
            connection.execute(statement)
    return connection


async def test_events_stored_in_wire_form_by_version_3_are_still_listed(tmp_path: Path) -> None:
    """Version 3 kept each event batch as wire dictionaries; after the upgrade they are listed
    with the events written since, in sequence order."""
    path = tmp_path / "old.db"
    old = _database_at_version(path, 3)
    old.execute(EXECUTION_INSERT, execution_params(make_execution()))
    wire = [make_event(1).to_dict(), make_event(2).to_dict()]
    old.execute("INSERT INTO events VALUES ('ex-1', 1, 2, ?)", (json.dumps(wire),))
    old.close()
    storage = SQLiteStorage(path)
    await storage.open()
    try:
        await storage.append_events("ex-1", [make_event(3).record()])
        listed = await storage.list_events("ex-1")
    finally:
        await storage.aclose()
    assert [e.data for e in listed] == [*wire, make_event(3).to_dict()]


async def test_an_execution_with_its_snapshot_inline_reads_back_after_the_upgrade(
    tmp_path: Path,
) -> None:
    """Before version 5 each execution kept its workflow snapshot in its own row; after the
    upgrade it still reads back, next to a new execution whose snapshot is stored by key."""
    path = tmp_path / "old.db"
    old = _database_at_version(path, 4)
    old.execute(EXECUTION_INSERT, execution_params(make_execution("old")))
    old.close()
    storage = SQLiteStorage(path)
    await storage.open()
    try:
        await storage.create_execution(make_execution("new"))
        snapshots = [(await storage.get_execution(i)).workflow for i in ("old", "new")]
    finally:
        await storage.aclose()
    assert snapshots[0] is not None and snapshots[1] is not None
    assert snapshots[0].to_dict() == snapshots[1].to_dict() == make_workflow().to_dict()


async def test_a_version_5_database_keeps_every_record_and_lease_after_the_upgrade(
    tmp_path: Path,
) -> None:
    """Version 6 keys an execution's rows by its number and keeps its lease in its row; a
    database of version 5 (rows keyed by execution id, leases in their own table) reads back
    the same: node runs with their data in order, logs in order (and new ones after them), the
    events of both tables, and the lease with its fence, which the next owner must exceed."""
    path = tmp_path / "old.db"
    old = _database_at_version(path, 5)
    nodes = {"ex-1": [make_node(0), make_node(1, output="second")], "ex-2": [make_node(0)]}
    for offset, (execution_id, runs) in enumerate(nodes.items()):
        execution = make_execution(execution_id, created_at=T0 + offset)
        old.execute(EXECUTION_INSERT, execution_params(execution))
        for run in runs:
            *fields, _timers, _ = node_params(execution_id, run, None)  # v5 had no timers
            text = event_text([make_event(run.sequence + 1, execution_id).record()])
            old.execute(
                f"INSERT INTO node_executions VALUES (?, {', '.join('?' * 15)})",
                (execution_id, *fields, text),
            )
        old.executemany(
            "INSERT INTO logs (execution_id, timestamp, level, message, node_id, data) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            log_params(execution_id, [make_log("first"), make_log("second")]),
        )
        old.execute(
            "INSERT INTO events VALUES (?, 5, 5, ?)",
            (execution_id, event_text([make_event(5, execution_id).record()])),
        )
    old.execute("INSERT INTO leases VALUES ('ex-1', 'a', 7, ?)", (T0 + 100,))
    old.close()

    storage = SQLiteStorage(path)
    await storage.open()
    try:
        await storage.append_logs("ex-1", [make_log("third")])
        read = {i: await storage.get_execution(i, include_data=True) for i in nodes}
        events = {i: [e.sequence for e in await storage.list_events(i)] for i in nodes}
        refused = await storage.acquire_lease("ex-1", owner="b", ttl=10, now=T0 + 50)
        recoverable = await storage.recoverable_executions(now=T0 + 50)
        taken = await storage.acquire_lease("ex-1", owner="b", ttl=10, now=T0 + 101)
    finally:
        await storage.aclose()
    for execution_id, runs in nodes.items():
        assert read[execution_id].node_executions == runs
    assert [log.message for log in read["ex-1"].logs] == ["first", "second", "third"]
    assert [log.message for log in read["ex-2"].logs] == ["first", "second"]
    assert events == {"ex-1": [1, 2, 5], "ex-2": [1, 5]}
    assert refused is None and recoverable == ["ex-2"]
    assert taken is not None and taken.fence == 8


async def test_a_running_execution_of_version_8_keeps_its_log_in_order_after_the_upgrade(
    tmp_path: Path,
) -> None:
    """Up to version 8 every log line went to the logs table, numbered 1, 2, ... in its
    execution; since version 9 the executor's lines are numbered by their events and ride in
    the rows of its writes, and node rows are rebuilt with their payloads last. An execution
    running at the upgrade, taken up by the new version, reads back its node runs as they were
    (a durable sleep's deadline, events), its old lines, then the new ones, then one appended
    after its end."""
    path = tmp_path / "old.db"
    old = _database_at_version(path, 8)
    old.execute(EXECUTION_INSERT, execution_params(make_execution()))
    lines = [make_log(f"line {k}", timestamp=T0 + k) for k in range(5)]
    old.executemany(
        "INSERT INTO logs SELECT (num << 32) + ?, ?, ?, ?, ?, ? FROM executions WHERE id = ?",
        [(k + 1, *params[1:], "ex-1") for k, params in enumerate(log_params("ex-1", lines[:2]))],
    )
    said = [logged(lines[0], 2), make_event(3).record(), logged(lines[1], 4)]
    old.execute(
        "INSERT INTO events SELECT num << 32, 4, ? FROM executions WHERE id = 'ex-1'",
        (event_text(said),),
    )
    waiting = make_node(1, status=NodeStatus.RUNNING, output=None, timers=[T0 + 60])
    *fields, _execution_id = node_params("ex-1", waiting, None)  # v8's columns, in v8's order
    old.execute(
        f"INSERT INTO node_executions SELECT num << 32 | 1, {', '.join('?' * 14)}, ?, ?"
        " FROM executions WHERE id = 'ex-1'",
        (*fields[:14], event_text([make_event(1).record()]), fields[14]),
    )
    old.close()
    storage = SQLiteStorage(path)
    await storage.open()
    try:
        await storage.save_progress(
            "ex-1", nodes=[make_node(0)], logs=lines[2:3], events=[logged(lines[2], 5)]
        )
        await storage.save_progress("ex-1", logs=lines[3:4], events=[logged(lines[3], 6)])
        await storage.append_logs("ex-1", lines[4:])
        read = await storage.get_execution("ex-1", include_data=True)
        listed = await storage.list_events("ex-1")
    finally:
        await storage.aclose()
    assert read.logs == lines
    assert [e.sequence for e in listed] == [1, 2, 3, 4, 5, 6]
    assert read.node_executions == [make_node(0), waiting]


async def test_opening_waits_for_another_process_upgrading_the_file(tmp_path: Path) -> None:
    """An older file is upgraded under the write lock; a process opening it meanwhile waits
    for the lock (however short its busy_timeout: an upgrade of a large file takes a while),
    then finds the file upgraded and opens it, instead of failing "database is locked"."""
    path = tmp_path / "old.db"
    old = _database_at_version(path, 5)
    old.execute("PRAGMA journal_mode = WAL")  # as the storage left it
    old.close()
    upgrading = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    upgrading.execute("BEGIN IMMEDIATE")  # the write lock, as an upgrade in progress holds it

    def finish_upgrade() -> None:
        time.sleep(0.5)
        upgrading.execute("COMMIT")

    waiter = threading.Thread(target=finish_upgrade)
    waiter.start()
    storage = SQLiteStorage(path, busy_timeout=0.05)
    try:
        started = time.perf_counter()
        await storage.open()
        waited = time.perf_counter() - started
        await storage.create_execution(make_execution())
        assert (await storage.get_execution("ex-1")).id == "ex-1"
    finally:
        await storage.aclose()
        waiter.join()
        upgrading.close()
    assert waited >= 0.4


async def test_an_up_to_date_file_opens_while_another_process_writes(tmp_path: Path) -> None:
    """Opening a file of the current schema only reads it: it does not wait for the write
    lock another process holds."""
    path = tmp_path / "db"
    first = SQLiteStorage(path)
    await first.open()
    await first.aclose()
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    storage = SQLiteStorage(path, busy_timeout=0.05)
    try:
        await storage.open()
        assert await storage.list_executions(ExecutionQuery()) == ([], 0)
    finally:
        await storage.aclose()
        writer.execute("ROLLBACK")
        writer.close()
