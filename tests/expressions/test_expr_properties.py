"""Properties (Hypothesis): compiling and evaluating never crash, printing round-trips."""

from __future__ import annotations

import contextlib
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from linkflow_engine._exceptions import ExpressionError
from linkflow_engine.expressions import compile_expression, compile_template

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats() | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(["a", "b", "item", "length", "x"]), children, max_size=4)
    ),
    max_leaves=12,
)
scopes = st.fixed_dictionaries(
    {"$input": json_values, "$json": json_values, "item": json_values, "$x": json_values}
)

TOKENS = [
    "$input", "$json", "$x", "item", ".a", ".b", ".length", "[0]", "['a']", "(", ")", "[", "]",
    "{", "}", ",", ":", "1", "0", "2.5", "'s'", '"t"', "true", "null", "undefined", " + ", " - ",
    " * ", " / ", " % ", " == ", " === ", " != ", " < ", " >= ", " && ", " || ", " ?? ", " ? ",
    "!", "-", "$uppercase(", "$length(", "$filter(", "$map(", "$keys(", "$sum(", "$split(",
    "$join(", "$get(", "$toJson(", "$padStart(", "$flatten(", "$sort(", "'item.a'", ".trim()",
    ".toUpperCase()", ".split(',')", ".join()",
]  # fmt: skip
token_soup = st.lists(st.sampled_from(TOKENS), min_size=1, max_size=14).map("".join)


@given(st.text(max_size=60))
def test_any_text_compiles_or_raises_expression_error(text):
    """Arbitrary text either compiles or raises ExpressionError, nothing else."""
    with contextlib.suppress(ExpressionError):
        compile_expression(text)


@given(st.text(alphabet="{}$ab. '\"", max_size=30))
def test_any_template_compiles_or_raises_expression_error(text):
    """Arbitrary template text either compiles or raises ExpressionError."""
    with contextlib.suppress(ExpressionError):
        compile_template(text)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(token_soup, scopes)
def test_evaluation_returns_or_raises_expression_error(text, scope):
    """Any compiled expression on random JSON scopes returns or raises ExpressionError."""
    try:
        expression = compile_expression(text)
    except ExpressionError:
        return
    with contextlib.suppress(ExpressionError):
        expression.evaluate(scope)


# --- round trip: generated arithmetic/string ASTs -----------------------------------------

numbers = st.integers(-1000, 1000)
strings = st.text(alphabet="abc xyz'\"\\", max_size=5)
leaves = st.one_of(numbers.map(lambda n: ("num", n)), strings.map(lambda s: ("str", s)))


def _tree(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.tuples(st.sampled_from(["+", "-", "*"]), children, children)


trees = st.recursive(leaves, _tree, max_leaves=10)


def render(tree: Any, spaced: bool) -> str:
    """The tree as expression text, fully parenthesised."""
    kind = tree[0]
    if kind == "num":
        return f"({tree[1]})"
    if kind == "str":
        return json.dumps(tree[1])
    gap = " " if spaced else ""
    return f"({render(tree[1], spaced)}{gap}{kind}{gap}{render(tree[2], spaced)})"


def reference(tree: Any) -> Any:
    """JavaScript semantics of the generated trees, computed directly (None for NaN)."""
    kind = tree[0]
    if kind in ("num", "str"):
        return tree[1]
    left, right = reference(tree[1]), reference(tree[2])
    if kind == "+" and (isinstance(left, str) or isinstance(right, str)):
        return _js_text(left) + _js_text(right)
    a, b = _js_number(left), _js_number(right)
    if a is None or b is None:
        return None
    return a + b if kind == "+" else a - b if kind == "-" else a * b


def _js_text(value: Any) -> str:
    return "NaN" if value is None else str(value)


def _js_number(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, int):
        return value
    text = value.strip()
    if not text:
        return 0
    try:
        return int(text)
    except ValueError:
        return None


@settings(max_examples=300)
@given(trees)
def test_printed_trees_reparse_to_the_same_value(tree):
    """Printing a generated AST and parsing it back gives the value JavaScript would."""
    expected = reference(tree)
    compact = compile_expression(render(tree, spaced=False)).evaluate({})
    spaced = compile_expression(render(tree, spaced=True)).evaluate({})
    if expected is None:
        assert compact != compact and spaced != spaced  # NaN
    elif isinstance(expected, int) and abs(expected) > 2**53:
        assert compact == spaced == float(expected)
    else:
        assert compact == spaced == expected
