"""Whole config values: every string of a JSON value compiled as a template.

A value without any ``{{`` resolves to itself (the same object, no copy), so static configs
cost nothing per run. A failure names the config path of the string that failed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any, Final

from linkflow_engine._exceptions import ExpressionError

from ._semantics import is_array
from ._template import compile_template

__all__ = ["CompiledValue", "compile_value", "expression_problems"]

Resolver = Callable[[Mapping[str, Any]], Any]
_IDENTIFIER: Final = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")


class _Located(Exception):
    """Carries an ExpressionError up to ``resolve`` with the relative path of its string."""

    def __init__(self, error: ExpressionError, suffix: str) -> None:
        super().__init__(error.message)
        self.error = error
        self.suffix = suffix


def key_path(key: Any) -> str:
    """``.name`` for identifier keys, ``["odd key"]`` for the rest."""
    text = str(key)
    return f".{text}" if _IDENTIFIER.fullmatch(text) else f"[{json.dumps(text)}]"


class CompiledValue:
    """A JSON value with its templates compiled; ``resolve`` evaluates them for a scope."""

    __slots__ = ("_resolver", "has_expressions", "value")

    def __init__(self, value: Any) -> None:
        self.value = value
        self._resolver = _compile(value, "")
        self.has_expressions = self._resolver is not None

    def __repr__(self) -> str:
        return f"CompiledValue(has_expressions={self.has_expressions})"

    def resolve(self, scope: Mapping[str, Any], *, path: str = "config") -> Any:
        """The value with every template evaluated (the value itself when there are none).

        An ExpressionError names ``path`` plus the location of the failing string.
        """
        if self._resolver is None:
            return self.value
        try:
            return self._resolver(scope)
        except _Located as located:
            raise located.error.located(path=path + located.suffix) from None


def _compile(value: Any, suffix: str) -> Resolver | None:
    """A resolver for ``value``, or None when nothing in it is an expression."""
    if isinstance(value, str):
        return _compile_string(value, suffix)
    if isinstance(value, Mapping):
        return _compile_mapping(value, suffix)
    if is_array(value):
        return _compile_list(value, suffix)
    return None


def _compile_string(text: str, suffix: str) -> Resolver | None:
    template = compile_template(text)
    if template.is_static:
        return None
    evaluate = template.evaluate

    def resolve(scope: Mapping[str, Any]) -> Any:
        try:
            return evaluate(scope)
        except ExpressionError as exc:
            raise _Located(exc, suffix) from None

    return resolve


def _compile_mapping(value: Mapping[str, Any], suffix: str) -> Resolver | None:
    dynamic = {}
    for key, item in value.items():
        resolver = _compile(item, suffix + key_path(key))
        if resolver is not None:
            dynamic[key] = resolver
    if not dynamic:
        return None

    def resolve(scope: Mapping[str, Any]) -> dict[str, Any]:
        result = dict(value)
        for key, resolver in dynamic.items():
            result[key] = resolver(scope)
        return result

    return resolve


def _compile_list(value: Any, suffix: str) -> Resolver | None:
    dynamic = {}
    for index, item in enumerate(value):
        resolver = _compile(item, f"{suffix}[{index}]")
        if resolver is not None:
            dynamic[index] = resolver
    if not dynamic:
        return None

    def resolve(scope: Mapping[str, Any]) -> list[Any]:
        result = list(value)
        for index, resolver in dynamic.items():
            result[index] = resolver(scope)
        return result

    return resolve


def compile_value(value: Any) -> CompiledValue:
    """Compile every string of a JSON value (dicts, lists, strings) as a template.

    Raises the first ExpressionError found; use :func:`expression_problems` to list them all.
    """
    return CompiledValue(value)


def expression_problems(value: Any, path: str) -> list[dict[str, str]]:
    """Every string of ``value`` whose expressions do not parse, as ``{field, message}``."""
    problems: list[dict[str, str]] = []
    stack: list[tuple[Any, str]] = [(value, path)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, str):
            _check_string(item, where, problems)
        elif isinstance(item, Mapping):
            stack.extend((child, where + key_path(key)) for key, child in item.items())
        elif is_array(item):
            stack.extend((child, f"{where}[{i}]") for i, child in enumerate(item))
    return sorted(problems, key=lambda problem: problem["field"])


def _check_string(text: str, where: str, problems: list[dict[str, str]]) -> None:
    if "{{" not in text:
        return
    try:
        compile_template(text)
    except ExpressionError as exc:
        column = f" at column {exc.column}" if exc.column is not None else ""
        shown = f" in '{exc.expression}'" if exc.expression is not None else ""
        problems.append({"field": where, "message": f"{exc.reason}{column}{shown}"})
