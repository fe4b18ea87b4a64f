"""What storage holds: an execution's JSON values, and its text.

An execution's data (its input, each node's output, log data, error details) is stored as JSON
and comes back as JSON. A node may still return something JSON has no form for: an object of
its own class, a ``datetime``, a set, a dict with tuple keys, a structure that contains itself.
Two rules keep such values from stopping or changing an execution:

- :func:`dump` writes *any* value: what JSON has no form for becomes its ``str()`` (NaN and the
  infinities ``null``, as JavaScript's ``JSON.stringify`` does), a key that is not a string its
  ``str()``, a container that contains itself ``"[Circular]"`` where it recurs, and nesting
  deeper than orjson writes (254 levels) is cut: past :data:`MAX_DEPTH` levels by
  :func:`plain`, past ``_WRITTEN_DEPTH`` by :func:`dump`, each ``"[Nested]"``. A write that
  refused a value would fail again at every attempt, and the execution would stay running.
- :func:`plain` gives a value as it will read back from storage. The engine applies it where a
  value enters an execution, so the nodes downstream see what a run recovered from storage
  would see: an execution taken over after a crash ends as the uninterrupted run would have.
  (Checked in C, it lets through what orjson writes natively and reads back as another value
  that acts alike: a tuple reads back as a list, an enum as its value, a UUID as its text,
  NaN and the infinities as ``null``.)

Text stored as text (a log line's message) cannot be written with a lone surrogate, which
decoding bytes with ``surrogateescape`` leaves in a string: :func:`text` puts U+FFFD in its
place, as JSON text keeps it escaped.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

import orjson

__all__ = ["MAX_DEPTH", "dump", "plain", "text"]

MAX_DEPTH = 200
"""Containers nested in one another that a value keeps when it has to be rewritten to be
written; a deeper one is ``"[Nested]"`` (orjson refuses more than 254)."""

_WRITTEN_DEPTH = 300
"""The nesting :func:`dump` keeps: deeper than orjson goes, so that a value :func:`plain` gave
is written whole inside the records that hold it (an event in its batch, say)."""
_ORJSON_OPTIONS = orjson.OPT_NON_STR_KEYS
# What orjson writes but would not read back as it was (a datetime comes back a string, a str
# subclass as str): refused by the check of ``plain``, so that they are rewritten.
_PLAIN_CHECK = (
    orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_SUBCLASS
)
# The stdlib encoder writes what orjson refuses (integers beyond 64 bits), once rewritten.
_encode = json.JSONEncoder(separators=(",", ":")).encode
_PLAIN_KEY = (str, int, float, bool, type(None))
_SURROGATE = re.compile("[\ud800-\udfff]")


def dump(value: Any) -> str:
    """``value`` as compact JSON text, whatever it holds (see the module's rules). orjson
    writes it ~10x faster than the stdlib (a node's progress write serializes its input,
    output and events: measured 12 -> 2 µs per node)."""
    return _text(value, _WRITTEN_DEPTH)


def plain(value: Any) -> Any:
    """``value`` as storage gives it back: ``value`` itself when it is plain JSON already (the
    usual case, checked in C in well under a microsecond), else a rewritten copy, nested at
    most :data:`MAX_DEPTH` deep (so that :func:`dump` writes it, and anything holding it, as
    it is)."""
    try:
        orjson.dumps(value, option=_PLAIN_CHECK)
    except orjson.JSONEncodeError:
        return json.loads(_text(value, MAX_DEPTH))
    return value


def text(value: object) -> str:
    """``value`` as UTF-8 can write it: each lone surrogate replaced by U+FFFD (and anything
    but a string, which a node's code may pass for a message, as its ``str()``)."""
    if not isinstance(value, str):
        value = str(value)
    try:
        value.encode()
    except UnicodeEncodeError:
        return _SURROGATE.sub("\ufffd", value)
    return value


def _text(value: Any, depth: int) -> str:
    try:
        return orjson.dumps(value, default=str, option=_ORJSON_OPTIONS).decode()
    except orjson.JSONEncodeError:  # a bad key, a cycle, too deep, an integer beyond 64 bits
        return _encode(_writable(value, depth, set()))


def _writable(value: Any, depth: int, enclosing: set[int]) -> Any:
    """A copy of ``value`` that the stdlib encoder writes as orjson writes what it can: keys
    made strings, cycles and too deep nesting replaced by markers, any other value as orjson
    writes it (``enclosing``: the ids of the containers around ``value``). One frame a level
    (no comprehensions): it runs where the stack was too deep for orjson already."""
    if isinstance(value, (str, int)) or value is None:  # bool is an int; big ints stay exact
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if not isinstance(value, (Mapping, list, tuple)):
        return _leaf(value)
    if id(value) in enclosing:
        return "[Circular]"
    if depth == 0:
        return "[Nested]"
    enclosing.add(id(value))
    if isinstance(value, Mapping):
        copy: Any = {}
        for key, item in value.items():
            copy[_key(key)] = _writable(item, depth - 1, enclosing)
    else:
        copy = []
        for item in value:
            copy.append(_writable(item, depth - 1, enclosing))
    enclosing.discard(id(value))
    return copy


def _key(key: Any) -> Any:
    """A key as orjson writes it (an enum's value, a datetime in ISO 8601), as text; a key it
    cannot write (a tuple) as its ``str()``."""
    if isinstance(key, _PLAIN_KEY):
        return key
    if isinstance(key, tuple):
        return str(key)
    written = _leaf(key)
    return written if isinstance(written, _PLAIN_KEY) else str(key)


def _leaf(value: Any) -> Any:
    """A value that is no container and no JSON scalar, as orjson writes it (a datetime in ISO
    8601, say), else its ``str()``."""
    try:
        return orjson.loads(orjson.dumps(value, default=str, option=_ORJSON_OPTIONS))
    except orjson.JSONEncodeError:
        return str(value)
