"""A compiled bare expression (``item.active == true``) and its cache."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any, Final

from linkflow_engine._exceptions import ExpressionError, LinkflowError

from ._semantics import MAX_STEPS, UNDEFINED, Budget

__all__ = ["CACHE_SIZE", "Expression", "compile_expression", "evaluation_failure"]

CACHE_SIZE: Final = 4096


class Expression:
    """A bare expression, parsed and compiled once; ``evaluate`` runs it against a scope."""

    __slots__ = ("_run", "cost", "kernel", "kernel_is_boolean", "selector", "source")

    def __init__(self, source: str) -> None:
        from ._compiler import compile_tree
        from ._parser import parse

        self.source = source
        try:
            root, self.cost = compile_tree(parse(source), source)
        except ExpressionError as exc:
            raise ExpressionError(exc.reason, expression=source, column=exc.column) from None
        self._run = root.run
        # For predicates that read only `item`: a function of the item (see _code.Kernel).
        self.kernel = root.kernel
        self.kernel_is_boolean = root.boolean
        self.selector = root.selector

    def __repr__(self) -> str:
        return f"Expression({self.source!r})"

    def evaluate(self, scope: Mapping[str, Any]) -> Any:
        """The value of the expression; a final undefined becomes None."""
        value = self.evaluate_with(scope, Budget(MAX_STEPS))
        return None if value is UNDEFINED else value

    def evaluate_with(self, scope: Mapping[str, Any], budget: Budget) -> Any:
        """Evaluate within an existing step budget (templates and predicates share one);
        the result may be UNDEFINED. Every failure is an ExpressionError naming this text."""
        budget.spend(self.cost)
        try:
            return self._run(scope, budget)
        except Exception as exc:
            raise evaluation_failure(exc, self.source) from None


def evaluation_failure(exc: Exception, source: str) -> Exception:
    """``exc`` as the error an evaluation of ``source`` raises."""
    if isinstance(exc, ExpressionError):
        if exc.expression is not None:
            return exc
        return ExpressionError(exc.reason, expression=source, column=exc.column)
    if isinstance(exc, LinkflowError):
        return exc  # raised on purpose by a value the engine put in the scope
    if isinstance(exc, RecursionError):
        return ExpressionError("expression too deeply nested to evaluate", expression=source)
    return ExpressionError(f"evaluation failed: {type(exc).__name__}: {exc}", expression=source)


def compile_expression(text: str) -> Expression:
    """The compiled form of a bare expression (no braces), cached by text.

    Raises ExpressionError (with ``expression`` and ``column``) when it does not parse.
    """
    if not isinstance(text, str):
        raise ExpressionError(f"an expression must be a string, not {type(text).__name__}")
    return _cached_expression(text)


@functools.lru_cache(maxsize=CACHE_SIZE)
def _cached_expression(text: str) -> Expression:
    return Expression(text)
