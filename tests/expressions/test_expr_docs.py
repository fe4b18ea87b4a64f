"""Every example in docs/expressions.md evaluates to the result the page shows."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from linkflow_engine.expressions import compile_expression

DOC = Path(__file__).resolve().parents[2] / "docs" / "expressions.md"
ROW = re.compile(r"^\| `(?P<expr>.+)` \| `(?P<result>.+)` \|$")


def _examples() -> list[tuple[str, str]]:
    rows = [ROW.match(line) for line in DOC.read_text(encoding="utf-8").splitlines()]
    return [(m["expr"], m["result"]) for m in rows if m and "(" in m["expr"]]


def test_the_page_has_examples():
    """The documentation page holds examples for every function."""
    examples = " ".join(expr for expr, _ in _examples())
    from linkflow_engine.expressions._registry import function_table

    random = {"random", "randomInt", "uuid", "now", "today"}
    missing = [name for name in function_table() if f"${name}(" not in examples]
    assert set(missing) <= random


@pytest.mark.parametrize(("text", "result"), _examples())
def test_documented_example(text, result):
    """The documented expression gives the documented JSON result."""
    assert compile_expression(text).evaluate({}) == json.loads(result)
