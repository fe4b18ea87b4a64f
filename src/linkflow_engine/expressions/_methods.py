"""The JavaScript methods users write on values (``$input.name.toUpperCase()``).

Only the names below exist, each implemented here for strings, arrays or numbers; a method call
never looks anything up on the Python object, so ``"".__class__`` and friends have nothing to
reach. Method names outside this table are rejected when the expression is compiled.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from linkflow_engine._exceptions import ExpressionError

from ._functions_text import contains_value, join_text, pad, replace_text, substring
from ._operators import strict_equals
from ._registry import expect_integer, expect_text, optional
from ._semantics import (
    UNDEFINED,
    is_array,
    is_number,
    number_text,
    to_string,
    type_name,
)

__all__ = ["METHOD_NAMES", "call_method"]

Method = Callable[..., Any]


def _split(text: str, separator: Any = UNDEFINED, limit: Any = UNDEFINED) -> list[str]:
    from ._functions_text import split

    return split(text, separator, limit)


def _slice(value: Any, start: Any = UNDEFINED, end: Any = UNDEFINED) -> Any:
    begin = expect_integer(optional(start, 0), 1)
    stop = len(value) if end is UNDEFINED else expect_integer(end, 2)
    return value[begin:stop] if isinstance(value, str) else list(value)[begin:stop]


def _index_of(value: Any, needle: Any) -> int:
    if isinstance(value, str):
        return value.find(expect_text(needle, 1))
    return next((i for i, item in enumerate(value) if strict_equals(item, needle)), -1)


def _to_fixed(number: Any, digits: Any = UNDEFINED) -> str:
    places = expect_integer(optional(digits, 0), 1)
    if not 0 <= places <= 100:
        raise ExpressionError("toFixed() digits must be between 0 and 100")
    if number != number or abs(number) in (float("inf"),) or abs(number) >= 1e21:
        return number_text(number)
    return f"{number:.{places}f}"


_STRING: Final[dict[str, Method]] = {
    "toUpperCase": lambda s: s.upper(),
    "toLowerCase": lambda s: s.lower(),
    "trim": lambda s: s.strip(),
    "trimStart": lambda s: s.lstrip(),
    "trimEnd": lambda s: s.rstrip(),
    "includes": lambda s, needle: contains_value(s, needle),
    "startsWith": lambda s, prefix: s.startswith(expect_text(prefix, 1)),
    "endsWith": lambda s, suffix: s.endswith(expect_text(suffix, 1)),
    "split": _split,
    "slice": _slice,
    "substring": substring,
    "indexOf": _index_of,
    "replace": lambda s, a, b: replace_text(s, expect_text(a, 1), expect_text(b, 2), 1),
    "replaceAll": lambda s, a, b: replace_text(s, expect_text(a, 1), expect_text(b, 2)),
    "padStart": lambda s, n, f=" ": pad(s, expect_integer(n, 1), expect_text(f, 2), at_start=True),
    "padEnd": lambda s, n, f=" ": pad(s, expect_integer(n, 1), expect_text(f, 2), at_start=False),
    "toString": lambda s: s,
}

_ARRAY: Final[dict[str, Method]] = {
    "includes": lambda a, needle: contains_value(a, needle),
    "join": lambda a, sep=",": join_text(a, expect_text(sep, 1)),
    "slice": _slice,
    "indexOf": _index_of,
    "toString": to_string,
}

_NUMBER: Final[dict[str, Method]] = {
    "toFixed": _to_fixed,
    "toString": number_text,
}

METHOD_NAMES: Final = frozenset(_STRING) | frozenset(_ARRAY) | frozenset(_NUMBER)


def _table(receiver: Any) -> dict[str, Method] | None:
    if isinstance(receiver, str):
        return _STRING
    if isinstance(receiver, bool):
        return {"toString": to_string}
    if is_number(receiver):
        return _NUMBER
    if is_array(receiver):
        return _ARRAY
    return None


def call_method(receiver: Any, name: str, args: list[Any]) -> Any:
    """``receiver.name(*args)`` for a whitelisted method of the receiver's JSON type."""
    if receiver is None or receiver is UNDEFINED:
        raise ExpressionError(f"cannot read property '{name}' of {to_string(receiver)}")
    method = (_table(receiver) or {}).get(name)
    if method is None:
        raise ExpressionError(f"{name}() is not a method of {type_name(receiver)} values")
    try:
        return method(receiver, *args)
    except TypeError:
        # Only the arity can be wrong here: every method checks its argument types itself.
        raise ExpressionError(f"{name}() does not take {len(args)} arguments") from None
