"""`linkflow executions …`: history and control from the command line, across processes."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from linkflow_engine.cli import main

FAILING = {
    "id": "wf-cli",
    "name": "cli",
    "nodes": [
        {"id": "start", "type": "manual_trigger"},
        {"id": "gate", "type": "if", "config": {"condition": "{{ $input.ok }}"}},
        {"id": "boom", "type": "stop_and_error", "config": {"message": "not ok"}},
        {"id": "fine", "type": "set", "config": {"values": {"done": True}}},
    ],
    "connections": [
        {"source": "start", "target": "gate"},
        {"source": "gate", "target": "fine", "sourcePort": "true"},
        {"source": "gate", "target": "boom", "sourcePort": "false"},
    ],
}


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, object]:
    code = main(list(argv))
    out = capsys.readouterr().out
    return code, json.loads(out) if out.strip() else None


def test_run_stores_and_list_show_read_back(
    tmp_path: Path, database: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`run` stores in the SQLite file; `executions list/show` read it back."""
    doc = tmp_path / "wf.json"
    doc.write_text(json.dumps(FAILING))
    assert main(["run", str(doc), "--input", '{"ok": true}', "--quiet"]) == 0
    assert main(["run", str(doc), "--input", '{"ok": false}', "--quiet"]) == 1
    capsys.readouterr()
    assert database.exists()
    code, listing = run_json(capsys, "executions", "list", "--json", "--status", "failed")
    assert code == 0
    assert isinstance(listing, dict)
    assert listing["total"] == 1
    failed_id = listing["executions"][0]["id"]
    code, shown = run_json(capsys, "executions", "show", failed_id, "--data")
    assert isinstance(shown, dict)
    assert shown["error"]["message"] == "not ok"
    boom = next(n for n in shown["nodeExecutions"] if n["nodeId"] == "boom")
    assert boom["status"] == "failed"
    assert boom["input"]["ok"] is False
    assert main(["executions", "list"]) == 0
    table = capsys.readouterr()
    assert failed_id in table.out
    assert "2 of 2" in table.err


def test_retry_from_the_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`executions retry ID --from-node --input-overrides` replays with the new input."""
    doc = tmp_path / "wf.json"
    doc.write_text(json.dumps(FAILING))
    main(["run", str(doc), "--input", '{"ok": false}', "--quiet", "--json"])
    failed_id = json.loads(capsys.readouterr().out)["id"]
    code, replay = run_json(
        capsys, "executions", "retry", failed_id, "--from-node", "gate",
        "--input-overrides", '{"ok": true}',
    )  # fmt: skip
    assert code == 0
    assert isinstance(replay, dict)
    assert replay["originalExecutionId"] == failed_id
    assert replay["outputs"]["fine"]["done"] is True


def test_errors_have_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Unknown id: exit 2; cancelling a finished run: exit 1; a bad filter names the field."""
    assert main(["executions", "show", "exec-nope"]) == 2
    assert "not found" in capsys.readouterr().err
    doc = tmp_path / "wf.json"
    doc.write_text(json.dumps(FAILING))
    main(["run", str(doc), "--input", '{"ok": true}', "--quiet", "--json"])
    done_id = json.loads(capsys.readouterr().out)["id"]
    assert main(["executions", "cancel", done_id]) == 1
    assert "cannot cancel" in capsys.readouterr().err
    assert main(["executions", "list", "--status", "bogus"]) == 2
    assert "status" in capsys.readouterr().err


def test_prune_from_the_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`executions prune --keep-last N` deletes older finished executions."""
    doc = tmp_path / "wf.json"
    doc.write_text(json.dumps(FAILING))
    for _ in range(3):
        main(["run", str(doc), "--input", '{"ok": true}', "--quiet"])
    capsys.readouterr()
    assert main(["executions", "prune", "--keep-last", "1"]) == 0
    assert "deleted 2" in capsys.readouterr().out


@pytest.mark.slow
def test_cancel_reaches_a_run_in_another_process(tmp_path: Path, database: Path) -> None:
    """`executions cancel` in one process stops a `linkflow run` going on in another."""
    doc = tmp_path / "slow.json"
    doc.write_text(
        json.dumps(
            {
                "nodes": [
                    {"id": "start", "type": "manual_trigger"},
                    {"id": "nap", "type": "wait", "config": {"duration": 60}},
                ],
                "connections": [{"source": "start", "target": "nap"}],
            }
        )
    )
    script = Path(sys.executable).parent / "linkflow"
    runner = subprocess.Popen(
        [str(script), "run", str(doc), "--json", "--quiet", "--db", str(database)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        execution_id = _wait_for_running(database)
        assert main(["executions", "cancel", execution_id, "--db", str(database)]) == 0
        out, _ = runner.communicate(timeout=30)  # liveness bound: the wait node sleeps 60 s
    finally:
        runner.kill()
    assert runner.returncode == 1
    record = json.loads(out)
    assert record["status"] == "cancelled"
    assert record["nodeExecutions"][1]["error"]["code"] == "CANCELLED"


def _wait_for_running(database: Path) -> str:
    import sqlite3

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if database.exists():
            with sqlite3.connect(database) as db:
                try:
                    row = db.execute(
                        "SELECT id FROM executions WHERE status = 'running'"
                    ).fetchone()
                except sqlite3.OperationalError:
                    row = None
            if row:
                return str(row[0])
        time.sleep(0.05)
    raise AssertionError("the run never showed up as running")
