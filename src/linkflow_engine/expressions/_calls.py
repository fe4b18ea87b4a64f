"""Calls of ``$``-functions: arity checked at compile time, literal predicates compiled early,
``$if`` evaluated lazily, pure calls on constants folded, and every failure located."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from linkflow_engine._exceptions import ExpressionError

from ._code import INTERNAL_FAILURES, Compiled, Evaluator, Scope, constant, fold, located
from ._registry import FunctionSpec
from ._semantics import UNDEFINED, Budget, truthy

if TYPE_CHECKING:
    from ._compiler import _Compiler

# lark trees are loosely typed (children are trees or tokens); the grammar fixes their shape.
Tree = Any

__all__ = ["compile_call"]


def compile_call(
    compiler: _Compiler, spec: FunctionSpec, argument_trees: list[Tree], column: int
) -> Compiled:
    problem = spec.check_arity(len(argument_trees))
    if problem is not None:
        raise ExpressionError(problem, column=column)
    arguments = [compiler.compile(tree) for tree in argument_trees]
    if spec.predicate_arg is not None and spec.predicate_arg < len(arguments):
        arguments[spec.predicate_arg] = _predicate(spec, arguments[spec.predicate_arg], column)
    if spec.name == "if":
        return _lazy_if(arguments)
    run = _call(spec, [a.run for a in arguments], column)
    if spec.pure and not spec.contextual and all(a.is_constant for a in arguments):
        return fold(run)
    return Compiled(run)


def _predicate(spec: FunctionSpec, argument: Compiled, column: int) -> Compiled:
    """A literal predicate string compiled now, so a typo in it fails validation."""
    if not (argument.is_constant and isinstance(argument.constant, str)):
        return argument
    from ._expression import compile_expression

    try:
        return constant(compile_expression(argument.constant))
    except ExpressionError as exc:
        reason = f"${spec.name}: argument {(spec.predicate_arg or 0) + 1} is not a valid expression"
        raise ExpressionError(f"{reason}: {exc.message}", column=column) from None


def _lazy_if(arguments: list[Compiled]) -> Compiled:
    """``$if(cond, a, b)`` evaluates only the branch it returns, like ``cond ? a : b``."""
    test, then = arguments[0], arguments[1]
    otherwise = arguments[2] if len(arguments) > 2 else constant(UNDEFINED)
    if test.is_constant:
        return then if truthy(test.constant) else otherwise
    test_run, then_run, otherwise_run = test.run, then.run, otherwise.run
    return Compiled(
        lambda scope, budget: (
            then_run(scope, budget)
            if truthy(test_run(scope, budget))
            else otherwise_run(scope, budget)
        )
    )


def _call(spec: FunctionSpec, argument_runs: list[Evaluator], column: int) -> Evaluator:
    impl, name, contextual = spec.impl, spec.name, spec.contextual

    def run(scope: Scope, budget: Budget) -> Any:
        arguments = [argument(scope, budget) for argument in argument_runs]
        try:
            if contextual:
                return impl(scope, budget, *arguments)
            return impl(*arguments)
        except ExpressionError as exc:
            if exc.column is not None:
                raise
            raise located(ExpressionError(f"${name}: {exc.reason}"), column) from None
        except INTERNAL_FAILURES as exc:
            reason = f"${name}: {type(exc).__name__}: {exc}"
            raise ExpressionError(reason, column=column) from None

    return run
