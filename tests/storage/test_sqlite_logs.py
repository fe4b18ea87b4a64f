"""SQLite's log lines: those the executor writes ride in the rows of its writes, placed by their
events' numbers; those written without their events go after them; reading never walks the
node runs' payloads."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from storage_records import T0, logged, make_event, make_execution, make_log, make_node

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


async def test_node_runs_and_event_batches_keep_their_payloads_last(tmp_path: Path) -> None:
    """A node run's input and output, and a batch's events, are their rows' last columns:
    reading a run's metadata, log lines or events, or a batch's log lines, stops before them,
    however large they are (SQLite walks a value's overflow pages to reach any column after
    it)."""
    storage = SQLiteStorage(tmp_path / "db")
    await storage.open()
    await storage.aclose()
    db = sqlite3.connect(tmp_path / "db")
    runs = [row[1] for row in db.execute("PRAGMA table_info(node_executions)")]
    batches = [row[1] for row in db.execute("PRAGMA table_info(events)")]
    db.close()
    assert runs[-2:] == ["input", "output"]
    assert {"logs", "events", "timers"} <= set(runs[:-2])
    assert batches[-1] == "data" and "logs" in batches


async def test_a_batch_of_events_written_again_keeps_its_lines(tmp_path: Path) -> None:
    """A batch of events written again under its first sequence number replaces its events,
    not the log lines a write without node runs stored with it."""
    line = make_log("paused")
    storage = SQLiteStorage(tmp_path / "db")
    await storage.open()
    try:
        await storage.create_execution(make_execution())
        await storage.save_progress("ex-1", logs=[line], events=[logged(line, 1)])
        await storage.append_events("ex-1", [make_event(1).record()])
        read = await storage.get_execution("ex-1")
        listed = await storage.list_events("ex-1")
    finally:
        await storage.aclose()
    assert read.logs == [line]
    assert [e.data for e in listed] == [make_event(1).to_dict()]


async def test_an_execution_reads_as_of_one_moment(tmp_path: Path) -> None:
    """Its row, node runs and log lines are read in one transaction: a line another process
    writes while they are being read is not half in it."""
    path = tmp_path / "db"
    storage = SQLiteStorage(path)
    await storage.open()
    other = sqlite3.connect(path, isolation_level=None)
    try:
        await storage.create_execution(make_execution())
        await storage.save_progress("ex-1", nodes=[make_node(0)])

        def write_meanwhile(statement: str) -> None:
            if "FROM node_executions" in statement:
                other.execute(
                    "INSERT INTO logs SELECT (num << 32) + (1 << 31) + 1, ?, 'info', 'late', "
                    "NULL, NULL FROM executions WHERE id = 'ex-1'",
                    (T0,),
                )

        assert storage._connection is not None
        storage._connection.set_trace_callback(write_meanwhile)
        during = await storage.get_execution("ex-1")
        storage._connection.set_trace_callback(None)
        after = await storage.get_execution("ex-1")
    finally:
        other.close()
        await storage.aclose()
    assert [entry.message for entry in during.logs] == []
    assert [entry.message for entry in after.logs] == ["late"]
