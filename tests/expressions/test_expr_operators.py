"""Operators follow JavaScript semantics."""

from __future__ import annotations

import math

import pytest


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1 + 2 * 3", 7),
        ("(1 + 2) * 3", 9),
        ("10 - 2 - 3", 5),
        ("7 % 3", 1),
        ("-7 % 3", -1),
        ("7.5 % 2", 1.5),
        ("4 / 2", 2),
        ("1 / 4", 0.25),
        ("0.1 + 0.2", 0.30000000000000004),
        ("1.5 + 1.5", 3),
        ("-(3)", -3),
        ("+'42'", 42),
        ("- -5", 5),
        ("2 * 3 + 4 * 5 - 6 / 3", 24),
    ],
)
def test_arithmetic(evaluate, text, expected):
    """Arithmetic has JavaScript precedence and results."""
    result = evaluate(text)
    assert result == expected
    assert type(result) is type(expected)


def test_integral_division_stays_int(evaluate):
    """4 / 2 is the int 2, printed as JavaScript prints it, not 2.0."""
    assert type(evaluate("4 / 2")) is int


def test_division_by_zero_gives_infinity_or_nan(evaluate):
    """Dividing by zero is Infinity, -Infinity or NaN, never a ZeroDivisionError."""
    assert evaluate("1 / 0") == math.inf
    assert evaluate("-1 / 0") == -math.inf
    assert math.isnan(evaluate("0 / 0"))
    assert math.isnan(evaluate("5 % 0"))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('"a" + 1', "a1"),
        ("1 + '2'", "12"),
        ("1 + true", 2),
        ("1 + null", 1),
        ('"x" + null', "xnull"),
        ('"x" + undefined', "xundefined"),
        ("[1, 2] + 1", "1,21"),
        ('"v" + {}', "v[object Object]"),
        ('"3" * "4"', 12),
        ('"10" - 1', 9),
        ('"1.5" * 2', 3),
        ("true + true", 2),
    ],
)
def test_plus_and_coercion(evaluate, text, expected):
    """+ concatenates when a string or object is involved and adds numbers otherwise."""
    assert evaluate(text) == expected


def test_not_a_number_arithmetic(evaluate):
    """Arithmetic on a non-numeric string or undefined gives NaN."""
    assert math.isnan(evaluate('"abc" * 2'))
    assert math.isnan(evaluate("undefined + 1"))


def test_large_integers_become_floats(evaluate):
    """Beyond 2**53 integers turn into floats, as JavaScript numbers are doubles."""
    assert isinstance(evaluate("9007199254740992 * 4"), float)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1 == 1", True),
        ('1 == "1"', True),
        ("1 === 1.0", True),
        ('1 === "1"', False),
        ("null == undefined", True),
        ("null === undefined", False),
        ("null == 0", False),
        ("undefined == 0", False),
        ('null == ""', False),
        ("true == 1", True),
        ('"1" == true', True),
        ("true === 1", False),
        ("0 == ''", True),
        ("[] == []", False),
        ("[1] == 1", True),
        ('"a" != "b"', True),
        ("1 !== 1", False),
        ("NaN_missing == NaN_missing", True),
    ],
)
def test_equality(evaluate, text, expected):
    """== is loose (null equals only undefined), === strict, as in JavaScript."""
    assert evaluate(text) is expected


def test_nan_is_not_equal_to_itself(evaluate):
    """NaN compares unequal to everything, itself included."""
    assert evaluate('("a" * 1) == ("a" * 1)') is False


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1 < 2", True),
        ("2 <= 2", True),
        ("3 > 2", True),
        ("3 >= 4", False),
        ('"apple" < "banana"', True),
        ('"10" < "9"', True),
        ('"10" < 9', False),
        ("'b' > 'a'", True),
        ("null < 1", True),
        ("undefined < 1", False),
        ("undefined >= 1", False),
        ('"abc" < 1', False),
    ],
)
def test_comparison(evaluate, text, expected):
    """Strings compare lexicographically; mixed operands compare as numbers."""
    assert evaluate(text) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("'a' && 'b'", "b"),
        ("'' && 'b'", ""),
        ("0 || 'fallback'", "fallback"),
        ("'x' || 'y'", "x"),
        ("null ?? 'd'", "d"),
        ("0 ?? 'd'", 0),
        ("'' ?? 'd'", ""),
        ("undefined ?? null ?? 3", 3),
        ("0 ?? 1 || 2", 2),
        ("null ?? 0 || 2", 2),
        ("1 && 2 && 3", 3),
        ("1 && 0 && 3", 0),
    ],
)
def test_logical_operators_return_operands(evaluate, text, expected):
    """&&, || and ?? return one of their operands, not a boolean."""
    assert evaluate(text) == expected


def test_logical_operators_short_circuit(evaluate):
    """The right side of && / || / ?? is not evaluated when the left decides."""
    assert evaluate("false && missing.property") is False
    assert evaluate("true || missing.property") is True
    assert evaluate("1 ?? missing.property") == 1


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('""', False),
        ("0", False),
        ("0 / 0", False),
        ("null", False),
        ("undefined", False),
        ("[]", True),
        ("{}", True),
        ('"0"', True),
        ('" "', True),
        ("-1", True),
    ],
)
def test_truthiness(evaluate, value, expected):
    """Truthiness is JavaScript's: [] and {} are true, "" and 0 false."""
    assert evaluate(f"({value}) ? true : false") is expected
    assert evaluate(f"!({value})") is not expected


def test_ternary_nests_to_the_right(evaluate):
    """a ? b : c ? d : e reads as a ? b : (c ? d : e)."""
    assert evaluate("false ? 1 : true ? 2 : 3") == 2
    assert evaluate("$input.age > 30 ? 'senior' : 'junior'") == "senior"


def test_ternary_evaluates_one_branch(evaluate):
    """Only the chosen branch of ?: is evaluated."""
    assert evaluate("true ? 1 : missing.property") == 1


def test_long_operator_chain_evaluates(evaluate):
    """A chain of thousands of + does not exhaust the stack."""
    assert evaluate("+".join(["1"] * 3000)) == 3000
