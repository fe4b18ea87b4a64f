"""Array ``$``-functions, including ``$filter``/``$map``/``$find`` over predicate strings.

A predicate is a bare expression evaluated once per item with ``item`` and ``index`` added to
the caller's scope; it is compiled once (at compile time when written as a literal) and every
item spends from the evaluation's step budget, so no predicate can run unbounded.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Final

from linkflow_engine._exceptions import ExpressionError

from ._functions_object import read_path
from ._registry import expect_array, expect_integer, function, optional
from ._semantics import (
    UNDEFINED,
    Budget,
    check_array_size,
    is_array,
    is_nullish,
    is_number,
    to_string,
    truthy,
)
from ._template import Expression, compile_expression

__all__: list[str] = []


def _items(value: Any) -> Sequence[Any]:
    """Arrays, and strings as sequences of characters where JavaScript allows it."""
    return value if isinstance(value, str) else expect_array(value, 1)


@function("first")
def first(items: Any) -> Any:
    sequence = _items(items)
    return sequence[0] if len(sequence) else UNDEFINED


@function("last")
def last(items: Any) -> Any:
    sequence = _items(items)
    return sequence[-1] if len(sequence) else UNDEFINED


@function("nth")
def nth(items: Any, position: Any) -> Any:
    """The item at ``position``; negative positions count from the end."""
    sequence, index = _items(items), expect_integer(position, 2)
    return sequence[index] if -len(sequence) <= index < len(sequence) else UNDEFINED


@function("slice")
def slice_(items: Any, start: Any = UNDEFINED, end: Any = UNDEFINED) -> Any:
    """JavaScript ``slice``: negative bounds count from the end; works on strings too."""
    sequence = _items(items)
    begin = expect_integer(optional(start, 0), 2)
    stop = len(sequence) if end is UNDEFINED else expect_integer(end, 3)
    if isinstance(sequence, str):
        return sequence[begin:stop]
    return list(sequence)[begin:stop]


@function("reverse")
def reverse(items: Any) -> Any:
    sequence = _items(items)
    return sequence[::-1] if isinstance(sequence, str) else list(reversed(sequence))


def _sort_key(value: Any) -> tuple[int, Any]:
    # Numbers, then strings, then booleans, then everything else; null and undefined last.
    if is_number(value):
        return (0, value) if value == value else (3, 0)
    if isinstance(value, str):
        return (1, value)
    if isinstance(value, bool):
        return (2, value)
    return (4, 0) if is_nullish(value) else (3, 0)


@function("sort", contextual=True)
def sort(scope: Mapping[str, Any], budget: Budget, items: Any, key: Any = UNDEFINED) -> list[Any]:
    """Numbers numerically and strings by code point (not JavaScript's all-strings default);
    ``key`` is a property path (``"address.city"``) to sort objects by."""
    sequence = expect_array(items, 1)
    budget.spend(len(sequence) * max(1, math.ceil(math.log2(len(sequence) + 1))))
    if key is UNDEFINED:
        return sorted(sequence, key=_sort_key)
    return sorted(sequence, key=lambda item: _sort_key(read_path(item, key, 2)))


def _identity(value: Any) -> Any:
    """A hashable key under which equal JSON values (``1`` and ``1.0``, equal objects) meet."""
    if isinstance(value, bool):
        return ("boolean", value)
    if is_number(value):
        return ("number", value)
    if isinstance(value, str) or is_nullish(value):
        return ("value", value)
    return ("json", json.dumps(value, sort_keys=True, default=_plain))


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return dict(value)
    return list(value) if is_array(value) else None


@function("unique")
def unique(items: Any, key: Any = UNDEFINED) -> list[Any]:
    """Items in first-seen order without repeats, compared by value (or by ``key`` path)."""
    seen: set[Any] = set()
    result = []
    for item in expect_array(items, 1):
        identity = _identity(item if key is UNDEFINED else read_path(item, key, 2))
        if identity not in seen:
            seen.add(identity)
            result.append(item)
    return result


def _flattened(items: Sequence[Any], depth: int) -> Iterator[Any]:
    for item in items:
        if depth > 0 and is_array(item):
            yield from _flattened(item, depth - 1)
        else:
            yield item


@function("flatten")
def flatten(items: Any, depth: Any = UNDEFINED) -> list[Any]:
    """``Array.prototype.flat``: one level by default."""
    levels = min(expect_integer(optional(depth, 1), 2), 50)
    result: list[Any] = []
    for item in _flattened(expect_array(items, 1), levels):
        result.append(item)
        if len(result) > 1000 and len(result) & 0xFFFF == 0:
            check_array_size(len(result))
    check_array_size(len(result))
    return result


@function("groupBy")
def group_by(items: Any, key: Any) -> dict[str, list[Any]]:
    """An object of arrays keyed by the string form of each item's ``key`` path."""
    groups: dict[str, list[Any]] = {}
    for item in expect_array(items, 1):
        groups.setdefault(to_string(read_path(item, key, 2)), []).append(item)
    return groups


# --- predicates ----------------------------------------------------------------------------


def _predicate(value: Any) -> Expression:
    if isinstance(value, Expression):
        return value
    if not isinstance(value, str):
        raise ExpressionError("argument 2 must be an expression string such as 'item.active'")
    try:
        return compile_expression(value)
    except ExpressionError as exc:
        raise ExpressionError(f"argument 2 is not a valid expression: {exc.message}") from None


def _each(
    scope: Mapping[str, Any], budget: Budget, sequence: Sequence[Any], expression: Expression
) -> Iterator[tuple[Any, Any]]:
    """Every item with the predicate's value for it, evaluated in the caller's scope."""
    local = dict(scope)
    for index, item in enumerate(sequence):
        local["item"], local["index"] = item, index
        try:
            yield item, expression.evaluate_with(local, budget)
        except ExpressionError as exc:
            where = f" at column {exc.column}" if exc.column is not None else ""
            raise ExpressionError(
                f"{exc.reason}{where} in {expression.source!r} for item {index}"
            ) from None


def _fast(
    budget: Budget, sequence: Sequence[Any], expression: Expression, body: Callable[..., Any]
) -> Any:
    """``body(kernel)`` when the predicate reads only ``item`` (no scope per item needed);
    NOT_DONE when it reads more, or fails (the general loop then names the failing item)."""
    kernel = expression.kernel
    if kernel is None:
        return _NOT_DONE
    budget.spend(expression.cost * len(sequence))
    try:
        return body(kernel)
    except ExpressionError:
        return _NOT_DONE


_NOT_DONE: Final = object()


@function("filter", contextual=True, predicate_arg=1)
def filter_(scope: Mapping[str, Any], budget: Budget, items: Any, predicate: Any) -> list[Any]:
    sequence, expression = expect_array(items, 1), _predicate(predicate)
    if (select := expression.selector) is not None:
        kept = _fast(budget, sequence, expression, lambda k: select(sequence))
    elif expression.kernel_is_boolean:
        kept = _fast(budget, sequence, expression, lambda k: [i for i in sequence if k(i)])
    else:
        kept = _fast(budget, sequence, expression, lambda k: [i for i in sequence if truthy(k(i))])
    if kept is not _NOT_DONE:
        return kept  # type: ignore[no-any-return]
    return [item for item, keep in _each(scope, budget, sequence, expression) if truthy(keep)]


def _defined(value: Any) -> Any:
    return None if value is UNDEFINED else value


@function("map", contextual=True, predicate_arg=1)
def map_(scope: Mapping[str, Any], budget: Budget, items: Any, mapper: Any) -> list[Any]:
    sequence, expression = expect_array(items, 1), _predicate(mapper)
    mapped = _fast(budget, sequence, expression, lambda k: [_defined(k(i)) for i in sequence])
    if mapped is not _NOT_DONE:
        return mapped  # type: ignore[no-any-return]
    return [_defined(value) for _, value in _each(scope, budget, sequence, expression)]


@function("find", contextual=True, predicate_arg=1)
def find(scope: Mapping[str, Any], budget: Budget, items: Any, predicate: Any) -> Any:
    sequence, expression = expect_array(items, 1), _predicate(predicate)
    pairs = _each(scope, budget, sequence, expression)
    return next((item for item, hit in pairs if truthy(hit)), UNDEFINED)
