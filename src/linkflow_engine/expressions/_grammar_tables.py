"""Prebuilt LALR tables of the expression grammar, shipped in the package.

Building lark's LALR parser from the grammar takes about 50 ms, which every process paid at its
first expression (a third of a first ``run_workflow``). The tables lark computes are stored in
``grammar_tables.pickle`` and loaded in about 5 ms instead. They are used only when they were
made from this very grammar by the installed lark version; otherwise the parser is built from
the grammar as before, so a new lark release costs time, never correctness. The file is part of
the package, so unpickling it is trusted like importing the package's code.

After changing the grammar, write the tables again:
``python -m linkflow_engine.expressions._grammar_tables`` (a test fails until then).
"""

from __future__ import annotations

import hashlib
import pickle
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import lark

__all__ = ["TABLES_FILE", "build_parser", "grammar_digest", "load_parser", "stored_tables"]

TABLES_FILE = "grammar_tables.pickle"


def load_parser(grammar: str) -> lark.Lark:
    """The parser of ``grammar``: from the shipped tables when they fit, else built."""
    import lark

    stored = stored_tables()
    if (
        stored is not None
        and stored["lark"] == lark.__version__
        and stored["grammar"] == grammar_digest(grammar)
    ):
        return lark.Lark.load({"data": stored["data"], "memo": stored["memo"]})
    return build_parser(grammar)


OPTIONS: dict[str, Any] = {
    "parser": "lalr",
    "propagate_positions": True,
    "maybe_placeholders": False,
}
"""How the parser is built; part of the digest, like the grammar."""


def build_parser(grammar: str) -> lark.Lark:
    import lark

    return lark.Lark(grammar, **OPTIONS)


def grammar_digest(grammar: str) -> str:
    """A digest of the grammar and the options the parser is built with."""
    return hashlib.sha256(f"{grammar}\n{sorted(OPTIONS.items())}".encode()).hexdigest()


def stored_tables() -> dict[str, Any] | None:
    """The shipped tables with the lark version and grammar digest they were made for."""
    try:
        raw = resources.files(__package__).joinpath(TABLES_FILE).read_bytes()
        tables: dict[str, Any] = pickle.loads(raw)  # the package's own file (see above)
    except (OSError, pickle.UnpicklingError, EOFError, ValueError):  # missing or damaged
        return None
    return tables


def write_tables(grammar: str) -> Path:
    """Build the parser of ``grammar`` and store its tables next to this module."""
    import lark

    data, memo = build_parser(grammar).memo_serialize([lark.lexer.TerminalDef, lark.grammar.Rule])
    tables = {
        "lark": lark.__version__,
        "grammar": grammar_digest(grammar),
        "data": data,
        "memo": memo,
    }
    path = Path(__file__).with_name(TABLES_FILE)
    path.write_bytes(pickle.dumps(tables, protocol=pickle.HIGHEST_PROTOCOL))
    return path


if __name__ == "__main__":
    from ._parser import GRAMMAR

    print(f"wrote {write_tables(GRAMMAR)}")
