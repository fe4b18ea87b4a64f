"""SQLite write transactions never leave the connection inside a transaction."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from linkflow_engine.storage._sqlite_progress import WriteTransaction


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
