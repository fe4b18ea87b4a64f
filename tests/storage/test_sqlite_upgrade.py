"""SQLite databases written by earlier schema versions open, migrate and keep their records."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from storage_records import make_event, make_execution, make_workflow

from linkflow_engine.storage._sql import EXECUTION_INSERT, execution_params
from linkflow_engine.storage._sqlite_schema import MIGRATIONS
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
        await storage.append_events("ex-1", [make_event(3)])
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
