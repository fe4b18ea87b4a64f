"""Operator chains: ``a + b - c`` and ``a || b ?? c`` are one node each, evaluated left to
right in a loop, so a long chain costs no stack depth."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from linkflow_engine._exceptions import ExpressionError

from ._code import INTERNAL_FAILURES, Compiled, Evaluator, Scope, fold, located
from ._operators import BINARY, loose_equals
from ._semantics import UNDEFINED, Budget, truthy

__all__ = ["binary_chain", "logical_chain"]

Step = tuple[str, Compiled, int]


def _binary(operator: str, left: Evaluator, right: Compiled, column: int) -> Evaluator:
    function = BINARY[operator]
    if operator == "==" and right.is_constant and type(right.constant) in (str, int, bool):
        return _equals_constant(left, right.constant)
    right_run = right.run

    def run(scope: Scope, budget: Budget) -> Any:
        try:
            return function(left(scope, budget), right_run(scope, budget))
        except ExpressionError as exc:
            raise located(exc, column) from None
        except INTERNAL_FAILURES as exc:
            raise ExpressionError(f"{operator}: {exc}", column=column) from None

    return run


def _equals_constant(left: Evaluator, expected: Any) -> Evaluator:
    """``x == true`` / ``x == "a"``: a type test then ``==``; mixed types take the full rules."""
    kind = type(expected)

    def run(scope: Scope, budget: Budget) -> bool:
        value = left(scope, budget)
        if type(value) is kind:
            return bool(value == expected)
        return loose_equals(value, expected)

    return run


def binary_chain(first: Compiled, steps: list[Step]) -> Compiled:
    run = first.run
    if len(steps) <= 4:
        # Short chains nest closures (fastest); long ones loop (bounded stack).
        for operator, operand, column in steps:
            run = _binary(operator, run, operand, column)
    else:
        run = _binary_loop(first.run, steps)
    constant = first.is_constant and all(operand.is_constant for _, operand, _ in steps)
    return fold(run) if constant else Compiled(run)


def _binary_loop(first: Evaluator, steps: list[Step]) -> Evaluator:
    plan = [(BINARY[op], operand.run, column, op) for op, operand, column in steps]

    def run(scope: Scope, budget: Budget) -> Any:
        value = first(scope, budget)
        for function, operand, column, operator in plan:
            try:
                value = function(value, operand(scope, budget))
            except ExpressionError as exc:
                raise located(exc, column) from None
            except INTERNAL_FAILURES as exc:
                raise ExpressionError(f"{operator}: {exc}", column=column) from None
        return value

    return run


def _continues(operator: str) -> Callable[[Any], bool]:
    """Whether the right operand is evaluated, given the value so far (short-circuiting)."""
    if operator == "&&":
        return truthy
    if operator == "||":
        return lambda value: not truthy(value)
    return lambda value: value is None or value is UNDEFINED


def logical_chain(first: Compiled, steps: list[Step]) -> Compiled:
    """``&&``, ``||`` and ``??`` return an operand, as in JavaScript, never a coerced boolean."""
    first_run = first.run
    if len(steps) == 1:
        operator, operand, _ = steps[0]
        run = _logical_pair(operator, first_run, operand.run)
    else:
        plan = [(_continues(op), operand.run) for op, operand, _ in steps]

        def run(scope: Scope, budget: Budget) -> Any:
            value = first_run(scope, budget)
            for continues, operand_run in plan:
                if continues(value):
                    value = operand_run(scope, budget)
            return value

    constant = first.is_constant and all(operand.is_constant for _, operand, _ in steps)
    return fold(run) if constant else Compiled(run)


def _logical_pair(operator: str, left: Evaluator, right: Evaluator) -> Evaluator:
    if operator == "&&":
        return lambda scope, budget: (
            right(scope, budget) if truthy(value := left(scope, budget)) else value
        )
    if operator == "||":
        return lambda scope, budget: (
            value if truthy(value := left(scope, budget)) else right(scope, budget)
        )

    def nullish(scope: Scope, budget: Budget) -> Any:
        value = left(scope, budget)
        return right(scope, budget) if value is None or value is UNDEFINED else value

    return nullish
