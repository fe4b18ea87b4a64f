"""Checking a node's ``config`` against its type's JSON Schema.

Config values may be ``{{ }}`` expressions whose value is only known at run time, so a string
holding an expression satisfies every keyword of the schema it meets (``type``, ``enum``,
``minimum`` …). Everything static is checked as written.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jsonschema.protocols import Validator

    from ._registry import NodeType

__all__ = ["check_schema", "config_problems"]


def _is_expression(value: Any) -> bool:
    return isinstance(value, str) and "{{" in value


@functools.cache
def _validator_class() -> type[Validator]:
    import jsonschema
    from jsonschema import validators

    base = jsonschema.Draft202012Validator
    checker = base.TYPE_CHECKER.redefine_many(
        {
            name: _tolerant_type(base.TYPE_CHECKER, name)
            for name in ("array", "boolean", "integer", "number", "object", "string", "null")
        }
    )
    keyword_checks = {
        keyword: _tolerant_keyword(check) for keyword, check in base.VALIDATORS.items()
    }
    extended: type[Validator] = validators.extend(  # type: ignore[no-untyped-call]
        base, validators=keyword_checks, type_checker=checker
    )
    return extended


def _tolerant_type(checker: Any, name: str) -> Any:
    def check(_: Any, instance: Any) -> bool:
        return _is_expression(instance) or bool(checker.is_type(instance, name))

    return check


def _tolerant_keyword(check: Any) -> Any:
    def tolerant(validator: Any, value: Any, instance: Any, schema: Any) -> Any:
        if _is_expression(instance):
            return iter(())
        return check(validator, value, instance, schema)

    return tolerant


@functools.lru_cache(maxsize=512)
def _validator_for(node_type: NodeType) -> Validator:
    return _validator_class()(dict(node_type.config_schema or {}))


def check_schema(type_name: str, schema: Mapping[str, Any]) -> None:
    """Raise ValueError when ``schema`` is not a valid JSON Schema."""
    import jsonschema

    try:
        jsonschema.Draft202012Validator.check_schema(dict(schema))
    except jsonschema.SchemaError as exc:
        raise ValueError(
            f"config_schema of node type {type_name!r} is invalid: {exc.message}"
        ) from None


def config_problems(node_type: NodeType, config: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``(field, message)`` for every way ``config`` breaks the type's schema."""
    problems = []
    for error in _validator_for(node_type).iter_errors(dict(config)):
        field = "config" + "".join(
            f"[{part}]" if isinstance(part, int) else f".{part}" for part in error.absolute_path
        )
        problems.append((field, error.message))
    return sorted(problems)
