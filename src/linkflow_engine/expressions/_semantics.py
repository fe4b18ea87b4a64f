"""JavaScript semantics over JSON values: undefined, truthiness, conversions, operators.

Expressions look like JavaScript, so users expect its answers (``"a" + 1`` is ``"a1"``, ``[]`` is
truthy, ``1 / 0`` is ``Infinity``). Values are plain JSON values or any ``Mapping``/``Sequence``;
Python objects are never inspected beyond ``__getitem__``, ``in`` and ``len``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any, Final

from linkflow_engine._exceptions import ExpressionError

__all__ = [
    "MAX_ARRAY_LENGTH",
    "MAX_STRING_LENGTH",
    "UNDEFINED",
    "Budget",
    "check_array_size",
    "check_string_size",
    "get_property",
    "is_array",
    "is_nullish",
    "is_number",
    "json_text",
    "to_number",
    "to_string",
    "to_text",
    "truthy",
    "type_name",
]

MAX_STRING_LENGTH: Final = 10_000_000
MAX_ARRAY_LENGTH: Final = 1_000_000
MAX_STEPS: Final = 1_000_000
# Integers beyond 2**53 are not exact in JavaScript; past it we switch to floats as JS does.
_MAX_SAFE: Final = 2**53


class _Undefined:
    """The JavaScript ``undefined``: what a missing variable or property evaluates to."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "UNDEFINED"

    def __bool__(self) -> bool:
        return False

    def __reduce__(self) -> str:
        return "UNDEFINED"


UNDEFINED: Final = _Undefined()


class Budget:
    """The steps an evaluation may still take; predicates and large results spend it."""

    __slots__ = ("remaining",)

    def __init__(self, remaining: int = MAX_STEPS) -> None:
        self.remaining = remaining

    def spend(self, steps: int) -> None:
        self.remaining -= steps
        if self.remaining < 0:
            raise ExpressionError(f"evaluation exceeded the budget of {MAX_STEPS:,} steps")


def check_string_size(length: int) -> None:
    if length > MAX_STRING_LENGTH:
        raise ExpressionError(f"string result longer than {MAX_STRING_LENGTH:,} characters")


def check_array_size(length: int) -> None:
    if length > MAX_ARRAY_LENGTH:
        raise ExpressionError(f"array result longer than {MAX_ARRAY_LENGTH:,} items")


# --- type tests ---------------------------------------------------------------------------


def is_number(value: Any) -> bool:
    kind = type(value)
    return kind is int or kind is float


def is_nullish(value: Any) -> bool:
    return value is None or value is UNDEFINED


def is_array(value: Any) -> bool:
    if type(value) is list:
        return True
    return isinstance(value, Sequence) and not isinstance(value, str | bytes | bytearray)


def type_name(value: Any) -> str:
    """The name used in error messages: JSON names rather than Python ones."""
    if value is UNDEFINED:
        return "undefined"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if is_number(value):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "object"
    return "array" if is_array(value) else "unsupported value"


def truthy(value: Any) -> bool:
    """JavaScript truthiness: ``""``, ``0``, NaN, null, undefined are false; ``[]``, ``{}`` true."""
    if value is True or value is False:
        return bool(value)
    if value is None or value is UNDEFINED:
        return False
    kind = type(value)
    if kind is str:
        return bool(value != "")
    if kind is int or kind is float:
        return bool(value == value and value != 0)
    return True


# --- numbers ------------------------------------------------------------------------------

_DECIMAL = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_RADIX = {"0x": 16, "0o": 8, "0b": 2}


def normalise(number: float | int) -> float | int:
    """Integral floats become ints and huge ints floats, so results print as JavaScript would."""
    if isinstance(number, float):
        if number.is_integer() and -_MAX_SAFE <= number <= _MAX_SAFE:
            return int(number)
        return number
    if -_MAX_SAFE <= number <= _MAX_SAFE:
        return number
    try:
        return float(number)
    except OverflowError:
        return math.inf if number > 0 else -math.inf


def string_to_number(text: str) -> float | int:
    text = text.strip()
    if not text:
        return 0
    if text in ("Infinity", "+Infinity", "-Infinity"):
        return -math.inf if text[0] == "-" else math.inf
    radix = _RADIX.get(text[:2].lower())
    if radix is not None:
        try:
            return normalise(int(text[2:], radix))
        except ValueError:
            return math.nan
    if _DECIMAL.fullmatch(text):
        return normalise(float(text))
    return math.nan


def to_number(value: Any) -> float | int:
    """JavaScript ``Number(value)``."""
    kind = type(value)
    if kind is int or kind is float:
        return value  # type: ignore[no-any-return]
    if kind is bool:
        return int(value)
    if value is None:
        return 0
    if kind is str:
        return string_to_number(value)
    if is_array(value):
        return string_to_number(to_string(value))
    return math.nan


