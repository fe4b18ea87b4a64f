"""The public interface of linkflow_engine.expressions."""

from __future__ import annotations

import linkflow_engine.expressions as expressions
from linkflow_engine.expressions import UNDEFINED, Expression, compile_expression


def test_public_names_are_pinned():
    """The package exports exactly the documented names, sorted."""
    assert expressions.__all__ == [
        "UNDEFINED",
        "CompiledValue",
        "Expression",
        "Template",
        "compile_expression",
        "compile_template",
        "compile_value",
        "expression_problems",
    ]


def test_undefined_is_falsy_and_named():
    """UNDEFINED is a falsy singleton that reprs as UNDEFINED."""
    assert not UNDEFINED
    assert repr(UNDEFINED) == "UNDEFINED"


def test_expressions_are_cached_and_described():
    """compile_expression caches by text and exposes the source."""
    first = compile_expression("$input.a + 1")
    assert first is compile_expression("$input.a + 1")
    assert isinstance(first, Expression)
    assert first.source == "$input.a + 1"
    assert repr(first) == "Expression('$input.a + 1')"


def test_undefined_never_leaks(evaluate):
    """Neither a final undefined nor one inside a built array/object leaves evaluate()."""
    result = evaluate("[$input.nope, {a: $input.nope, b: 1}]")
    assert result == [None, {"b": 1}]


def test_importing_does_not_load_the_grammar():
    """The parser (lark) is built on first compile, not at import (import-time budget)."""
    import subprocess
    import sys

    code = "import sys, linkflow_engine.expressions; print('lark' in sys.modules)"
    output = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert output.stdout.strip() == "False"
