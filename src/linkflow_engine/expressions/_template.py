"""Compiled expressions and templates (text with ``{{ expression }}`` parts), and their caches.

A template that is exactly one ``{{ }}`` (whitespace around allowed) yields the typed value;
mixed text yields a string in which null and undefined are empty and objects are JSON, as n8n
writes them. Text without ``{{`` is static: evaluating it returns the text itself.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any, Final

from linkflow_engine._exceptions import ExpressionError, LinkflowError

from ._semantics import MAX_STEPS, UNDEFINED, Budget, check_string_size, to_text

__all__ = ["Expression", "Template", "compile_expression", "compile_template"]

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


# --- templates ----------------------------------------------------------------------------

_OPEN: Final = "{{"
_QUOTES: Final = "\"'"


class Template:
    """A compiled template string; ``evaluate`` renders it against a scope."""

    __slots__ = ("_parts", "_single", "is_static", "source")

    def __init__(self, source: str) -> None:
        self.source = source
        self._parts: list[str | Expression] = _split(source) if _OPEN in source else [source]
        self.is_static = _OPEN not in source
        expressions = [part for part in self._parts if isinstance(part, Expression)]
        only_one = len(expressions) == 1 and not any(
            isinstance(part, str) and part.strip() for part in self._parts
        )
        self._single = expressions[0] if only_one else None

    def __repr__(self) -> str:
        return f"Template({self.source!r})"

    @property
    def expressions(self) -> list[Expression]:
        """The ``{{ }}`` parts, in order."""
        return [part for part in self._parts if isinstance(part, Expression)]

    def evaluate(self, scope: Mapping[str, Any]) -> Any:
        """The typed value of a lone ``{{ }}``, else the rendered string."""
        if self.is_static:
            return self.source
        if self._single is not None:
            return self._single.evaluate(scope)
        budget = Budget(MAX_STEPS)
        pieces = [
            part if isinstance(part, str) else _text(part.evaluate_with(scope, budget))
            for part in self._parts
        ]
        check_string_size(sum(map(len, pieces)))
        return "".join(pieces)


def _text(value: Any) -> str:
    return "" if value is UNDEFINED else to_text(value)


def _split(source: str) -> list[str | Expression]:
    """The literal text and compiled expressions of a template, in order."""
    parts: list[str | Expression] = []
    position = 0
    while (start := source.find(_OPEN, position)) >= 0:
        if start > position:
            parts.append(source[position:start])
        end = _closing(source, start + 2)
        parts.append(_compile_body(source[start + 2 : end]))
        position = end + 2
    if position < len(source):
        parts.append(source[position:])
    return parts


def _closing(source: str, position: int) -> int:
    """The index of the ``}}`` ending the expression that starts at ``position``.

    Quotes and object-literal braces are skipped, so ``{{ {a: {b: 1}} }}`` and
    ``{{ "}}" }}`` close where a reader expects.
    """
    depth, quote, index = 0, "", position
    while index < len(source):
        char = source[index]
        if quote:
            if char == "\\":
                index += 1
            elif char == quote:
                quote = ""
        elif char in _QUOTES:
            quote = char
        elif char == "{":
            depth += 1
        elif char == "}":
            if depth == 0 and source.startswith("}}", index):
                return index
            depth = max(0, depth - 1)
        index += 1
    raise ExpressionError("unterminated '{{': missing '}}'", expression=source, column=position - 1)


def _compile_body(body: str) -> Expression:
    text = body.strip()
    if not text:
        raise ExpressionError("empty expression in '{{ }}'", expression=body, column=1)
    return compile_expression(text)


def compile_template(text: str) -> Template:
    """The compiled form of a template string, cached by text, so each is parsed once.

    Raises ExpressionError (``expression`` = the ``{{ }}`` body, ``column`` 1-based in it)
    when a part does not parse.
    """
    if not isinstance(text, str):
        raise ExpressionError(f"a template must be a string, not {type(text).__name__}")
    return _cached_template(text)


@functools.lru_cache(maxsize=CACHE_SIZE)
def _cached_template(text: str) -> Template:
    return Template(text)
