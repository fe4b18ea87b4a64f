"""Operator chains: ``a + b - c`` and ``a || b ?? c`` are one node each, evaluated left to
right in a loop, so a long chain costs no stack depth."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from linkflow_engine._exceptions import ExpressionError

from ._code import INTERNAL_FAILURES, Compiled, Evaluator, Kernel, Scope, fold, located
from ._operators import BINARY, loose_equals
from ._semantics import UNDEFINED, Budget, truthy

__all__ = ["binary_chain", "logical_chain"]

Step = tuple[str, Compiled, int]
Selector = Callable[[Sequence[Any]], list[Any]]


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
    if len(steps) == 1 and first.kernel is not None and steps[0][1].kernel is not None:
        return _with_kernel(first, *steps[0])
    return _binary_node(first, steps)


def _with_kernel(left: Compiled, operator: str, right: Compiled, column: int) -> Compiled:
    """A one-operator node over predicate kernels (``item.active == true``)."""
    node = _binary_node(left, [(operator, right, column)])
    if node.is_constant:
        return node
    node.boolean = operator in _BOOLEAN_OPERATORS
    node.kernel = _binary_kernel(operator, left, right, column)
    key, expected = left.item_key, right.constant
    if operator == "==" and key is not None and type(expected) in (str, int, bool):
        node.selector = _key_equals_selector(key, expected, node.kernel)
    return node


_BOOLEAN_OPERATORS = frozenset({"==", "!=", "===", "!==", "<", "<=", ">", ">="})


def _binary_kernel(operator: str, left: Compiled, right: Compiled, column: int) -> Kernel:
    function = BINARY[operator]
    key, expected = left.item_key, right.constant
    if operator == "==" and key is not None and type(expected) in (str, int, bool):
        return _key_equals_kernel(key, expected, left.kernel)  # type: ignore[arg-type]
    return _generic_kernel(function, left, right, column)


def _generic_kernel(
    function: Callable[[Any, Any], Any], left: Compiled, right: Compiled, column: int
) -> Kernel:
    left_kernel, right_kernel = left.kernel, right.kernel
    assert left_kernel is not None and right_kernel is not None

    def kernel(item: Any) -> Any:
        try:
            return function(left_kernel(item), right_kernel(item))
        except ExpressionError as exc:
            raise located(exc, column) from None

    return kernel


def _key_equals_kernel(key: str, expected: Any, slow: Kernel) -> Kernel:
    """``item.key == constant`` in one call: the hot case of ``$filter``."""
    kind = type(expected)

    def kernel(item: Any) -> bool:
        if type(item) is dict:
            value = item.get(key, UNDEFINED)
            if type(value) is kind:
                return value == expected  # type: ignore[no-any-return]  # str/int/bool: a bool
        return loose_equals(slow(item), expected)

    return kernel


def _key_equals_selector(key: str, expected: Any, slow: Kernel) -> Selector:
    """``$filter(rows, "item.key == constant")`` as a single comprehension."""
    kind = type(expected)

    def select(items: Sequence[Any]) -> list[Any]:
        return [
            item
            for item in items
            if (
                (
                    value == expected
                    if type(value := item.get(key, UNDEFINED)) is kind
                    else slow(item)
                )
                if type(item) is dict
                else slow(item)
            )
        ]

    return select


def _binary_node(first: Compiled, steps: list[Step]) -> Compiled:
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
        if first.kernel is not None and operand.kernel is not None and not first.is_constant:
            kernel = _logical_pair(operator, _scopeless(first.kernel), _scopeless(operand.kernel))
            return Compiled(
                run,
                kernel=lambda item: kernel(item, None),  # type: ignore[arg-type]
                boolean=first.boolean and operand.boolean,
            )
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


def _scopeless(kernel: Kernel) -> Evaluator:
    """A kernel in evaluator form, so the short-circuit logic above serves both."""
    return lambda item, _budget: kernel(item)
