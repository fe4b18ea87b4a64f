"""SQLite: replaying events made from node runs, however many runs there are."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from storage_records import T0, make_execution, make_node

from linkflow_engine.events import NodeCompleted
from linkflow_engine.storage.sqlite import SQLiteStorage


async def test_a_replay_of_more_runs_than_sqlite_takes_parameters_works(tmp_path: Path) -> None:
    """The runs a replay's events are made from are read with one parameter: SQLite refuses
    statements with more parameters than its limit (32,766 by default, a long loop's worth),
    here set to 10."""
    storage = SQLiteStorage(tmp_path / "linkflow.db")
    await storage.open()
    try:
        await storage.create_execution(make_execution())
        runs = [make_node(k, output={"k": k}) for k in range(50)]
        made = [(NodeCompleted.type, k + 1, T0 + k, k) for k in range(50)]
        await storage.save_progress("ex-1", nodes=runs, events=made)
        storage._db.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 10)
        replayed = await storage.list_events("ex-1", after_sequence=5)
    finally:
        await storage.aclose()
    assert [e.data["payload"]["output"] for e in replayed] == [{"k": k} for k in range(5, 50)]
