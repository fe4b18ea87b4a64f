"""Number and string literals as JavaScript reads them."""

from __future__ import annotations

import re
from typing import Final

from linkflow_engine._exceptions import ExpressionError

from ._semantics import normalise

__all__ = ["number_literal", "string_literal"]

_ESCAPE: Final = re.compile(r"\\(u\{[0-9a-fA-F]{1,6}\}|u[0-9a-fA-F]{4}|x[0-9a-fA-F]{2}|.)", re.S)
_SIMPLE: Final = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "v": "\v", "0": "\0"}


def number_literal(text: str) -> float | int:
    """``12``, ``1.5``, ``1e3``, ``.5``, ``0xff``, ``0b101``, ``0o17``."""
    if text[:2].lower() in ("0x", "0b", "0o"):
        return normalise(int(text, 0))
    if text.isdigit() and len(text) <= 15:
        return int(text)
    return normalise(float(text))


def _unescape(match: re.Match[str]) -> str:
    code = match.group(1)
    if code[0] in "ux" and len(code) > 1:
        number = int(code.strip("u{}x"), 16)
        if number > 0x10FFFF:
            raise ValueError(f"code point {number:#x} is out of range")
        return chr(number)
    return _SIMPLE.get(code, code)


def string_literal(token: str, column: int) -> str:
    """The value of a quoted literal (either quote), with JavaScript escapes."""
    body = token[1:-1]
    if "\\" not in body:
        return body
    try:
        text = _ESCAPE.sub(_unescape, body)
    except ValueError as exc:
        raise ExpressionError(f"invalid escape in string: {exc}", column=column) from None
    # Surrogate pairs written as two \u escapes make one character, as in JavaScript.
    try:
        return text.encode("utf-16", "surrogatepass").decode("utf-16")
    except UnicodeDecodeError:
        return text
