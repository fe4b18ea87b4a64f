"""SQLite's log lines: those the executor writes ride in the rows of its writes, placed by their
events' numbers; those written without their events go after them; reading never walks the
node runs' payloads."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from storage_records import T0, logged, make_execution, make_log, make_node

from linkflow_engine.storage.sqlite import SQLiteStorage


async def test_a_line_appended_while_the_run_writes_never_meets_the_runs_lines(
    tmp_path: Path,
) -> None:
    """A line appended while the run is still writing (a cancel's callback attempt, logged by
    another process) is written, and so are the run's later lines, with a node run or
    without: none takes another's place, and the appended lines read back after the run's."""
    a, b, c, d, e = (make_log(name, timestamp=T0 + k) for k, name in enumerate("abcde"))
    storage = SQLiteStorage(tmp_path / "db")
    await storage.open()
    try:
        await storage.create_execution(make_execution())
        await storage.save_progress("ex-1", nodes=[make_node(0)], logs=[a], events=[logged(a, 1)])
        await storage.append_logs("ex-1", [b])
        await storage.save_progress("ex-1", logs=[c], events=[logged(c, 2)])
        await storage.save_progress("ex-1", nodes=[make_node(1)], logs=[d], events=[logged(d, 3)])
        await storage.append_logs("ex-1", [e])
        read = await storage.get_execution("ex-1")
    finally:
        await storage.aclose()
    assert read.logs == [a, c, d, b, e]


async def test_node_runs_keep_their_payloads_last(tmp_path: Path) -> None:
    """A node run's input and output are its row's last columns: reading its metadata, log
    lines or events stops before them, however large they are (SQLite walks a value's
    overflow pages to reach any column after it)."""
    storage = SQLiteStorage(tmp_path / "db")
    await storage.open()
    await storage.aclose()
    columns = [
        row[1]
        for row in sqlite3.connect(tmp_path / "db").execute("PRAGMA table_info(node_executions)")
    ]
    assert columns[-2:] == ["input", "output"]
    assert {"logs", "events", "timers"} <= set(columns[:-2])
