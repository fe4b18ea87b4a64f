"""String, encoding and utility ``$``-functions."""

from __future__ import annotations

import base64
import binascii
import hashlib
import html
import re
import unicodedata
import urllib.parse
import uuid as uuid_module
from collections.abc import Mapping
from typing import Any

from linkflow_engine._exceptions import ExpressionError

from ._operators import strict_equals
from ._registry import expect_array, expect_integer, expect_text, function, optional
from ._semantics import (
    UNDEFINED,
    check_array_size,
    check_string_size,
    is_array,
    is_nullish,
    to_string,
    type_name,
)

__all__: list[str] = []

# --- string ------------------------------------------------------------------------------


@function("uppercase")
def uppercase(text: Any) -> str:
    return expect_text(text, 1).upper()


@function("lowercase")
def lowercase(text: Any) -> str:
    return expect_text(text, 1).lower()


@function("capitalize")
def capitalize(text: Any) -> str:
    value = expect_text(text, 1)
    return value[:1].upper() + value[1:]


@function("trim")
def trim(text: Any) -> str:
    return expect_text(text, 1).strip()


@function("split")
def split(text: Any, separator: Any = UNDEFINED, limit: Any = UNDEFINED) -> list[str]:
    """JavaScript ``split``: no separator gives ``[text]``, ``""`` splits into characters."""
    value = expect_text(text, 1)
    if separator is UNDEFINED:
        parts = [value]
    elif (sep := expect_text(separator, 2)) == "":
        check_array_size(len(value))
        parts = list(value)
    else:
        check_array_size(value.count(sep) + 1)
        parts = value.split(sep)
    return parts if limit is UNDEFINED else parts[: max(0, expect_integer(limit, 3))]


def join_text(items: Any, separator: str) -> str:
    """``Array.prototype.join``: null and undefined items are empty; the size is checked first."""
    pieces = ["" if is_nullish(item) else to_string(item) for item in items]
    check_string_size(sum(map(len, pieces)) + len(separator) * max(0, len(pieces) - 1))
    return separator.join(pieces)


@function("join")
def join(items: Any, separator: Any = UNDEFINED) -> str:
    return join_text(expect_array(items, 1), expect_text(optional(separator, ","), 2))


def replace_text(value: str, search: str, replacement: str, count: int = -1) -> str:
    occurrences = value.count(search) if count < 0 else min(count, value.count(search))
    check_string_size(len(value) + occurrences * (len(replacement) - len(search)))
    return value.replace(search, replacement, count)


@function("replace")
def replace(text: Any, search: Any, replacement: Any) -> str:
    """Replaces every occurrence (the ``.replace()`` method replaces the first, as in JS)."""
    return replace_text(expect_text(text, 1), expect_text(search, 2), expect_text(replacement, 3))


@function("substring")
def substring(text: Any, start: Any, end: Any = UNDEFINED) -> str:
    """JavaScript ``substring``: bounds are clamped to the string and swapped when reversed."""
    value = expect_text(text, 1)
    first = min(max(expect_integer(start, 2), 0), len(value))
    last = len(value) if end is UNDEFINED else min(max(expect_integer(end, 3), 0), len(value))
    return value[min(first, last) : max(first, last)]


@function("length")
def length(value: Any) -> int:
    if isinstance(value, str | Mapping) or is_array(value):
        return len(value)
    raise ExpressionError(f"argument 1 must be a string, array or object, got {type_name(value)}")


def contains_value(haystack: Any, needle: Any) -> bool:
    if isinstance(haystack, str):
        return expect_text(needle, 2) in haystack
    if is_array(haystack):
        return any(strict_equals(item, needle) for item in haystack)
    if isinstance(haystack, Mapping):
        return to_string(needle) in haystack
    raise ExpressionError(
        f"argument 1 must be a string, array or object, got {type_name(haystack)}"
    )


@function("contains")
def contains(haystack: Any, needle: Any) -> bool:
    return contains_value(haystack, needle)


@function("startsWith")
def starts_with(text: Any, prefix: Any) -> bool:
    return expect_text(text, 1).startswith(expect_text(prefix, 2))


@function("endsWith")
def ends_with(text: Any, suffix: Any) -> bool:
    return expect_text(text, 1).endswith(expect_text(suffix, 2))


def pad(text: str, target: int, fill: str, *, at_start: bool) -> str:
    """JavaScript ``padStart``/``padEnd``: the fill repeats and is cut to the target length."""
    missing = target - len(text)
    if missing <= 0 or not fill:
        return text
    check_string_size(target)
    padding = (fill * (missing // len(fill) + 1))[:missing]
    return padding + text if at_start else text + padding


@function("padStart")
def pad_start(text: Any, target: Any, fill: Any = UNDEFINED) -> str:
    value, size = expect_text(text, 1), expect_integer(target, 2)
    return pad(value, size, expect_text(optional(fill, " "), 3), at_start=True)


@function("padEnd")
def pad_end(text: Any, target: Any, fill: Any = UNDEFINED) -> str:
    value, size = expect_text(text, 1), expect_integer(target, 2)
    return pad(value, size, expect_text(optional(fill, " "), 3), at_start=False)


# --- encoding ----------------------------------------------------------------------------


@function("base64Encode")
def base64_encode(text: Any) -> str:
    encoded = base64.b64encode(expect_text(text, 1).encode("utf-8")).decode("ascii")
    check_string_size(len(encoded))
    return encoded


@function("base64Decode")
def base64_decode(text: Any) -> str:
    """Standard or URL-safe alphabet, padding optional; the bytes must be UTF-8 text."""
    value = expect_text(text, 1).strip().replace("-", "+").replace("_", "/")
    try:
        raw = base64.b64decode(value + "=" * (-len(value) % 4), validate=True)
        return raw.decode("utf-8")
    except (binascii.Error, ValueError):
        raise ExpressionError("argument 1 is not valid base64 of UTF-8 text") from None


@function("urlEncode")
def url_encode(text: Any) -> str:
    """``encodeURIComponent``: everything but letters, digits and ``-_.!~*'()`` is escaped."""
    encoded = urllib.parse.quote(expect_text(text, 1), safe="-_.!~*'()")
    check_string_size(len(encoded))
    return encoded


@function("urlDecode")
def url_decode(text: Any) -> str:
    return urllib.parse.unquote(expect_text(text, 1))


@function("md5")
def md5(text: Any) -> str:
    return hashlib.md5(expect_text(text, 1).encode("utf-8"), usedforsecurity=False).hexdigest()


@function("sha256")
def sha256(text: Any) -> str:
    return hashlib.sha256(expect_text(text, 1).encode("utf-8")).hexdigest()


# --- utility -----------------------------------------------------------------------------

_NOT_SLUG = re.compile(r"[^a-z0-9]+")


@function("uuid", pure=False)
def uuid() -> str:
    return str(uuid_module.uuid4())


@function("slug")
def slug(text: Any) -> str:
    """Lowercase ASCII words joined by ``-``: accents are stripped, other characters dropped."""
    ascii_text = unicodedata.normalize("NFKD", expect_text(text, 1)).encode("ascii", "ignore")
    return _NOT_SLUG.sub("-", ascii_text.decode("ascii").lower()).strip("-")


@function("escape")
def escape(text: Any) -> str:
    escaped = html.escape(expect_text(text, 1), quote=True)
    check_string_size(len(escaped))
    return escaped


@function("unescape")
def unescape(text: Any) -> str:
    return html.unescape(expect_text(text, 1))
