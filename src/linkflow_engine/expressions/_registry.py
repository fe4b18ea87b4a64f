"""The table of ``$``-functions and the argument checks they share.

Each family module registers its functions with :func:`function`; the arity is read from the
Python signature once, so a call with the wrong number of arguments is a compile-time error.
Implementations raise ``ExpressionError`` with a bare reason; the compiler prefixes the
function's name and the column of the call.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, TypeVar

from linkflow_engine._exceptions import ExpressionError

from ._semantics import (
    UNDEFINED,
    is_array,
    is_number,
    number_text,
    string_to_number,
    to_string,
    type_name,
)

__all__ = [
    "FunctionSpec",
    "describe",
    "expect_array",
    "expect_integer",
    "expect_number",
    "expect_object",
    "expect_text",
    "function",
    "function_table",
]

F = TypeVar("F", bound=Callable[..., Any])


class FunctionSpec:
    """One ``$``-function: its implementation and how the compiler must call it."""

    __slots__ = ("contextual", "impl", "max_args", "min_args", "name", "predicate_arg", "pure")

    def __init__(
        self,
        name: str,
        impl: Callable[..., Any],
        *,
        pure: bool,
        contextual: bool,
        predicate_arg: int | None,
    ) -> None:
        self.name = name
        self.impl = impl
        self.pure = pure
        self.contextual = contextual
        self.predicate_arg = predicate_arg
        self.min_args, self.max_args = _arity(impl, skip=2 if contextual else 0)

    def check_arity(self, count: int) -> str | None:
        """Why ``count`` arguments do not fit, or None when they do."""
        if count < self.min_args or (self.max_args is not None and count > self.max_args):
            if self.max_args is None:
                expected = f"at least {self.min_args}"
            elif self.min_args == self.max_args:
                expected = str(self.min_args)
            else:
                expected = f"{self.min_args} to {self.max_args}"
            plural = "" if expected == "1" else "s"
            return f"${self.name} expects {expected} argument{plural}, got {count}"
        return None


_FUNCTIONS: Final[dict[str, FunctionSpec]] = {}


def _arity(impl: Callable[..., Any], *, skip: int) -> tuple[int, int | None]:
    params = list(inspect.signature(impl).parameters.values())[skip:]
    if any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in params):
        required = [p for p in params if p.kind is not inspect.Parameter.VAR_POSITIONAL]
        return len([p for p in required if p.default is inspect.Parameter.empty]), None
    return len([p for p in params if p.default is inspect.Parameter.empty]), len(params)


def function(
    name: str, *, pure: bool = True, contextual: bool = False, predicate_arg: int | None = None
) -> Callable[[F], F]:
    """Register ``$name``. ``contextual`` functions get ``(scope, budget, *args)``;
    ``predicate_arg`` marks the argument holding an expression string (compiled early when
    it is a literal); impure functions (random, clock) are never constant-folded."""

    def register(impl: F) -> F:
        _FUNCTIONS[name] = FunctionSpec(
            name, impl, pure=pure, contextual=contextual, predicate_arg=predicate_arg
        )
        return impl

    return register


def function_table() -> Mapping[str, FunctionSpec]:
    """Every registered function, keyed by name without the ``$``."""
    # Imported here, not at the top: the family modules import this one to register.
    from . import (  # noqa: F401
        _functions_array,
        _functions_date,
        _functions_number,
        _functions_object,
        _functions_text,
    )

    return _FUNCTIONS


# --- argument checks ---------------------------------------------------------------------


def describe(value: Any) -> str:
    """A value as an error message shows it: its type, and short primitives themselves."""
    if isinstance(value, str):
        shown = value if len(value) <= 30 else value[:27] + "..."
        return f"string {shown!r}"
    if is_number(value):
        return f"number {number_text(value)}"
    return type_name(value)


def _wrong(position: int, expected: str, value: Any) -> ExpressionError:
    return ExpressionError(f"argument {position} must be {expected}, got {describe(value)}")


def expect_text(value: Any, position: int) -> str:
    """A string; numbers and booleans are accepted as their JavaScript string form."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int | float):
        return to_string(value)
    raise _wrong(position, "a string", value)


def expect_number(value: Any, position: int) -> float | int:
    """A number; numeric strings are accepted, as JavaScript's Math functions accept them."""
    if is_number(value):
        return value  # type: ignore[no-any-return]
    if isinstance(value, str):
        number = string_to_number(value)
        if number == number and value.strip():
            return number
    raise _wrong(position, "a number", value)


def expect_integer(value: Any, position: int) -> int:
    number = expect_number(value, position)
    if number != number or number in (float("inf"), float("-inf")):
        raise _wrong(position, "a finite number", value)
    return int(number)


def expect_array(value: Any, position: int) -> Sequence[Any]:
    if type(value) is list or is_array(value):
        return value  # type: ignore[no-any-return]
    raise _wrong(position, "an array", value)


def expect_object(value: Any, position: int) -> Mapping[str, Any]:
    if isinstance(value, Mapping):
        return value
    raise _wrong(position, "an object", value)


def optional(value: Any, default: Any) -> Any:
    """The default for an omitted (or undefined) optional argument."""
    return default if value is UNDEFINED else value
