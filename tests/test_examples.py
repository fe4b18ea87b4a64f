"""Every example in examples/ runs and gives the result its README promises."""

from __future__ import annotations

import json
import runpy
from pathlib import Path
from typing import Any

import pytest

from linkflow_engine import ExecutionStatus, run_workflow

EXAMPLES = Path(__file__).parents[1] / "examples"


def load(name: str) -> tuple[dict[str, Any], Any]:
    folder = EXAMPLES / name
    document = json.loads((folder / "workflow.json").read_text())
    input_file = folder / "input.json"
    return document, json.loads(input_file.read_text()) if input_file.exists() else None


def test_hello_world() -> None:
    """hello-world greets the input name."""
    execution = run_workflow(*load("hello-world"))
    assert execution.outputs == {"greet": {"greeting": "Hello, Ada!", "length": 3}}


def test_branching() -> None:
    """branching routes a big German order to the Berlin desk with high priority."""
    execution = run_workflow(*load("branching"))
    assert execution.status is ExecutionStatus.COMPLETED
    assert execution.outputs["summary"]["route"] == "high@berlin"
    assert execution.outputs["summary"]["order"] == "ord-42"


def test_loop_over_items() -> None:
    """loop-over-items totals each invoice and the grand total."""
    report = run_workflow(*load("loop-over-items")).outputs["report"]
    assert report["count"] == 3
    assert report["grandTotal"] == 51.5
    assert [i["total"] for i in report["invoices"]] == [39, 12.5, 0]


def test_custom_node(capsys: pytest.CaptureFixture[str]) -> None:
    """custom-node registers celsius_to_fahrenheit and converts 21.5 °C."""
    runpy.run_path(str(EXAMPLES / "custom-node/run.py"), run_name="__main__")
    printed = json.loads(capsys.readouterr().out)
    assert printed["status"] == "completed"
    assert printed["outputs"]["convert"]["fahrenheit"] == 70.7


@pytest.mark.parametrize("folder", sorted(p.name for p in EXAMPLES.iterdir() if p.is_dir()))
def test_every_example_is_covered(folder: str) -> None:
    """Each example folder has a test above (a new example needs one)."""
    assert f"test_{folder.replace('-', '_')}" in globals()


def test_readme_example_runs_as_printed(capsys: pytest.CaptureFixture[str]) -> None:
    """The README's Python example prints what its comment says."""
    import re

    readme = (EXAMPLES.parent / "README.md").read_text()
    code = re.search(r"```python\n(.*?)```", readme, re.S)
    assert code is not None
    exec(compile(code.group(1), "README.md", "exec"), {})
    assert capsys.readouterr().out.strip() == "completed {'greet': {'greeting': 'Hello, Ada!'}}"
