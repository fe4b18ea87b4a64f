"""Variables, member access, indexing, literals and methods."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from linkflow_engine._exceptions import ExpressionError
from linkflow_engine.expressions import compile_expression


class LazyNodes(Mapping[str, Any]):
    """A mapping that only supports __getitem__/__contains__/__iter__/__len__, like $node."""

    def __init__(self) -> None:
        self.reads: list[str] = []

    def __getitem__(self, key: str) -> Any:
        self.reads.append(key)
        if key == "Fetch":
            return {"data": {"x": 7}}
        raise KeyError(key)

    def __contains__(self, key: object) -> bool:
        return key == "Fetch"

    def __iter__(self) -> Iterator[str]:
        return iter(["Fetch"])

    def __len__(self) -> int:
        return 1


def test_nested_member_access(evaluate):
    """$input.a.b reads nested keys."""
    assert evaluate("$input.nested.a.b") == 41


def test_index_access(evaluate):
    """Arrays index by number and objects by string key."""
    assert evaluate("$input.users[1].name") == "Bob"
    assert evaluate('$input["name"]') == "Ada"
    assert evaluate("$input.tags[0 + 1]") == "poetry"
    assert evaluate('$input.users["2"].name') == "Cy"


def test_out_of_range_index_is_undefined(evaluate):
    """An index past the end or negative gives undefined (None at the end)."""
    assert evaluate("$input.tags[5]") is None
    assert evaluate("$input.tags[-1]") is None


def test_length_of_strings_and_arrays(evaluate):
    """.length works on strings and arrays; on objects only as a key."""
    assert evaluate("$input.name.length") == 3
    assert evaluate("$input.tags.length") == 2
    assert evaluate("$input.nested.length") is None
    assert evaluate("{length: 4}.length") == 4


def test_string_index(evaluate):
    """Indexing a string gives its character."""
    assert evaluate("$input.name[0]") == "A"


def test_missing_variable_is_undefined(evaluate):
    """A variable that is not in the scope is undefined, not an error."""
    assert evaluate("$missing") is None
    assert evaluate("$missing === undefined") is True
    assert evaluate("typeof_missing ?? 'dflt'") == "dflt"


def test_missing_property_is_undefined(evaluate):
    """A missing key is undefined."""
    assert evaluate("$input.nope") is None


def test_property_of_undefined_is_an_error(evaluate):
    """Reading a property of undefined raises, naming the property and column."""
    with pytest.raises(ExpressionError) as caught:
        evaluate("$input.nope.deeper")
    assert "cannot read property 'deeper' of undefined" in caught.value.reason
    assert caught.value.column == 13
    assert caught.value.expression == "$input.nope.deeper"


def test_property_of_null_is_an_error(evaluate):
    """Reading a property of null raises as in JavaScript."""
    with pytest.raises(ExpressionError, match="of null"):
        evaluate("$input.nothing.x")
    with pytest.raises(ExpressionError, match="of null"):
        evaluate("$input.nothing[0]")


def test_property_of_missing_variable_is_an_error(evaluate):
    """$missing.x raises instead of silently rendering nothing (unlike Jinja)."""
    with pytest.raises(ExpressionError, match="'x' of undefined"):
        evaluate("$missing.x")


def test_lazy_mapping_through_getitem(evaluate):
    """$node["Fetch"].data and $node.Fetch.data work on any Mapping."""
    nodes = LazyNodes()
    assert evaluate('$node["Fetch"].data.x', {"$node": nodes}) == 7
    assert evaluate("$node.Fetch.data", {"$node": nodes}) == {"x": 7}
    assert evaluate("$node.Other", {"$node": nodes}) is None
    assert "Other" not in nodes.reads


def test_plain_identifiers_read_the_scope(evaluate):
    """Identifiers without $ (predicate variables) come from the scope."""
    assert evaluate("item.active == true", {"item": {"active": True}}) is True


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[1, 'a', null, true]", [1, "a", None, True]),
        ("[1, 2,]", [1, 2]),
        ("[]", []),
        ('{a: 1, "b c": 2, 3: "x"}', {"a": 1, "b c": 2, "3": "x"}),
        ("{a: {b: [1]}}", {"a": {"b": [1]}}),
        ("{a: undefined, b: 1}", {"b": 1}),
        ("[undefined]", [None]),
        ("{n: $input.age}", {"n": 36}),
        ("0x1F", 31),
        ("1e3", 1000),
        (".5", 0.5),
        ("1.25", 1.25),
        ("'it\\'s'", "it's"),
        ('"tab\\there"', "tab\there"),
        ('"\\u00e9\\u{1F600}"', "é😀"),
        ('"\\ud83d\\ude00"', "😀"),
        ("null", None),
        ("undefined", None),
    ],
)
def test_literals(evaluate, text, expected):
    """Array, object, number and string literals."""
    assert evaluate(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("$input.name.toUpperCase()", "ADA"),
        ("$input.name.toLowerCase()", "ada"),
        ("'  x '.trim()", "x"),
        ("$input.name.includes('d')", True),
        ("$input.tags.includes('math')", True),
        ("$input.name.startsWith('A')", True),
        ("$input.name.endsWith('a')", True),
        ("'a,b,c'.split(',')", ["a", "b", "c"]),
        ("'abc'.split('')", ["a", "b", "c"]),
        ("$input.tags.join(' & ')", "math & poetry"),
        ("$input.tags.join()", "math,poetry"),
        ("'abcdef'.slice(1, -1)", "bcde"),
        ("[1, 2, 3].slice(-2)", [2, 3]),
        ("'banana'.indexOf('n')", 2),
        ("[1, 2].indexOf(3)", -1),
        ("'a-a'.replace('a', 'b')", "b-a"),
        ("'a-a'.replaceAll('a', 'b')", "b-b"),
        ("(12).toString()", "12"),
        ("[1, [2, 3]].toString()", "1,2,3"),
        ("(3.14159).toFixed(2)", "3.14"),
        ("$input.price.toFixed(1)", "12.5"),
        ("'7'.padStart(3, '0')", "007"),
        ("true.toString()", "true"),
    ],
)
def test_whitelisted_methods(evaluate, text, expected):
    """The JavaScript methods users write on strings, arrays and numbers."""
    assert evaluate(text) == expected


def test_unknown_method_fails_at_compile_time():
    """A method outside the whitelist is rejected when compiling."""
    with pytest.raises(ExpressionError, match=r"unknown method constructor\(\)"):
        compile_expression("$input.constructor()")


def test_method_on_wrong_type(evaluate):
    """Calling a string method on a number is a clear error."""
    with pytest.raises(ExpressionError, match=r"toUpperCase\(\) is not a method of number"):
        evaluate("$input.age.toUpperCase()")


def test_method_on_undefined(evaluate):
    """Calling a method on undefined is the JavaScript error."""
    with pytest.raises(ExpressionError, match="cannot read property 'trim' of undefined"):
        evaluate("$input.nope.trim()")


def test_clock_variables_without_scope(evaluate):
    """Bare $now and $today give the current ISO datetime and date."""
    assert evaluate("$now").endswith("Z")
    assert len(evaluate("$today")) == 10
    assert evaluate("$now", {"$now": "fixed"}) == "fixed"


def test_timestamp_is_variable_and_function(evaluate):
    """$timestamp reads the scope; $timestamp() reads the clock."""
    assert evaluate("$timestamp", {"$timestamp": 5}) == 5
    assert evaluate("$timestamp()", {"$timestamp": 5}) > 1_600_000_000_000


def test_result_undefined_becomes_none(evaluate):
    """A final undefined never leaks out of evaluate()."""
    assert evaluate("undefined") is None
    assert evaluate("$map([1], 'item.x')") == [None]
