"""The linkflow command: run, validate, nodes; exit codes and progress output."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from linkflow_engine.cli import main

EXAMPLES = Path(__file__).parents[2] / "examples"


def write(tmp_path: Path, document: object, name: str = "wf.json") -> str:
    path = tmp_path / name
    path.write_text(json.dumps(document))
    return str(path)


def test_run_prints_outputs_and_progress(capsys: pytest.CaptureFixture[str]) -> None:
    """`linkflow run` prints the outputs as JSON on stdout and one line per node on stderr."""
    code = main(["run", str(EXAMPLES / "hello-world/workflow.json"), "--input", '{"name": "bob"}'])
    out, err = capsys.readouterr()
    assert code == 0
    assert json.loads(out) == {"greet": {"greeting": "Hello, Bob!", "length": 3}}
    assert "ok       Greet" in err
    assert "completed in" in err


def test_run_json_prints_the_whole_execution(capsys: pytest.CaptureFixture[str]) -> None:
    """--json prints the full execution record."""
    path = str(EXAMPLES / "hello-world/workflow.json")
    assert main(["run", path, "--json", "--quiet"]) == 0
    out, err = capsys.readouterr()
    record = json.loads(out)
    assert record["status"] == "completed"
    assert len(record["nodeExecutions"]) == 2
    assert err == ""


def test_input_from_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--input @FILE reads the input data from a file."""
    data = write(tmp_path, {"name": "eve"}, "input.json")
    main(["run", str(EXAMPLES / "hello-world/workflow.json"), "--input", f"@{data}", "--quiet"])
    assert json.loads(capsys.readouterr().out)["greet"]["greeting"] == "Hello, Eve!"


def test_failed_execution_exits_1_and_shows_the_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A failed execution exits 1; stderr shows the failing node's error in full."""
    doc = {
        "nodes": [
            {"id": "s", "type": "manual_trigger"},
            {"id": "boom", "type": "stop_and_error", "config": {"message": "it broke"}},
        ],
        "connections": [{"source": "s", "target": "boom"}],
    }
    assert main(["run", write(tmp_path, doc)]) == 1
    err = capsys.readouterr().err
    assert "FAILED   boom: [NODE_ERROR] it broke" in err


def test_invalid_workflow_exits_2_listing_every_detail(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An invalid document exits 2 and lists every validation detail."""
    doc = {
        "nodes": [{"id": "a", "type": "nope"}, {"id": "b", "type": "noop"}],
        "connections": [{"source": "a", "target": "zzz"}],
    }
    assert main(["run", write(tmp_path, doc)]) == 2
    err = capsys.readouterr().err
    assert "nodes[0].type" in err
    assert "connections[0].target" in err


def test_bad_json_input_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Input that is not JSON (or a missing file) exits 2 with the reason."""
    path = str(EXAMPLES / "hello-world/workflow.json")
    assert main(["run", path, "--input", "{nope"]) == 2
    assert "--input is not valid JSON" in capsys.readouterr().err
    assert main(["run", str(tmp_path / "missing.json")]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_start_node_option(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--start-node starts the run at that node."""
    path = str(EXAMPLES / "hello-world/workflow.json")
    assert main(["run", path, "--start-node", "greet", "--input", '{"name": "x"}', "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    statuses = {n["nodeId"]: n["status"] for n in record["nodeExecutions"]}
    assert statuses == {"start": "skipped", "greet": "completed"}


def test_validate_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`linkflow validate` exits 0 for a valid file and 2 with details for an invalid one."""
    assert main(["validate", str(EXAMPLES / "branching/workflow.json")]) == 0
    assert "valid" in capsys.readouterr().out
    bad = write(tmp_path, {"nodes": [{"id": "a"}]})
    assert main(["validate", bad]) == 2
    assert "nodes[0]" in capsys.readouterr().err


def test_nodes_command_lists_types(capsys: pytest.CaptureFixture[str]) -> None:
    """`linkflow nodes` lists every type; --json describes them."""
    assert main(["nodes"]) == 0
    assert "manual_trigger" in capsys.readouterr().out
    assert main(["nodes", "--json"]) == 0
    assert any(d["type"] == "loop" for d in json.loads(capsys.readouterr().out))


def test_console_script_is_installed() -> None:
    """The `linkflow` console script runs the hello-world example end to end."""
    script = Path(sys.executable).parent / "linkflow"
    result = subprocess.run(
        [str(script), "run", str(EXAMPLES / "hello-world/workflow.json"), "--quiet"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["greet"]["greeting"] == "Hello, World!"
