"""Number, type and conditional $-functions."""

from __future__ import annotations

import math

import pytest

from linkflow_engine._exceptions import ExpressionError


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("$round(2.5)", 3),
        ("$round(-2.5)", -2),
        ("$round(2.4)", 2),
        ("$round(1.005, 2)", 1.01),
        ("$round(1234.5678, -2)", 1200),
        ("$round('3.7')", 4),
        ("$floor(2.9)", 2),
        ("$floor(-2.1)", -3),
        ("$ceil(2.1)", 3),
        ("$abs(-4)", 4),
        ("$abs(2.5)", 2.5),
        ("$min(3, 1, 2)", 1),
        ("$min([3, 1, 2])", 1),
        ("$min([])", None),
        ("$max(3, 1, 2)", 3),
        ("$max([1.5, 2.5])", 2.5),
        ("$sum([1, 2, 3])", 6),
        ("$sum(0.1, 0.2)", 0.30000000000000004),
        ("$sum([])", 0),
        ("$avg([1, 2, 3, 4])", 2.5),
        ("$avg([])", None),
    ],
)
def test_number_functions(evaluate, text, expected):
    """Rounding, extremes and aggregates."""
    result = evaluate(text)
    assert result == expected
    assert type(result) is type(expected)


def test_round_keeps_non_finite(evaluate):
    """Rounding Infinity gives Infinity."""
    assert evaluate("$round(1/0)") == math.inf


def test_random_functions(evaluate):
    """$random() is in [0, 1); $randomInt(a, b) includes both bounds."""
    assert 0 <= evaluate("$random()") < 1
    values = {evaluate("$randomInt(1, 3)") for _ in range(200)}
    assert values == {1, 2, 3}
    assert evaluate("$randomInt(5, 5)") == 5


def test_random_int_with_reversed_bounds(evaluate):
    """$randomInt with min above max is an error."""
    with pytest.raises(ExpressionError, match=r"\$randomInt: the lower bound 3 is above"):
        evaluate("$randomInt(3, 1)")


def test_sum_of_non_numbers_is_an_error(evaluate):
    """$sum names the offending argument."""
    with pytest.raises(ExpressionError, match=r"\$sum: argument 2 must be a number, got string"):
        evaluate("$sum([1, 'x'])")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("$typeof(1)", "number"),
        ("$typeof('a')", "string"),
        ("$typeof(true)", "boolean"),
        ("$typeof(null)", "null"),
        ("$typeof($input.missing)", "undefined"),
        ("$typeof([])", "array"),
        ("$typeof({})", "object"),
        ("$isNull(null)", True),
        ("$isNull($input.missing)", True),
        ("$isNull(0)", False),
        ("$isEmpty('')", True),
        ("$isEmpty([])", True),
        ("$isEmpty({})", True),
        ("$isEmpty(null)", True),
        ("$isEmpty(0)", False),
        ("$isEmpty(' ')", False),
        ("$toNumber('42')", 42),
        ("$toNumber(' 1.5 ')", 1.5),
        ("$toNumber('')", 0),
        ("$toNumber(true)", 1),
        ("$toNumber(null)", 0),
        ("$toNumber('0x10')", 16),
        ("$toString(12)", "12"),
        ("$toString(1.5)", "1.5"),
        ("$toString(null)", "null"),
        ("$toString({a: [1]})", '{"a":[1]}'),
        ("$toBoolean('false')", False),
        ("$toBoolean('0')", False),
        ("$toBoolean('yes')", True),
        ("$toBoolean([])", True),
        ("$toBoolean(0)", False),
        ("$toJson({a: 1, b: [true, null]})", '{"a":1,"b":[true,null]}'),
        ("$toJson({a: 1}, 2)", '{\n  "a": 1\n}'),
        ("$toJson('é')", '"é"'),
        ("$toJson(0/0)", "null"),
        ("$fromJson('{\"a\": [1, 2]}')", {"a": [1, 2]}),
        ("$fromJson('3')", 3),
    ],
)
def test_type_functions(evaluate, text, expected):
    """Type tests and conversions."""
    assert evaluate(text) == expected


def test_to_number_of_garbage_is_nan(evaluate):
    """$toNumber of non-numeric text is NaN, as Number() gives."""
    assert math.isnan(evaluate("$toNumber('12px')"))
    assert math.isnan(evaluate("$toNumber({})"))


def test_from_json_invalid_is_an_error(evaluate):
    """Invalid JSON text is an ExpressionError naming $fromJson."""
    with pytest.raises(ExpressionError, match=r"\$fromJson: argument 1 is not valid JSON"):
        evaluate("$fromJson('{bad')")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("$if(true, 'a', 'b')", "a"),
        ("$if(0, 'a', 'b')", "b"),
        ("$if($input.age > 30, 'old', 'young')", "old"),
        ("$if(false, 'a')", None),
        ("$coalesce(null, $input.missing, 0, 1)", 0),
        ("$coalesce(null)", None),
        ("$default('', 'd')", "d"),
        ("$default(null, 'd')", "d"),
        ("$default(0, 'd')", 0),
        ("$default('v', 'd')", "v"),
    ],
)
def test_conditional_functions(evaluate, text, expected):
    """$if, $coalesce and $default."""
    assert evaluate(text) == expected


def test_if_is_lazy(evaluate):
    """$if evaluates only the branch it returns."""
    assert evaluate("$if(true, 1, $input.missing.boom)") == 1
    assert evaluate("$if($input.active, 'on', $input.missing.boom)") == "on"
