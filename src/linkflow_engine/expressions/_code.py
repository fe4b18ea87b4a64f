"""The compiled form shared by the compiler modules: a closure plus its constant value."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

from linkflow_engine._exceptions import ExpressionError

from ._semantics import Budget, to_string

__all__ = [
    "INTERNAL_FAILURES",
    "Compiled",
    "Evaluator",
    "Scope",
    "constant",
    "fold",
    "located",
    "property_error",
]

Scope = Mapping[str, Any]
Evaluator = Callable[[Scope, Budget], Any]

_DYNAMIC: Final = object()
# Python errors a function or operator may raise on odd (non-JSON) values; they become
# ExpressionErrors instead of escaping as crashes.
INTERNAL_FAILURES: Final = (TypeError, ValueError, ArithmeticError, LookupError)


class Compiled:
    """A compiled node: its closure, and its value when it is a compile-time constant."""

    __slots__ = ("constant", "run")

    def __init__(self, run: Evaluator, value: Any = _DYNAMIC) -> None:
        self.run = run
        self.constant = value

    @property
    def is_constant(self) -> bool:
        return self.constant is not _DYNAMIC


def constant(value: Any) -> Compiled:
    return Compiled(lambda scope, budget: value, value)


def fold(run: Evaluator) -> Compiled:
    """A constant when the closure succeeds without a scope; failures wait for run time."""
    try:
        value = run({}, Budget())
    except (ExpressionError, *INTERNAL_FAILURES):
        return Compiled(run)
    return constant(value)


def located(exc: ExpressionError, column: int) -> ExpressionError:
    """The error with ``column`` when it does not know where it happened yet."""
    if exc.column is not None:
        return exc
    return ExpressionError(exc.reason, column=column)


def property_error(obj: Any, key: Any, column: int, subject: str) -> ExpressionError:
    reason = f"cannot read property '{to_string(key)}' of {to_string(obj)}"
    return ExpressionError(f"{reason} ({subject} is {to_string(obj)})", column=column)
