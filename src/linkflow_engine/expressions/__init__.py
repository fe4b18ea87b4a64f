"""The LinkFlow expression language: ``{{ }}`` templates with JavaScript-style semantics.

Text is parsed once (lark) into Python closures and cached; evaluation reaches only JSON values
and the whitelisted ``$``-functions, within bounds on length, result size and steps. Every
failure is an :class:`~linkflow_engine._exceptions.ExpressionError` with the expression text and
column. See ``docs/expressions.md`` for the language.
"""

from __future__ import annotations

from ._semantics import UNDEFINED
from ._template import Expression, Template, compile_expression, compile_template
from ._values import CompiledValue, compile_value, expression_problems

__all__ = [
    "UNDEFINED",
    "CompiledValue",
    "Expression",
    "Template",
    "compile_expression",
    "compile_template",
    "compile_value",
    "expression_problems",
]
