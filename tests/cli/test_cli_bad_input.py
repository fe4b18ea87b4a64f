"""Bad values, files and databases on the command line: a one-line ``linkflow: …`` message and
exit 2 (or 1 for a database that cannot be opened), never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from linkflow_engine.cli import main


def refused(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    """Run ``linkflow argv``; its exit code and what it wrote to stderr."""
    try:
        code = main(list(argv))
    except SystemExit as exit_:  # argparse refuses a bad flag value itself
        code = int(exit_.code or 0)
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["executions", "prune", "--older-than", "²d"], "olderThan"),  # isdigit, not int()
        (["executions", "prune", "--older-than", "9" * 30 + "d"], "olderThan"),  # past any date
        (["executions", "list", "--offset", str(2**63)], "offset"),  # past SQLite's integers
        (["schedule", "preview", "--interval", "1e300", "--count", "2"], "out of range"),
        (
            ["schedule", "preview", "0 9 * * *", "--start", "9999-12-31T23:00", "--count", "2"],
            "range",
        ),
        (["serve", "--port", "99999"], "--port"),
        (["serve", "--max-body-bytes", "0"], "--max-body-bytes"),
    ],
)
def test_a_value_out_of_range_exits_2_with_a_message(
    capsys: pytest.CaptureFixture[str], argv: list[str], says: str
) -> None:
    """Values that parse but are out of range are refused before anything runs, naming what
    is wrong (each raised an exception with its traceback before)."""
    code, err = refused(capsys, *argv)
    assert code == 2
    assert says in err


@pytest.mark.parametrize(
    ("content", "says"),
    [(b"\xff\xfe{}", "not UTF-8"), (b"[" * 100_000 + b"]" * 100_000, "nests too deeply")],
)
def test_an_unreadable_document_exits_2_with_a_message(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, content: bytes, says: str
) -> None:
    """A file that is not UTF-8, or JSON nested past the recursion limit, names the file."""
    path = tmp_path / "doc.json"
    path.write_bytes(content)
    code, err = refused(capsys, "validate", str(path))
    assert code == 2
    assert str(path) in err and says in err


def test_a_database_that_cannot_be_opened_exits_1_with_a_message(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A --db in a directory that does not exist is a one-line error naming the file."""
    path = tmp_path / "missing" / "x.db"
    code, err = refused(capsys, "executions", "list", "--db", str(path))
    assert code == 1
    assert err.startswith("linkflow: cannot open SQLite database") and str(path) in err
