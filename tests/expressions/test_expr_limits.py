"""Bounds: text length, nesting, result size and the step budget."""

from __future__ import annotations

import pytest

from linkflow_engine._exceptions import ExpressionError
from linkflow_engine.expressions import compile_expression


def test_expression_length_is_bounded():
    """Expressions over 10,000 characters are refused."""
    with pytest.raises(ExpressionError, match="longer than 10,000"):
        compile_expression("1" + " " * 10_000)


def test_redundant_parentheses_and_signs_do_not_nest(evaluate):
    """Thousands of parentheses or unary signs parse flat and evaluate."""
    assert evaluate("(" * 3000 + "1" + ")" * 3000) == 1
    assert evaluate("-" * 4000 + "1") == 1
    assert evaluate("!" * 4001 + "0") is True


@pytest.mark.parametrize(
    "text",
    ["[" * 4000, "[" * 3000 + "]" * 3000, "$abs(" * 1500 + "1" + ")" * 1500, "{a:" * 2000],
)
def test_deep_nesting_is_an_error_not_a_crash(text):
    """Deep nesting gives an ExpressionError, never a RecursionError."""
    with pytest.raises(ExpressionError):
        compile_expression(text)


def test_deeply_nested_brackets_report_nesting():
    """Nested literals beyond the depth limit name the limit."""
    with pytest.raises(ExpressionError, match="nested more than"):
        compile_expression("[" * 150 + "]" * 150)


def test_moderate_nesting_is_fine(evaluate):
    """Reasonable nesting compiles and evaluates."""
    assert evaluate("(" * 40 + "1" + ")" * 40) == 1
    assert evaluate("-" * 40 + "1") == 1


def test_string_concatenation_is_bounded(evaluate):
    """Concatenation beyond 10 MB fails instead of exhausting memory."""
    big = "x" * 6_000_000
    with pytest.raises(ExpressionError, match="string result longer"):
        evaluate("$s + $s", {"$s": big})


def test_pad_is_bounded(evaluate):
    """$padStart with a huge length fails cleanly."""
    with pytest.raises(ExpressionError, match=r"\$padStart: string result longer"):
        evaluate("$padStart('', 100000000, 'ab')")


def test_join_is_bounded(evaluate):
    """$join checks the size before building the string."""
    items = ["x" * 1000] * 20_000
    with pytest.raises(ExpressionError, match="string result longer"):
        evaluate("$join($items, '')", {"$items": items})


def test_split_result_is_bounded(evaluate):
    """Splitting into more than 1,000,000 items fails."""
    with pytest.raises(ExpressionError, match="array result longer"):
        evaluate("$split($s, ',')", {"$s": "," * 1_500_000})


def test_flatten_is_bounded(evaluate):
    """Flattening beyond 1,000,000 items fails."""
    inner = list(range(1000))
    with pytest.raises(ExpressionError, match="array result longer"):
        evaluate("$flatten($a)", {"$a": [inner] * 1500})


def test_step_budget_stops_nested_predicates(evaluate):
    """Nested predicates over large arrays run out of steps instead of hanging."""
    rows = list(range(2000))
    text = "$filter($rows, \"$filter($rows, 'item > 0').length > 0\")"
    with pytest.raises(ExpressionError, match="budget of 1,000,000 steps"):
        evaluate(text, {"$rows": rows})


def test_replace_is_bounded(evaluate):
    """$replace estimates its result size before building it."""
    with pytest.raises(ExpressionError, match="string result longer"):
        evaluate("$replace($s, 'a', $r)", {"$s": "a" * 10_000, "$r": "b" * 2_000})
