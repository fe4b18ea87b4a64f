"""Properties of the JSON text of stored values: any value is written, and ``plain`` gives a
value exactly as storage gives it back."""

from __future__ import annotations

import enum
import json
import uuid
from datetime import UTC, date, datetime
from typing import Any

import orjson
from hypothesis import given
from hypothesis import strategies as st

from linkflow_engine._stored_values import MAX_DEPTH, dump, plain


class Colour(enum.Enum):
    RED = "red"


class Money:
    def __str__(self) -> str:
        return "12.50 EUR"


PLAIN_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
PLAIN_JSON = st.recursive(
    PLAIN_SCALARS,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=16,
)
ODD_LEAVES = st.sampled_from(
    [
        datetime(2026, 11, 29, 14, 0, 1, 500, tzinfo=UTC),
        datetime(2026, 1, 2, 3, 4, 5),
        date(2026, 3, 4),
        frozenset({1}),
        b"\x00\xff",
        Money(),
        (1, "two"),
    ]
)
ODD_KEYS = (
    st.text(max_size=4)
    | st.integers(-(2**63), 2**63 - 1)
    | st.sampled_from([(1, 2), None, True, 1.5, Colour.RED, datetime(2026, 1, 2, 3, 4, 5)])
)
ANY_VALUE = st.recursive(
    PLAIN_SCALARS | ODD_LEAVES,
    lambda children: (
        st.lists(children, max_size=4)
        | st.tuples(children, children)
        | st.dictionaries(ODD_KEYS, children, max_size=4)
    ),
    max_leaves=16,
)


def as_lists(value: Any) -> Any:
    """``value`` with its tuples as lists: plain keeps a tuple (orjson writes it as an array
    without a sign), which reads back as a list and works as an array in expressions alike."""
    if isinstance(value, dict):
        return {key: as_lists(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [as_lists(item) for item in value]
    return value


@given(
    st.recursive(
        ANY_VALUE | st.sampled_from([Colour.RED, uuid.UUID(int=7), float("nan")]),
        lambda children: st.lists(children, max_size=3),
        max_leaves=8,
    )
)
def test_dump_writes_strict_json_of_anything(value: Any) -> None:
    """Enums, UUIDs and NaN too (as orjson writes them: their value, their text, null)."""
    orjson.loads(dump(value))  # strict: refuses NaN and the infinities


@given(ANY_VALUE)
def test_any_value_is_written_and_plain_is_what_reads_back(value: Any) -> None:
    """dump writes any value as strict JSON text, and plain gives that value as the text reads
    back, and is written as the same value."""
    read_back = orjson.loads(dump(value))  # strict: refuses NaN and the infinities
    assert as_lists(plain(value)) == read_back
    assert orjson.loads(dump(plain(value))) == read_back


@given(PLAIN_JSON)
def test_a_plain_json_value_is_kept_as_it_is(value: Any) -> None:
    """A value that is plain JSON already is returned itself (no copy is made)."""
    assert plain(value) is value or plain(value) == value == json.loads(dump(value))
    assert json.loads(dump(value)) == value


@given(ANY_VALUE, st.integers(min_value=1, max_value=3))
def test_a_value_that_holds_itself_is_written_with_markers(value: Any, where: int) -> None:
    """A container inside itself is written as "[Circular]" where it recurs, wherever it is."""
    cycle: dict[str, Any] = {"value": value}
    holder: Any = cycle
    for _ in range(where):
        holder = [holder]
    cycle["again"] = holder
    read_back = plain(cycle)
    inner = read_back["again"]
    for _ in range(where):
        inner = inner[0]
    assert inner == "[Circular]"
    assert as_lists(read_back["value"]) == as_lists(plain(value))


def test_nesting_beyond_what_the_encoders_take_is_cut_with_a_marker() -> None:
    """A value nested 5,000 deep (past orjson's 254 and the recursion limit) is written, cut
    to MAX_DEPTH levels by plain; plain's value is written whole."""
    value: Any = []
    for _ in range(5000):
        value = [value]
    kept = plain(value)
    levels = 0
    while isinstance(kept, list):
        kept, levels = kept[0], levels + 1
    assert (levels, kept) == (MAX_DEPTH, "[Nested]")
    assert orjson.loads(dump({"outputs": {"n": plain(value)}}))["outputs"]["n"] == plain(value)
    assert orjson.loads(dump(value))  # written too, cut deeper


@given(st.dictionaries(ODD_KEYS, ANY_VALUE, max_size=4))
def test_a_value_is_written_alike_by_either_encoder(value: dict[Any, Any]) -> None:
    """The stdlib fallback (forced here by an integer beyond 64 bits) writes keys and values as
    orjson does: the rest of a value reads back the same either way."""
    forced = orjson.loads(dump({**value, "\x00big": 2**70}))
    assert forced.pop("\x00big") == 2**70
    assert forced == orjson.loads(dump(value))
