"""The compiled form shared by the compiler modules: a closure plus its constant value."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from linkflow_engine._exceptions import ExpressionError

from ._semantics import Budget, to_string

__all__ = [
    "INTERNAL_FAILURES",
    "Compiled",
    "Evaluator",
    "Kernel",
    "Scope",
    "constant",
    "fold",
    "located",
    "property_error",
]

Scope = Mapping[str, Any]
Evaluator = Callable[[Scope, Budget], Any]
# A kernel computes a predicate's value from the item alone: $filter and friends call it per
# item without building a scope, which is what makes them fast.
Kernel = Callable[[Any], Any]

_DYNAMIC: Final = object()
# Python errors a function or operator may raise on odd (non-JSON) values; they become
# ExpressionErrors instead of escaping as crashes.
INTERNAL_FAILURES: Final = (TypeError, ValueError, ArithmeticError, LookupError)


class Compiled:
    """A compiled node: its closure, and its value when it is a compile-time constant."""

    __slots__ = ("boolean", "constant", "item_key", "kernel", "run", "selector")

    def __init__(
        self,
        run: Evaluator,
        value: Any = _DYNAMIC,
        *,
        kernel: Kernel | None = None,
        boolean: bool = False,
        item_key: str | None = None,
    ) -> None:
        self.run = run
        self.constant = value
        # Set when the node depends on nothing but the variable `item` (see Kernel).
        self.kernel = kernel
        # True when the value is always a bool, so callers may skip the truthiness test.
        self.boolean = boolean
        # The key when the node is exactly `item.<key>` (lets `item.k == c` fuse into one call).
        self.item_key = item_key
        # The items for which the kernel is truthy, in one comprehension (no call per item).
        self.selector: Callable[[Sequence[Any]], list[Any]] | None = None

    @property
    def is_constant(self) -> bool:
        return self.constant is not _DYNAMIC


def constant(value: Any) -> Compiled:
    return Compiled(
        lambda scope, budget: value,
        value,
        kernel=lambda item: value,
        boolean=isinstance(value, bool),
    )


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
