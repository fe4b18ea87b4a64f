"""Syntax tree to Python closures: one closure per node, built once, called per evaluation.

Each closure takes ``(scope, budget)``. Subtrees without variables or impure calls are folded
to constants at compile time, member chains on a variable (``$input.a.b``) become one path
getter, and operators with a constant operand get a specialised closure. Runtime failures are
raised as ``ExpressionError`` carrying the column of the failing sub-expression.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from linkflow_engine._exceptions import ExpressionError

from ._access import compile_postfix
from ._chains import binary_chain, logical_chain
from ._code import INTERNAL_FAILURES, Compiled, Evaluator, Scope, constant, fold, located
from ._operators import UNARY
from ._parser import number_literal, string_literal
from ._registry import FunctionSpec, function_table
from ._semantics import UNDEFINED, Budget, number_text, truthy

# lark trees are loosely typed (children are trees or tokens); the grammar fixes their shape.
Tree = Any

__all__ = ["compile_tree"]

# Bare $now and $today read the clock when the scope does not define them.
_CLOCK_VARIABLES: Final = ("$now", "$today")


def compile_tree(tree: Tree, text: str) -> tuple[Compiled, int]:
    """The compiled expression and its node count (the steps one run costs)."""
    compiler = _Compiler(text)
    return compiler.compile(tree), compiler.nodes


class _Compiler:
    def __init__(self, text: str) -> None:
        self.text = text
        self.nodes = 0
        self.functions = function_table()

    def compile(self, node: Tree) -> Compiled:
        self.nodes += 1
        handler: Callable[[Tree], Compiled] = getattr(self, f"_{node.data}")
        return handler(node)

    def column(self, node: Tree) -> int:
        start = node.start_pos if hasattr(node, "start_pos") else node.meta.start_pos
        return int(start or 0) + 1

    def source(self, node: Tree) -> str:
        return self.text[node.meta.start_pos : node.meta.end_pos]

    # --- literals ------------------------------------------------------------------------

    def _number(self, node: Tree) -> Compiled:
        return constant(number_literal(str(node.children[0])))

    def _string(self, node: Tree) -> Compiled:
        token = node.children[0]
        return constant(string_literal(str(token), self.column(token)))

    def _true(self, node: Tree) -> Compiled:
        return constant(True)

    def _false(self, node: Tree) -> Compiled:
        return constant(False)

    def _null(self, node: Tree) -> Compiled:
        return constant(None)

    def _undefined(self, node: Tree) -> Compiled:
        return constant(UNDEFINED)

    def _array(self, node: Tree) -> Compiled:
        items = self.arguments(node)
        runs = [item.run for item in items]

        def run(scope: Scope, budget: Budget) -> list[Any]:
            return [None if (v := item(scope, budget)) is UNDEFINED else v for item in runs]

        return fold(run) if all(i.is_constant for i in items) else Compiled(run)

    def _object(self, node: Tree) -> Compiled:
        pairs = [self.pair(p) for p in node.children[0].children] if node.children else []
        keys = [key for key, _ in pairs]
        runs = [value.run for _, value in pairs]

        def run(scope: Scope, budget: Budget) -> dict[str, Any]:
            result = {}
            for key, value_run in zip(keys, runs, strict=True):
                value = value_run(scope, budget)
                if value is not UNDEFINED:  # as JSON.stringify drops undefined members
                    result[key] = value
            return result

        return fold(run) if all(v.is_constant for _, v in pairs) else Compiled(run)

    def pair(self, node: Tree) -> tuple[str, Compiled]:
        key_token, value = node.children  # the grammar makes the key a token
        if key_token.type == "STRING":
            key = string_literal(str(key_token), self.column(key_token))
        elif key_token.type == "NUMBER":
            key = number_text(number_literal(str(key_token)))
        else:
            key = str(key_token)
        return key, self.compile(value)

    def arguments(self, node: Tree) -> list[Compiled]:
        trees = [c for c in node.children if not isinstance(c, str)]
        if not trees:
            return []
        return [self.compile(child) for child in trees[0].children]

    # --- variables and access ----------------------------------------------------------

    def _variable(self, node: Tree) -> Compiled:
        name = str(node.children[0])
        if name in _CLOCK_VARIABLES:
            return Compiled(_clock_variable(name, self.functions[name[1:]].impl))
        kernel = (lambda item: item) if name == "item" else None
        return Compiled(lambda scope, budget: scope.get(name, UNDEFINED), kernel=kernel)

    def _postfix(self, node: Tree) -> Compiled:
        return compile_postfix(self, node)

    # --- operators -----------------------------------------------------------------------

    def _unary(self, node: Tree) -> Compiled:
        *operators, operand_tree = node.children
        compiled = self.compile(operand_tree)
        for operator in reversed(operators):
            self.nodes += 1
            compiled = _apply_unary(UNARY[str(operator.children[0])], compiled)
        return compiled

    def _conditional(self, node: Tree) -> Compiled:
        test, then, otherwise = (self.compile(child) for child in node.children)
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

    def chain(self, node: Tree) -> tuple[Compiled, list[tuple[str, Compiled, int]]]:
        first, *rest = node.children
        steps = []
        for index in range(0, len(rest), 2):
            operator_tree, operand = rest[index], rest[index + 1]
            operator = str(operator_tree.children[0])
            steps.append((operator, self.compile(operand), self.column(operator_tree)))
        return self.compile(first), steps

    def _or_expr(self, node: Tree) -> Compiled:
        return logical_chain(*self.chain(node))

    _and_expr = _or_expr

    def _eq_expr(self, node: Tree) -> Compiled:
        return binary_chain(*self.chain(node))

    _rel_expr = _add_expr = _mul_expr = _eq_expr

    # --- calls ---------------------------------------------------------------------------

    def _call(self, node: Tree) -> Compiled:
        name_token = node.children[0]
        name = str(name_token)[1:]
        spec = self.functions.get(name)
        if spec is None:
            raise ExpressionError(f"unknown function ${name}", column=self.column(name_token))
        arguments = [c for c in node.children[1:] if not isinstance(c, str)]
        argument_trees = arguments[0].children if arguments else []
        return compile_call(self, spec, argument_trees, self.column(name_token))


def _clock_variable(name: str, read_clock: Callable[[], Any]) -> Evaluator:
    def run(scope: Scope, budget: Budget) -> Any:
        value = scope.get(name, UNDEFINED)
        return read_clock() if value is UNDEFINED else value

    return run


def _apply_unary(operator: Callable[[Any], Any], operand: Compiled) -> Compiled:
    if operand.is_constant:
        return constant(operator(operand.constant))
    operand_run, operand_kernel = operand.run, operand.kernel
    kernel = None if operand_kernel is None else lambda item: operator(operand_kernel(item))
    return Compiled(lambda scope, budget: operator(operand_run(scope, budget)), kernel=kernel)


# --- calls: arity checked now, literal predicates compiled early, $if lazy ----------------


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
    from ._template import compile_expression

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