def number_text(number: float | int) -> str:
    """JavaScript's Number::toString: shortest round-trip digits, exponent only past 1e21."""
    if type(number) is int:
        return str(number)
    if number != number:
        return "NaN"
    if math.isinf(number):
        return "Infinity" if number > 0 else "-Infinity"
    if float(number).is_integer() and abs(number) < 1e21:
        return str(int(number))
    sign = "-" if number < 0 else ""
    mantissa, _, exponent = repr(abs(number)).partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = (whole + fraction).lstrip("0")
    point = len(whole) + int(exponent or 0) - (len(whole + fraction) - len(digits))
    digits = digits.rstrip("0")
    return sign + _place_point(digits, point)


def _place_point(digits: str, point: int) -> str:
    count = len(digits)
    if count <= point <= 21:
        return digits + "0" * (point - count)
    if 0 < point <= 21:
        return f"{digits[:point]}.{digits[point:]}"
    if -6 < point <= 0:
        return "0." + "0" * -point + digits
    exponent = point - 1
    fraction = f".{digits[1:]}" if count > 1 else ""
    return f"{digits[0]}{fraction}e{'+' if exponent >= 0 else '-'}{abs(exponent)}"


# --- strings ------------------------------------------------------------------------------


def to_string(value: Any) -> str:
    """JavaScript ``String(value)``: what ``+`` concatenates and methods see."""
    kind = type(value)
    if kind is str:
        return value  # type: ignore[no-any-return]
    if kind is int or kind is float:
        return number_text(value)
    if kind is bool:
        return "true" if value else "false"
    if value is None:
        return "null"
    if value is UNDEFINED:
        return "undefined"
    if isinstance(value, str):
        return str(value)
    if isinstance(value, Mapping):
        return "[object Object]"
    if is_array(value):
        return ",".join("" if is_nullish(item) else to_string(item) for item in value)
    return "[object Object]"


def to_text(value: Any) -> str:
    """A value as template text (n8n): null and undefined vanish, objects and arrays are JSON."""
    if isinstance(value, str):
        return value
    if value is None or value is UNDEFINED:
        return ""
    if isinstance(value, Mapping) or is_array(value):
        return json_text(value)
    return to_string(value)


def _json_default(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(key): item for key, item in value.items() if item is not UNDEFINED}
    if is_array(value):
        return list(value)
    if value is UNDEFINED:
        return None
    raise ExpressionError(f"cannot convert {type_name(value)} to JSON")


def _finite(value: Any) -> Any:
    """JSON.stringify writes NaN and Infinity as null."""
    if type(value) is float and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {str(k): _finite(v) for k, v in value.items() if v is not UNDEFINED}
    if is_array(value):
        return [_finite(item) for item in value]
    return value


def json_text(value: Any, indent: int | None = None) -> str:
    """``JSON.stringify(value, null, indent)``, compact by default."""
    separators = (",", ":") if indent is None else (",", ": ")
    options: dict[str, Any] = {"ensure_ascii": False, "separators": separators, "indent": indent}
    try:
        text = json.dumps(value, default=_json_default, allow_nan=False, **options)
    except ValueError as exc:
        if "circular" in str(exc).lower():
            raise ExpressionError("cannot convert a circular structure to JSON") from None
        text = json.dumps(_finite(value), default=_json_default, **options)
    check_string_size(len(text))
    return text


# --- property access ------------------------------------------------------------------------

_CANONICAL_INDEX = re.compile(r"0|[1-9]\d{0,15}")


def array_index(key: Any) -> int | None:
    """The array position a key denotes (``0``, ``2.0``, ``"3"``), or None."""
    kind = type(key)
    if kind is int:
        return int(key) if key >= 0 else None
    if kind is float:
        return int(key) if key >= 0 and key.is_integer() else None
    if kind is str and _CANONICAL_INDEX.fullmatch(key):
        return int(key)
    return None


def get_property(obj: Any, key: Any) -> Any:
    """``obj[key]`` as JavaScript reads it; undefined when absent, an error on null/undefined."""
    if type(obj) is dict:
        return obj.get(key if type(key) is str else to_string(key), UNDEFINED)
    if obj is None or obj is UNDEFINED:
        raise ExpressionError(f"cannot read property '{to_string(key)}' of {to_string(obj)}")
    if isinstance(obj, str) or is_array(obj):
        index = array_index(key)
        if index is not None:
            return obj[index] if index < len(obj) else UNDEFINED
        return len(obj) if key == "length" else UNDEFINED
    if isinstance(obj, Mapping):
        name = key if type(key) is str else to_string(key)
        # Membership first: lazy engine mappings need only __contains__ and __getitem__.
        return obj[name] if name in obj else UNDEFINED  # noqa: SIM401
    # Numbers, booleans and any other Python object have no readable properties.
    return UNDEFINED
