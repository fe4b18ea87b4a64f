"""Array and object $-functions, predicates included."""

from __future__ import annotations

import pytest

from linkflow_engine._exceptions import ExpressionError
from linkflow_engine.expressions import compile_expression


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("$first([1, 2])", 1),
        ("$first([])", None),
        ("$last([1, 2])", 2),
        ("$first('abc')", "a"),
        ("$nth([1, 2, 3], 1)", 2),
        ("$nth([1, 2, 3], -1)", 3),
        ("$nth([1, 2, 3], 5)", None),
        ("$slice([1, 2, 3, 4], 1, 3)", [2, 3]),
        ("$slice([1, 2, 3, 4], -2)", [3, 4]),
        ("$slice('hello', 1)", "ello"),
        ("$reverse([1, 2, 3])", [3, 2, 1]),
        ("$reverse('abc')", "cba"),
        ("$sort([3, 1, 10, 2])", [1, 2, 3, 10]),
        ("$sort(['b', 'a', 'C'])", ["C", "a", "b"]),
        ("$sort([null, 2, 'a', 1])", [1, 2, "a", None]),
        ("$sort($input.users, 'age')[0].name", "Bob"),
        ("$unique([1, 2, 1, '1', 2.0])", [1, 2, "1"]),
        ("$unique([{a: 1}, {a: 1}, {a: 2}])", [{"a": 1}, {"a": 2}]),
        ("$unique($input.users, 'team').length", 2),
        ("$flatten([1, [2, [3]], []])", [1, 2, [3]]),
        ("$flatten([1, [2, [3]]], 5)", [1, 2, 3]),
        ("$groupBy($input.users, 'team').b[0].name", "Bob"),
        ("$keys($groupBy([{k: 1}, {k: 2}, {k: 1}], 'k'))", ["1", "2"]),
    ],
)
def test_array_functions(evaluate, text, expected):
    """Accessors, slicing, sorting, uniqueness, flattening and grouping."""
    assert evaluate(text) == expected


def test_sort_does_not_mutate(evaluate, scope):
    """$sort and $reverse return new arrays."""
    evaluate("$sort($input.users, 'name')")
    evaluate("$reverse($input.users)")
    assert [u["name"] for u in scope["$input"]["users"]] == ["Ada", "Bob", "Cy"]


def test_filter_with_predicate(evaluate):
    """$filter keeps the items whose predicate over `item` is truthy."""
    result = evaluate('$filter($input.users, "item.active == true")')
    assert [u["name"] for u in result] == ["Ada", "Cy"]
    assert evaluate("$filter($input.users, 'item.age > 30 && item.team == \"a\"')")[1]["age"] == 41


def test_filter_sees_index_and_outer_scope(evaluate):
    """Predicates see `index` and the caller's variables."""
    assert evaluate("$filter([5, 6, 7], 'index > 0')") == [6, 7]
    assert evaluate("$filter($input.users, 'item.age > $input.age')")[0]["name"] == "Cy"


def test_map_and_find(evaluate):
    """$map maps items through an expression; $find returns the first match."""
    assert evaluate('$map($input.users, "item.name")') == ["Ada", "Bob", "Cy"]
    assert evaluate("$map([1, 2], 'item * 10 + index')") == [10, 21]
    assert evaluate("$find($input.users, \"item.name.startsWith('B')\").age") == 25
    assert evaluate("$find([1, 2], 'item > 5')") is None


def test_dynamic_predicate_string(evaluate):
    """A predicate held in a variable is compiled (and cached) at run time."""
    assert evaluate("$filter([1, 2, 3], $p)", {"$p": "item >= 2"}) == [2, 3]


def test_bad_literal_predicate_fails_at_compile_time():
    """A literal predicate that does not parse fails when compiling the outer expression."""
    with pytest.raises(ExpressionError, match=r"\$filter: argument 2 is not a valid expression"):
        compile_expression("$filter($input.users, 'item.active ==')")


def test_predicate_runtime_error_names_predicate_and_item(evaluate):
    """A failing predicate names itself and the item index."""
    with pytest.raises(ExpressionError) as caught:
        evaluate("$map([{a: {b: 1}}, {}], 'item.a.b')")
    assert "$map: cannot read property 'b' of undefined" in caught.value.reason
    assert "for item 1" in caught.value.reason
    assert caught.value.column == 1


