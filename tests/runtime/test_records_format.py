"""Timestamps on the wire: ISO-8601 UTC with milliseconds, exactly as datetime writes them."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from linkflow_engine.runtime._records import format_timestamp, parse_timestamp


@given(st.floats(min_value=0, max_value=4_102_444_800, allow_nan=False))
def test_format_timestamp_matches_datetime(ts: float) -> None:
    """The cached per-second formatting gives what datetime.isoformat gives, to the ms."""
    expected = datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds")
    assert format_timestamp(ts) == expected.replace("+00:00", "Z")


def test_format_and_parse_round_trip_to_the_millisecond() -> None:
    """parse_timestamp reads back what format_timestamp wrote."""
    text = format_timestamp(1_795_928_344.096)
    assert text == "2026-11-29T04:59:04.096Z"
    assert parse_timestamp(text) == 1_795_928_344.096
    assert format_timestamp(None) is None
