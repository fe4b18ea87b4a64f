"""Object ``$``-functions. None of them mutates its input: ``$set`` and ``$merge`` build new
objects and share the untouched parts."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Final

from linkflow_engine._exceptions import ExpressionError

from ._registry import describe, expect_object, expect_text, function
from ._semantics import UNDEFINED, array_index, get_property, is_array, is_nullish, to_string

__all__ = ["read_path"]

_PATH_PART: Final = re.compile(r"""\[\s*(?:"([^"]*)"|'([^']*)'|(\d+))\s*\]|([^.[\]]+)""")


def path_parts(path: Any, position: int) -> list[Any]:
    """``"a.b[0].c"`` (or ``["a", "b", 0, "c"]``) as its list of keys."""
    if is_array(path):
        return list(path)
    if isinstance(path, int | float) and not isinstance(path, bool):
        return [path]
    text = expect_text(path, position)
    return [
        next(group for group in m.groups() if group is not None) for m in _PATH_PART.finditer(text)
    ]


def read_path(value: Any, path: Any, position: int) -> Any:
    """The value at ``path``, undefined as soon as a step is missing (never an error)."""
    for part in path_parts(path, position):
        if is_nullish(value):
            return UNDEFINED
        value = get_property(value, part)
    return value


def _keys(value: Any) -> list[str]:
    return list(expect_object(value, 1).keys())


@function("keys")
def keys(value: Any) -> list[str]:
    return _keys(value)


@function("values")
def values(value: Any) -> list[Any]:
    return list(expect_object(value, 1).values())


@function("entries")
def entries(value: Any) -> list[list[Any]]:
    return [[key, item] for key, item in expect_object(value, 1).items()]


@function("merge")
def merge(*objects: Any) -> dict[str, Any]:
    """A shallow merge: later objects win; null and undefined arguments are skipped."""
    merged: dict[str, Any] = {}
    for position, value in enumerate(objects, 1):
        if not is_nullish(value):
            if not isinstance(value, Mapping):
                raise ExpressionError(
                    f"argument {position} must be an object, got {describe(value)}"
                )
            merged.update(value)
    return merged


def _key_list(names: Sequence[Any]) -> set[str]:
    if len(names) == 1 and is_array(names[0]):
        names = names[0]
    return {to_string(name) for name in names}


@function("pick")
def pick(value: Any, *names: Any) -> dict[str, Any]:
    """The object with only the given keys (as arguments or one array)."""
    wanted = _key_list(names)
    return {key: item for key, item in expect_object(value, 1).items() if key in wanted}


@function("omit")
def omit(value: Any, *names: Any) -> dict[str, Any]:
    unwanted = _key_list(names)
    return {key: item for key, item in expect_object(value, 1).items() if key not in unwanted}


@function("get")
def get(value: Any, path: Any, default: Any = UNDEFINED) -> Any:
    """The value at a dotted path (``"a.b[0].c"``), or ``default`` when it is missing or null."""
    found = read_path(value, path, 2)
    return default if is_nullish(found) else found


def _with(container: Any, key: Any, item: Any) -> Any:
    """A copy of ``container`` with ``key`` set; arrays take a position, anything else an object."""
    if is_array(container):
        index = array_index(key)
        if index is not None and index <= len(container):
            copied = list(container)
            copied[index : index + 1] = [item]
            return copied
    copied_object = dict(container) if isinstance(container, Mapping) else {}
    copied_object[to_string(key)] = item
    return copied_object


def _child(container: Any, key: Any) -> Any:
    if isinstance(container, Mapping) or is_array(container):
        return get_property(container, key)
    return UNDEFINED


def _set_path(container: Any, parts: list[Any], item: Any) -> Any:
    if not parts:
        return item
    head, rest = parts[0], parts[1:]
    return _with(container, head, _set_path(_child(container, head), rest, item))


@function("set")
def set_(value: Any, path: Any, item: Any) -> Any:
    """A new object with ``path`` set to ``item``; missing levels are created as objects."""
    parts = path_parts(path, 2)
    if not parts:
        raise ExpressionError("argument 2 must be a non-empty path")
    if len(parts) > 100:
        raise ExpressionError("argument 2 is a path of more than 100 keys")
    return _set_path(expect_object(value, 1), parts, None if item is UNDEFINED else item)
