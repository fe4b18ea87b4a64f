"""The binary and unary operators with JavaScript semantics, each a plain function of values."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, Final

from ._semantics import (
    MAX_STRING_LENGTH,
    UNDEFINED,
    check_string_size,
    is_array,
    is_number,
    normalise,
    to_number,
    to_string,
    truthy,
)

__all__ = ["BINARY", "UNARY", "loose_equals", "strict_equals"]

_PRIMITIVES: Final = (str, int, float, bool)


def _to_primitive(value: Any) -> Any:
    """Objects and arrays meet operators as their string form, as JavaScript's ToPrimitive does."""
    if isinstance(value, Mapping) or is_array(value):
        return to_string(value)
    return value


def concat(left: str, right: str) -> str:
    if len(left) + len(right) > MAX_STRING_LENGTH:
        check_string_size(len(left) + len(right))
    return left + right


def add(left: Any, right: Any) -> Any:
    """``+``: numbers add, and any string (or object/array) operand makes it a concatenation."""
    kind_l, kind_r = type(left), type(right)
    if kind_l is str and kind_r is str:
        return concat(left, right)
    if (kind_l is int or kind_l is float) and (kind_r is int or kind_r is float):
        return normalise(left + right)
    left, right = _to_primitive(left), _to_primitive(right)
    if isinstance(left, str) or isinstance(right, str):
        return concat(to_string(left), to_string(right))
    return normalise(to_number(left) + to_number(right))


def subtract(left: Any, right: Any) -> Any:
    return normalise(to_number(left) - to_number(right))


def multiply(left: Any, right: Any) -> Any:
    return normalise(to_number(left) * to_number(right))


def divide(left: Any, right: Any) -> Any:
    dividend, divisor = to_number(left), to_number(right)
    if divisor == 0:
        if dividend == 0 or dividend != dividend:
            return math.nan
        return math.inf if (dividend > 0) == (math.copysign(1, divisor) > 0) else -math.inf
    if type(dividend) is int and type(divisor) is int and dividend % divisor == 0:
        return normalise(dividend // divisor)
    return normalise(dividend / divisor)


def remainder(left: Any, right: Any) -> Any:
    """``%`` takes the sign of the dividend, as in JavaScript (Python's ``%`` does not)."""
    dividend, divisor = to_number(left), to_number(right)
    if divisor == 0 or math.isinf(dividend) or dividend != dividend or divisor != divisor:
        return math.nan
    if math.isinf(divisor):
        return dividend
    if type(dividend) is int and type(divisor) is int:
        result = abs(dividend) % abs(divisor)
        return -result if dividend < 0 else result
    return normalise(math.fmod(dividend, divisor))


def strict_equals(left: Any, right: Any) -> bool:
    """``===``: same type and value; objects and arrays only equal themselves."""
    kind_l, kind_r = type(left), type(right)
    if kind_l is kind_r and kind_l in _PRIMITIVES:
        return bool(left == right)
    if is_number(left) and is_number(right):
        return bool(left == right)
    return left is right


def loose_equals(left: Any, right: Any) -> bool:
    """``==``: null equals only undefined; numbers, strings and booleans meet as numbers."""
    kind_l, kind_r = type(left), type(right)
    if kind_l is kind_r and kind_l in _PRIMITIVES:
        return bool(left == right)
    if left is None or left is UNDEFINED:
        return right is None or right is UNDEFINED
    if right is None or right is UNDEFINED:
        return False
    if kind_l is bool:
        return loose_equals(int(left), right)
    if kind_r is bool:
        return loose_equals(left, int(right))
    object_l = isinstance(left, Mapping) or is_array(left)
    object_r = isinstance(right, Mapping) or is_array(right)
    if object_l or object_r:
        if object_l and object_r:
            return left is right
        return loose_equals(_to_primitive(left), _to_primitive(right))
    if isinstance(left, str) and isinstance(right, str):
        return left == right
    return to_number(left) == to_number(right)


def _compare(left: Any, right: Any) -> tuple[Any, Any] | None:
    """The pair to compare: both strings, or both numbers; None when NaN makes it false."""
    kind_l, kind_r = type(left), type(right)
    if (kind_l is int or kind_l is float) and (kind_r is int or kind_r is float):
        return left, right
    left, right = _to_primitive(left), _to_primitive(right)
    if isinstance(left, str) and isinstance(right, str):
        return left, right
    number_l, number_r = to_number(left), to_number(right)
    if number_l != number_l or number_r != number_r:
        return None
    return number_l, number_r


def less(left: Any, right: Any) -> bool:
    pair = _compare(left, right)
    return pair is not None and pair[0] < pair[1]


def less_equal(left: Any, right: Any) -> bool:
    pair = _compare(left, right)
    return pair is not None and pair[0] <= pair[1]


def greater(left: Any, right: Any) -> bool:
    pair = _compare(left, right)
    return pair is not None and pair[0] > pair[1]


def greater_equal(left: Any, right: Any) -> bool:
    pair = _compare(left, right)
    return pair is not None and pair[0] >= pair[1]


BINARY: Final[dict[str, Callable[[Any, Any], Any]]] = {
    "+": add,
    "-": subtract,
    "*": multiply,
    "/": divide,
    "%": remainder,
    "===": strict_equals,
    "!==": lambda left, right: not strict_equals(left, right),
    "==": loose_equals,
    "!=": lambda left, right: not loose_equals(left, right),
    "<": less,
    "<=": less_equal,
    ">": greater,
    ">=": greater_equal,
}

UNARY: Final[dict[str, Callable[[Any], Any]]] = {
    "!": lambda value: not truthy(value),
    "-": lambda value: normalise(-to_number(value)),
    "+": to_number,
}
