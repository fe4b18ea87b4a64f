"""Fixtures for the expression tests: evaluate a bare expression or a template in one call."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pytest

from linkflow_engine.expressions import compile_expression

Evaluate = Callable[..., Any]

SCOPE: dict[str, Any] = {
    "$input": {
        "name": "Ada",
        "surname": "Lovelace",
        "age": 36,
        "price": 12.5,
        "active": True,
        "tags": ["math", "poetry"],
        "empty": "",
        "nothing": None,
        "nested": {"a": {"b": 41}},
        "users": [
            {"name": "Ada", "active": True, "age": 36, "team": "a"},
            {"name": "Bob", "active": False, "age": 25, "team": "b"},
            {"name": "Cy", "active": True, "age": 41, "team": "a"},
        ],
    },
    "$env": {"API_URL": "https://example.test"},
    "$executionId": "exec-1",
}


@pytest.fixture
def scope() -> dict[str, Any]:
    return SCOPE


@pytest.fixture
def evaluate() -> Evaluate:
    """``evaluate("1 + 1")`` against the shared scope, or ``evaluate(text, scope)``."""

    def run(text: str, scope: Mapping[str, Any] | None = None) -> Any:
        return compile_expression(text).evaluate(SCOPE if scope is None else scope)

    return run
