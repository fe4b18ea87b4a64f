"""The shipped parse tables: made from the current grammar, parsing exactly as the grammar."""

from __future__ import annotations

import lark
import pytest

from linkflow_engine import ExpressionError
from linkflow_engine.expressions import compile_expression
from linkflow_engine.expressions._grammar_tables import (
    build_parser,
    grammar_digest,
    load_parser,
    stored_tables,
)
from linkflow_engine.expressions._parser import GRAMMAR

CORPUS = [
    "$input.n + 1",
    "a ? 'x' : [1, 2, {b: 3, 'c': $json.d[0]}]",
    "$json.items.slice(1, 3).join('-').length > 2",
    "!a && b || c ?? d",
    "$now.plus(1, 'day').toISO()",
    "-(1 + 2) * 3 % 4 / 5 - +6",
    "x === y && x !== z || x <= 1 || x >= 2",
    "0x1F + 0b101 + 0o17 + 1.5e3",
]
BROKEN = ["1 +", "a ? b", "[1, 2", "$input..n", "'unterminated", "a b"]


def test_the_shipped_tables_are_made_from_the_current_grammar() -> None:
    """Changing the grammar without writing the tables again fails here (run
    ``python -m linkflow_engine.expressions._grammar_tables``)."""
    stored = stored_tables()
    assert stored is not None
    assert stored["grammar"] == grammar_digest(GRAMMAR)


def test_tables_parse_exactly_as_the_grammar() -> None:
    """The parser in use (from the tables when they fit this lark, else built) gives the
    built parser's trees, and fails where it fails, at the same place."""
    stored = stored_tables()
    assert stored is not None
    if stored["lark"] != lark.__version__:
        pytest.skip(f"tables made with lark {stored['lark']}: the parser is built instead")
    loaded, built = load_parser(GRAMMAR), build_parser(GRAMMAR)
    for text in CORPUS:
        assert loaded.parse(text) == built.parse(text), text
    for text in BROKEN:
        with pytest.raises(lark.exceptions.UnexpectedInput) as from_tables:
            loaded.parse(text)
        with pytest.raises(lark.exceptions.UnexpectedInput) as from_grammar:
            built.parse(text)
        assert type(from_tables.value) is type(from_grammar.value), text
        assert from_tables.value.column == from_grammar.value.column, text


def test_tables_of_another_lark_version_are_not_used(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tables made by another lark version are ignored: the parser is built from the grammar
    and expressions compile and fail as usual."""
    monkeypatch.setattr(lark, "__version__", "0.0.0-other")
    parser = load_parser(GRAMMAR)
    assert parser.parse("$input.n + 1") == build_parser(GRAMMAR).parse("$input.n + 1")
    assert compile_expression("1 + 2").evaluate({}) == 3
    with pytest.raises(ExpressionError):
        compile_expression("1 +")


def test_damaged_tables_are_not_used(monkeypatch: pytest.MonkeyPatch) -> None:
    """A tables file that cannot be read is ignored: the parser is built from the grammar."""
    import pickle

    from linkflow_engine.expressions import _grammar_tables

    def damaged(data: bytes) -> object:
        raise pickle.UnpicklingError("truncated")

    monkeypatch.setattr(_grammar_tables.pickle, "loads", damaged)
    assert stored_tables() is None
    assert load_parser(GRAMMAR).parse("$a + 1") == build_parser(GRAMMAR).parse("$a + 1")
