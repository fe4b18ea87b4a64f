"""Nothing outside JSON values and the whitelisted functions is reachable."""

from __future__ import annotations

import pytest

from linkflow_engine._exceptions import ExpressionError
from linkflow_engine.expressions import compile_expression, compile_template


class Secretive:
    """A Python object placed in the scope: its attributes must stay out of reach."""

    secret = "s3cr3t"


@pytest.mark.parametrize(
    "text",
    [
        "$input.__class__",
        '$input["__class__"]',
        "$input.__dict__",
        "$input.keys",
        "$input.name.__class__",
        "$input.users.__len__",
        "$obj.secret",
        '$obj["secret"]',
        "__import__",
        "__builtins__",
        "$input.constructor",
    ],
)
def test_escape_payloads_are_undefined(evaluate, text):
    """Dunder and attribute names read as missing keys: undefined."""
    assert evaluate(text, {"$input": {"name": "x", "users": []}, "$obj": Secretive()}) is None


@pytest.mark.parametrize(
    "text",
    [
        '"".__class__.__mro__',
        "__import__.system",
        "$input.__class__.__bases__",
    ],
)
def test_escape_chains_are_errors(evaluate, text):
    """Chaining on an undefined escape attempt is a property-of-undefined error."""
    with pytest.raises(ExpressionError, match="cannot read property"):
        evaluate(text, {"$input": {}})


@pytest.mark.parametrize(
    "text",
    [
        'constructor.constructor("return process")()',
        '__import__("os")',
        "$input.__class__()",
        'eval("1")',
        "$eval('1')",
        "$exec('1')",
        "$getattr($input, '__class__')",
        "(1).__add__(2)",
        "$input.name.format()",
    ],
)
def test_calls_outside_the_whitelist_do_not_compile(text):
    """Calling anything but a $-function or a whitelisted method fails to compile."""
    with pytest.raises(ExpressionError):
        compile_expression(text)


def test_template_with_escape_payload_renders_nothing():
    """A template reading a dunder renders empty text, never a Python repr."""
    assert compile_template("x{{ $input.__class__ }}y").evaluate({"$input": {}}) == "xy"


def test_predicate_strings_are_sandboxed_too():
    """Predicates of $filter are expressions with the same limits."""
    with pytest.raises(ExpressionError):
        compile_expression('$filter($input, "item.__class__()")')
