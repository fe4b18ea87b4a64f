"""The grammar (lark, LALR) and the parse step: text in, a bounded syntax tree out.

Binary operators of one precedence level parse into one flat node (``a + b - c`` is a single
``add`` node with alternating operands and operators) and postfix accesses into one ``postfix``
node, so long chains do not make deep trees; the remaining depth (parentheses, unary operators,
nested calls and literals) is bounded before compiling, which keeps every later recursion far
from Python's stack limit.
"""

from __future__ import annotations

import functools
import re
from typing import TYPE_CHECKING, Final

from linkflow_engine._exceptions import ExpressionError

from ._semantics import normalise

if TYPE_CHECKING:
    import lark

__all__ = ["MAX_DEPTH", "MAX_EXPRESSION_LENGTH", "number_literal", "parse", "string_literal"]

MAX_EXPRESSION_LENGTH: Final = 10_000
MAX_DEPTH: Final = 100

GRAMMAR: Final = r"""
?start: ternary

?ternary: or_expr
        | or_expr "?" ternary ":" ternary -> conditional

?or_expr: and_expr (or_op and_expr)*
?and_expr: eq_expr (and_op eq_expr)*
?eq_expr: rel_expr (eq_op rel_expr)*
?rel_expr: add_expr (rel_op add_expr)*
?add_expr: mul_expr (add_op mul_expr)*
?mul_expr: unary (mul_op unary)*

?unary: postfix
      | unary_op+ postfix -> unary

?postfix: primary
        | primary trailer+ -> postfix

trailer: "." NAME "(" [arguments] ")" -> method
       | "." NAME -> member
       | "[" ternary "]" -> index

?primary: NUMBER -> number
        | STRING -> string
        | "true" -> true
        | "false" -> false
        | "null" -> null
        | "undefined" -> undefined
        | DOLLAR_NAME "(" [arguments] ")" -> call
        | DOLLAR_NAME -> variable
        | NAME -> variable
        | "(" ternary ")"
        | "[" [arguments] "]" -> array
        | "{" [pairs] "}" -> object

arguments: ternary ("," ternary)* ","?
pairs: pair ("," pair)* ","?
pair: (NAME | DOLLAR_NAME | STRING | NUMBER) ":" ternary

!or_op: "||" | "??"
!and_op: "&&"
!eq_op: "===" | "!==" | "==" | "!="
!rel_op: "<=" | ">=" | "<" | ">"
!add_op: "+" | "-"
!mul_op: "*" | "/" | "%"
!unary_op: "!" | "-" | "+"

NAME: /[A-Za-z_][A-Za-z0-9_]*/
DOLLAR_NAME: /\$[A-Za-z_][A-Za-z0-9_]*/
NUMBER: /0[xX][0-9a-fA-F]+|0[bB][01]+|0[oO][0-7]+|(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?/
STRING: /"(?:[^"\\\n]|\\.)*"/ | /'(?:[^'\\\n]|\\.)*'/

%ignore /\s+/
"""


@functools.cache
def _parser() -> lark.Lark:
    # Made on first use, from the shipped tables when they fit (see _grammar_tables).
    from ._grammar_tables import load_parser

    return load_parser(GRAMMAR)


def parse(text: str) -> lark.Tree[lark.Token]:
    """The syntax tree of a bare expression; ExpressionError (with a column) when invalid."""
    if len(text) > MAX_EXPRESSION_LENGTH:
        raise ExpressionError(
            f"expression longer than {MAX_EXPRESSION_LENGTH:,} characters", expression=text[:80]
        )
    if not text.strip():
        raise ExpressionError("empty expression", expression=text, column=1)
    import lark

    try:
        tree = _parser().parse(text)
    except lark.exceptions.UnexpectedInput as exc:
        raise ExpressionError(
            _describe(exc, text), expression=text, column=_column(exc, text)
        ) from None
    _check_depth(tree, text)
    return tree


def _column(exc: lark.exceptions.UnexpectedInput, text: str) -> int:
    import lark

    if isinstance(exc, lark.exceptions.UnexpectedToken) and exc.token.type == "$END":
        return len(text) + 1
    column = getattr(exc, "column", -1)
    if not isinstance(column, int) or column < 1:
        return len(text) + 1
    # lark counts columns per line; the expression may span lines, we report offsets in it.
    pos = getattr(exc, "pos_in_stream", None)
    return pos + 1 if isinstance(pos, int) and pos >= 0 else column


def _describe(exc: lark.exceptions.UnexpectedInput, text: str) -> str:
    import lark

    if isinstance(exc, lark.exceptions.UnexpectedCharacters):
        return f"unexpected character {text[exc.pos_in_stream or 0]!r}"
    if isinstance(exc, lark.exceptions.UnexpectedToken):
        if exc.token.type == "$END":
            return "unexpected end of expression"
        return f"unexpected {str(exc.token)!r}"
    return "unexpected end of expression"


def _check_depth(tree: lark.Tree[lark.Token], text: str) -> None:
    # Iterative on purpose: a recursive walk is what the limit protects against.
    import lark

    stack = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            column = getattr(node.meta, "column", None)
            raise ExpressionError(
                f"expression nested more than {MAX_DEPTH} levels deep",
                expression=text,
                column=column,
            )
        stack.extend((child, depth + 1) for child in node.children if isinstance(child, lark.Tree))


# --- literals: number and string tokens as JavaScript reads them ---------------------------

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
