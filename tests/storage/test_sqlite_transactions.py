"""SQLite write transactions never leave the connection inside a transaction, and the
executor's usual step is one statement."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from storage_records import logged, make_execution, make_log, make_node

from linkflow_engine.storage._sqlite_progress import WriteTransaction
from linkflow_engine.storage.sqlite import SQLiteStorage


class FailingCommit(sqlite3.Connection):
    """A connection whose next COMMIT fails (as a disk or lock error would)."""

    fail_next_commit = False

    def execute(self, sql: str, *args: object) -> sqlite3.Cursor:  # type: ignore[override]
        if sql == "COMMIT" and self.fail_next_commit:
            self.fail_next_commit = False
            raise sqlite3.OperationalError("disk I/O error")
        return super().execute(sql, *args)  # type: ignore[arg-type]


def test_a_failed_commit_is_rolled_back_and_the_next_write_works(tmp_path: Path) -> None:
    """The COMMIT error reaches the caller, the write is undone, the connection is out of the
    transaction, and the next transaction commits."""
    db = sqlite3.connect(tmp_path / "db", isolation_level=None, factory=FailingCommit)
    db.execute("CREATE TABLE t (x INTEGER)")
    db.fail_next_commit = True
    with pytest.raises(sqlite3.OperationalError, match="disk I/O"), WriteTransaction(db, None):
        db.execute("INSERT INTO t VALUES (1)")
    assert not db.in_transaction
    with WriteTransaction(db, None):
        db.execute("INSERT INTO t VALUES (2)")
    assert db.execute("SELECT x FROM t").fetchall() == [(2,)]


def test_an_error_after_sqlite_rolled_back_itself_is_not_hidden(tmp_path: Path) -> None:
    """When the transaction is already gone, the original error is raised, not ROLLBACK's."""
    db = sqlite3.connect(tmp_path / "db", isolation_level=None)

    def fails_after_sqlite_rolled_back() -> None:
        with WriteTransaction(db, None):
            db.execute("ROLLBACK")  # as SQLite does itself on some errors
            raise ValueError("original")

    with pytest.raises(ValueError, match="original"):
        fails_after_sqlite_rolled_back()
    assert not db.in_transaction


async def test_a_node_run_with_its_log_lines_is_one_statement(tmp_path: Path) -> None:
    """The executor's usual write, a node run that settled with the log lines said meanwhile
    (each with its event), is one statement: its own transaction, with no BEGIN or COMMIT and
    no second table (the per-node cost of durability, see W3 in bench/storage.py). Lines
    written without their events take the logs table, in a transaction."""
    storage = SQLiteStorage(tmp_path / "db")
    await storage.open()
    try:
        await storage.create_execution(make_execution())
        statements: list[str] = []
        assert storage._connection is not None
        storage._connection.set_trace_callback(statements.append)
        line = make_log()
        await storage.save_progress(
            "ex-1", nodes=[make_node(0)], logs=[line], events=[logged(line, 1)]
        )
        usual = list(statements)
        statements.clear()
        await storage.save_progress("ex-1", nodes=[make_node(1)], logs=[make_log("alone")])
        storage._connection.set_trace_callback(None)
        read = await storage.get_execution("ex-1")
    finally:
        await storage.aclose()
    assert len(usual) == 1 and usual[0].split()[:3] == ["INSERT", "INTO", "node_executions"]
    assert statements[0] == "BEGIN IMMEDIATE" and statements[-1] == "COMMIT"
    assert any(s.split()[:3] == ["INSERT", "INTO", "logs"] for s in statements)
    assert [entry.message for entry in read.logs] == ["hello", "alone"]


async def test_a_new_file_has_small_pages_and_an_existing_file_keeps_its_own(
    tmp_path: Path,
) -> None:
    """A commit writes each page it changed whole: a new database gets 2048-byte pages (half
    SQLite's default, which halves a node's write); a file made with other pages keeps them
    and works as before."""
    storage = SQLiteStorage(tmp_path / "new.db")
    await storage.open()
    await storage.create_execution(make_execution("e-1"))
    await storage.aclose()
    assert sqlite3.connect(tmp_path / "new.db").execute("PRAGMA page_size").fetchone() == (2048,)

    old = sqlite3.connect(tmp_path / "old.db")
    old.execute("PRAGMA page_size = 4096")
    old.execute("CREATE TABLE kept (x INTEGER)")
    old.close()
    storage = SQLiteStorage(tmp_path / "old.db")
    await storage.open()
    await storage.create_execution(make_execution("e-2"))
    assert (await storage.get_execution("e-2")).id == "e-2"
    await storage.aclose()
    assert sqlite3.connect(tmp_path / "old.db").execute("PRAGMA page_size").fetchone() == (4096,)
