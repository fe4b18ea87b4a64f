"""Member access, indexing and method calls: the postfix chain after a primary expression.

Reads go through ``get_property`` only (``__getitem__``, ``in``, ``len``), never ``getattr``,
so ``$input.__class__`` is just a missing key. A chain of constant keys on a variable
(``$input.a.b``, ``$node["Fetch"].data``) compiles to one path getter with a dict fast path.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from linkflow_engine._exceptions import ExpressionError

from ._code import Compiled, Evaluator, Kernel, Scope, fold, located, property_error
from ._methods import METHOD_NAMES, call_method
from ._semantics import UNDEFINED, Budget, get_property, to_string

if TYPE_CHECKING:
    from ._compiler import _Compiler

# lark trees are loosely typed (children are trees or tokens); the grammar fixes their shape.
Tree = Any

__all__ = ["compile_postfix"]

# (key as given, key as a dict key, column, text of the object being read)
PathStep = tuple[Any, str, int, str]


def compile_postfix(compiler: _Compiler, node: Tree) -> Compiled:
    primary, *trailers = node.children
    start = primary.meta.start_pos
    current = compiler.compile(primary)
    variable = _variable_name(primary)
    path: list[PathStep] = []
    for trailer in trailers:
        compiler.nodes += 1
        kind, key, column, subject = _describe(compiler, trailer, start)
        if variable is not None and kind != "method" and key.is_constant:
            path.append((key.constant, to_string(key.constant), column, subject))
            continue
        if variable is not None and path:
            current, path = _path_node(variable, path), []
        variable = None
        current = _apply(compiler, kind, current, key, trailer, column, subject)
    if variable is not None and path:
        current = _path_node(variable, path)
    return current


def _path_node(variable: str, path: list[PathStep]) -> Compiled:
    if variable != "item":
        return Compiled(_path_getter(variable, path))
    single_key = path[0][0] if len(path) == 1 and isinstance(path[0][0], str) else None
    return Compiled(_path_getter(variable, path), kernel=_path_kernel(path), item_key=single_key)


def _path_kernel(steps: list[PathStep]) -> Kernel:
    """The path getter of a predicate's ``item.a.b``, reading the item directly."""

    def kernel(value: Any) -> Any:
        for key, dict_key, column, subject in steps:
            if type(value) is dict:
                value = value.get(dict_key, UNDEFINED)
            elif value is None or value is UNDEFINED:
                raise property_error(value, key, column, subject)
            else:
                value = get_property(value, key)
        return value

    return kernel


def _variable_name(primary: Tree) -> str | None:
    """The variable a path getter may start from (not the clock variables, which compute)."""
    if primary.data != "variable":
        return None
    name = str(primary.children[0])
    return None if name in ("$now", "$today") else name


def _describe(compiler: _Compiler, trailer: Tree, start: int) -> tuple[str, Compiled, int, str]:
    """The trailer's kind, key, column and the source text of the object it reads."""
    text = compiler.text
    if trailer.data == "index":
        key_tree = trailer.children[0]
        column = key_tree.meta.start_pos + 1 if hasattr(key_tree, "meta") else 1
        bracket = text.rfind("[", start, column - 1)
        return "index", compiler.compile(key_tree), column, text[start:bracket].strip()
    name = trailer.children[0]
    column = name.start_pos + 1
    dot = text.rfind(".", start, column - 1)
    kind = "method" if trailer.data == "method" else "member"
    return kind, Compiled(lambda s, b: str(name), str(name)), column, text[start:dot].strip()


def _apply(
    compiler: _Compiler,
    kind: str,
    current: Compiled,
    key: Compiled,
    trailer: Tree,
    column: int,
    subject: str,
) -> Compiled:
    if kind == "method":
        return _method(compiler, current, str(key.constant), trailer, column, subject)
    if key.is_constant:
        run = _constant_access(current.run, key.constant, column, subject)
    else:
        run = _dynamic_access(current.run, key.run, column, subject)
    return fold(run) if current.is_constant and key.is_constant else Compiled(run)


def _path_getter(name: str, steps: list[PathStep]) -> Evaluator:
    """``$input.a.b``: one closure walking the keys, dicts read directly."""

    def run(scope: Scope, budget: Budget) -> Any:
        value = scope.get(name, UNDEFINED)
        for key, dict_key, column, subject in steps:
            if type(value) is dict:
                value = value.get(dict_key, UNDEFINED)
            elif value is None or value is UNDEFINED:
                raise property_error(value, key, column, subject)
            else:
                value = get_property(value, key)
        return value

    if len(steps) == 1:
        ((key, dict_key, column, subject),) = steps

        def run_one(scope: Scope, budget: Budget) -> Any:
            value = scope.get(name, UNDEFINED)
            if type(value) is dict:
                return value.get(dict_key, UNDEFINED)
            if value is None or value is UNDEFINED:
                raise property_error(value, key, column, subject)
            return get_property(value, key)

        return run_one
    return run


def _constant_access(obj: Evaluator, key: Any, column: int, subject: str) -> Evaluator:
    dict_key = to_string(key)

    def run(scope: Scope, budget: Budget) -> Any:
        value = obj(scope, budget)
        if type(value) is dict:
            return value.get(dict_key, UNDEFINED)
        if value is None or value is UNDEFINED:
            raise property_error(value, key, column, subject)
        return get_property(value, key)

    return run


def _dynamic_access(obj: Evaluator, key: Evaluator, column: int, subject: str) -> Evaluator:
    def run(scope: Scope, budget: Budget) -> Any:
        value, name = obj(scope, budget), key(scope, budget)
        if value is None or value is UNDEFINED:
            raise property_error(value, name, column, subject)
        return get_property(value, name)

    return run


def _method(
    compiler: _Compiler, receiver: Compiled, name: str, trailer: Tree, column: int, subject: str
) -> Compiled:
    if name not in METHOD_NAMES:
        raise ExpressionError(f"unknown method {name}()", column=column)
    arguments = compiler.arguments(trailer)
    receiver_run, argument_runs = receiver.run, [a.run for a in arguments]

    def run(scope: Scope, budget: Budget) -> Any:
        value = receiver_run(scope, budget)
        if value is None or value is UNDEFINED:
            raise property_error(value, name, column, subject)
        try:
            return call_method(value, name, [a(scope, budget) for a in argument_runs])
        except ExpressionError as exc:
            raise located(exc, column) from None

    constant = receiver.is_constant and all(a.is_constant for a in arguments)
    return fold(run) if constant else Compiled(run)
