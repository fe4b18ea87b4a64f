"""Number, type and conditional ``$``-functions."""

from __future__ import annotations

import json
import math
import random as random_module
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from linkflow_engine._exceptions import ExpressionError

from ._registry import expect_integer, expect_number, expect_text, function, optional
from ._semantics import (
    UNDEFINED,
    is_array,
    is_nullish,
    json_text,
    normalise,
    to_number,
    to_string,
    truthy,
)

__all__: list[str] = []

# --- number ------------------------------------------------------------------------------


def _shift(number: float | int, places: int) -> float:
    # Decimal shifting avoids binary artefacts: round(1.005, 2) is 1.01 as in lodash, not 1.0.
    return float(Decimal(repr(number)).scaleb(places))


@function("round")
def round_(value: Any, decimals: Any = UNDEFINED) -> float | int:
    """``Math.round`` (halves go up, towards +infinity) at ``decimals`` places."""
    number = expect_number(value, 1)
    places = expect_integer(optional(decimals, 0), 2)
    if not math.isfinite(number):
        return number
    if places == 0:
        return normalise(math.floor(number + 0.5))
    rounded = math.floor(_shift(number, places) + 0.5)
    return normalise(_shift(rounded, -places))


def _integral(value: Any, operation: Any) -> float | int:
    number = expect_number(value, 1)
    return normalise(operation(number)) if math.isfinite(number) else number


@function("floor")
def floor(value: Any) -> float | int:
    return _integral(value, math.floor)


@function("ceil")
def ceil(value: Any) -> float | int:
    return _integral(value, math.ceil)


@function("abs")
def abs_(value: Any) -> float | int:
    return normalise(abs(expect_number(value, 1)))


def _numbers(values: Sequence[Any]) -> list[float | int]:
    """The numbers of a call: either the arguments, or the items of a single array argument."""
    if len(values) == 1 and is_array(values[0]):
        values = values[0]
    return [expect_number(value, position) for position, value in enumerate(values, 1)]


@function("min")
def min_(*values: Any) -> float | int | None:
    numbers = _numbers(values)
    return min(numbers) if numbers else None


@function("max")
def max_(*values: Any) -> float | int | None:
    numbers = _numbers(values)
    return max(numbers) if numbers else None


@function("sum")
def sum_(*values: Any) -> float | int:
    return normalise(math.fsum(_numbers(values)))


@function("avg")
def avg(*values: Any) -> float | int | None:
    numbers = _numbers(values)
    return normalise(math.fsum(numbers) / len(numbers)) if numbers else None


@function("random", pure=False)
def random() -> float:
    return random_module.random()


@function("randomInt", pure=False)
def random_int(low: Any, high: Any) -> int:
    """A whole number between ``low`` and ``high``, both included."""
    first, last = expect_integer(low, 1), expect_integer(high, 2)
    if first > last:
        raise ExpressionError(f"the lower bound {first} is above the upper bound {last}")
    return random_module.randint(first, last)


# --- type --------------------------------------------------------------------------------


@function("typeof")
def typeof(value: Any) -> str:
    """Like JavaScript's ``typeof``, except that arrays are ``"array"`` and null ``"null"``."""
    if value is UNDEFINED:
        return "undefined"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if is_array(value) else "object"


@function("isNull")
def is_null(value: Any) -> bool:
    return is_nullish(value)


@function("isEmpty")
def is_empty(value: Any) -> bool:
    """True for null, undefined, ``""``, ``[]`` and ``{}``; numbers and booleans are never empty."""
    if is_nullish(value):
        return True
    if isinstance(value, str | Mapping) or is_array(value):
        return len(value) == 0
    return False


@function("toNumber")
def to_number_(value: Any) -> float | int:
    return to_number(value)


@function("toString")
def to_string_(value: Any) -> str:
    """JavaScript ``String()`` for primitives; objects and arrays become JSON text."""
    if isinstance(value, Mapping) or is_array(value):
        return json_text(value)
    return to_string(value)


_FALSE_WORDS = frozenset({"", "false", "0", "no", "off", "null", "undefined"})


@function("toBoolean")
def to_boolean(value: Any) -> bool:
    """JavaScript truthiness, except that strings like ``"false"``, ``"0"``, ``"no"`` are false."""
    if isinstance(value, str):
        return value.strip().lower() not in _FALSE_WORDS
    return truthy(value)


@function("toJson")
def to_json(value: Any, indent: Any = UNDEFINED) -> str | None:
    if value is UNDEFINED:
        return None
    spaces = None if indent is UNDEFINED else min(max(expect_integer(indent, 2), 0), 10)
    return json_text(value, spaces)


@function("fromJson")
def from_json(text: Any) -> Any:
    try:
        return json.loads(expect_text(text, 1))
    except (ValueError, RecursionError) as exc:
        reason = exc.msg if isinstance(exc, json.JSONDecodeError) else "too deeply nested"
        raise ExpressionError(f"argument 1 is not valid JSON: {reason}") from None


# --- conditional -------------------------------------------------------------------------


@function("if")
def if_(condition: Any, then: Any, otherwise: Any = UNDEFINED) -> Any:
    # The compiler evaluates $if lazily (only the chosen branch); this is its folded form.
    return then if truthy(condition) else otherwise


@function("coalesce")
def coalesce(*values: Any) -> Any:
    """The first value that is neither null nor undefined."""
    return next((value for value in values if not is_nullish(value)), UNDEFINED)


@function("default")
def default(value: Any, fallback: Any) -> Any:
    """``value`` unless it is null, undefined or the empty string."""
    return fallback if is_nullish(value) or value == "" else value