def test_predicate_must_be_a_string(evaluate):
    """A non-string predicate is an error naming the function."""
    with pytest.raises(ExpressionError, match=r"\$filter: argument 2 must be an expression"):
        evaluate("$filter([1], 5)")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("$keys({a: 1, b: 2})", ["a", "b"]),
        ("$values({a: 1, b: 2})", [1, 2]),
        ("$entries({a: 1})", [["a", 1]]),
        ("$keys({})", []),
        ("$merge({a: 1, b: 1}, {b: 2}, null)", {"a": 1, "b": 2}),
        ("$pick({a: 1, b: 2, c: 3}, 'a', 'c')", {"a": 1, "c": 3}),
        ("$pick({a: 1, b: 2}, ['b', 'z'])", {"b": 2}),
        ("$omit({a: 1, b: 2, c: 3}, ['a', 'c'])", {"b": 2}),
        ("$get({a: {b: [{c: 5}]}}, 'a.b[0].c')", 5),
        ("$get({a: {b: 1}}, 'a.x.y', 'dflt')", "dflt"),
        ("$get({a: null}, 'a', 0)", 0),
        ("$get({a: {b: 2}}, ['a', 'b'])", 2),
        ("$get($input, 'users[1].name')", "Bob"),
        ("$set({a: {b: 1}}, 'a.c', 2)", {"a": {"b": 1, "c": 2}}),
        ("$set({}, 'x.y.z', true)", {"x": {"y": {"z": True}}}),
        ("$set({l: [1, 2]}, 'l[1]', 9)", {"l": [1, 9]}),
        ("$set({l: [1, 2]}, 'l.2', 3)", {"l": [1, 2, 3]}),
    ],
)
def test_object_functions(evaluate, text, expected):
    """Keys, values, merging, picking and paths."""
    assert evaluate(text) == expected


def test_set_returns_a_new_object(evaluate):
    """$set leaves its input untouched."""
    original = {"a": {"b": 1}}
    assert evaluate("$set($o, 'a.b', 2)", {"$o": original}) == {"a": {"b": 2}}
    assert original == {"a": {"b": 1}}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("$keys([1])", r"\$keys: argument 1 must be an object, got array"),
        ("$merge({}, 3)", r"\$merge: argument 2 must be an object, got number 3"),
        ("$first(5)", r"\$first: argument 1 must be an array, got number 5"),
        ("$nth([1], 'a')", r"\$nth: argument 2 must be a number"),
        ("$sort('abc')", r"\$sort: argument 1 must be an array"),
        ("$set({}, '', 1)", r"\$set: argument 2 must be a non-empty path"),
    ],
)
def test_wrong_collection_arguments(evaluate, text, message):
    """Wrong argument types raise ExpressionError naming the function."""
    with pytest.raises(ExpressionError, match=message):
        evaluate(text)


def test_filter_fast_path_keeps_loose_equality(evaluate):
    """item.k == true keeps JavaScript's loose equality for every item type."""
    rows = [{"k": True}, {"k": 1}, {"k": "1"}, {"k": False}, {"k": 0}, {}, {"k": None}]
    assert evaluate('$filter($rows, "item.k == true")', {"$rows": rows}) == rows[:3]
    assert evaluate("$filter($rows, \"item.k == '1'\")", {"$rows": rows}) == rows[:3]


def test_filter_fast_path_on_non_dict_items(evaluate):
    """Items that are strings, numbers or mappings go through the general rules."""
    rows = ["abc", 5, [1], {"k": True}]
    assert evaluate('$filter($rows, "item.k == true")', {"$rows": rows}) == [{"k": True}]
    assert evaluate('$filter($rows, "item.length == 3")', {"$rows": rows}) == ["abc"]


def test_filter_fast_path_error_names_the_item(evaluate):
    """A null item fails with the predicate text and the item's index."""
    with pytest.raises(ExpressionError, match=r"'k' of null.*for item 1"):
        evaluate('$filter($rows, "item.k == true")', {"$rows": [{"k": True}, None]})


@pytest.mark.parametrize(
    ("predicate", "expected"),
    [
        ("item.n > 1", [2, 3]),
        ("item.n >= 2 && item.n < 3", [2]),
        ("!item.off", [1, 3]),
        ("item.n === 2 || item.n === 3", [2, 3]),
        ("item.n % 2 == 1", [1, 3]),
        ("item.tag ?? false", [3]),
    ],
)
def test_filter_predicate_shapes(evaluate, predicate, expected):
    """Comparison, logical and unary predicates select the same items as JavaScript."""
    rows = [{"n": 1}, {"n": 2, "off": True}, {"n": 3, "tag": "x"}]
    result = evaluate(f'$filter($rows, "{predicate}")', {"$rows": rows})
    assert [row["n"] for row in result] == expected
