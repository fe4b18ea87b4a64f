"""Date $-functions: ISO-8601 strings in UTC."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from linkflow_engine._exceptions import ExpressionError

MOMENT = "2024-03-05T14:07:09.250Z"


def test_now_is_an_iso_string(evaluate):
    """$now() is the current time as an ISO string with milliseconds and Z."""
    value = evaluate("$now()")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", value)
    parsed = dt.datetime.fromisoformat(value)
    assert abs((dt.datetime.now(dt.UTC) - parsed).total_seconds()) < 5


def test_today_is_a_date(evaluate):
    """$today() is today's UTC date."""
    assert evaluate("$today()") == dt.datetime.now(dt.UTC).date().isoformat()


def test_timestamp(evaluate):
    """$timestamp() is epoch milliseconds, of now or of a date."""
    assert evaluate("$timestamp('1970-01-01T00:00:01Z')") == 1000
    assert evaluate("$timestamp()") > 1_700_000_000_000


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("YYYY-MM-DD", "2024-03-05"),
        ("YY/M/D", "24/3/5"),
        ("MMM MMMM", "Mar March"),
        ("HH:mm:ss", "14:07:09"),
        ("hh:mm A", "02:07 PM"),
        ("h a", "2 pm"),
        ("SSS", "250"),
        ("[Day] D [of] MMMM", "Day 5 of March"),
    ],
)
def test_format_date_tokens(evaluate, pattern, expected):
    """$formatDate supports the documented tokens and [literal] text."""
    assert evaluate(f"$formatDate('{MOMENT}', '{pattern}')") == expected


def test_format_date_default_and_midnight(evaluate):
    """Without a pattern the ISO form is returned; midnight is 12 AM."""
    assert evaluate(f"$formatDate('{MOMENT}')") == MOMENT
    assert evaluate("$formatDate('2024-01-01T00:30:00Z', 'hh A')") == "12 AM"


def test_dates_with_offsets_become_utc(evaluate):
    """An offset in the input is converted to UTC."""
    assert evaluate("$formatDate('2024-03-05T10:00:00+02:00', 'HH')") == "08"
    assert evaluate("$parseDate('2024-03-05T10:00:00+02:00')") == "2024-03-05T08:00:00.000Z"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("$parseDate('2024-03-05')", "2024-03-05T00:00:00.000Z"),
        ("$parseDate(0)", "1970-01-01T00:00:00.000Z"),
        ("$parseDate('05/03/2024', 'DD/MM/YYYY')", "2024-03-05T00:00:00.000Z"),
        ("$parseDate('March 5, 2024 2:07 PM', 'MMMM D, YYYY h:mm A')", "2024-03-05T14:07:00.000Z"),
        ("$parseDate('5 Mar 24', 'D MMM YY')", "2024-03-05T00:00:00.000Z"),
    ],
)
def test_parse_date(evaluate, text, expected):
    """$parseDate reads ISO text, epoch ms or a pattern."""
    assert evaluate(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "$parseDate('not a date')",
        "$parseDate('31/02/2024', 'DD/MM/YYYY')",
        "$parseDate('2024', 'DD/MM/YYYY')",
        "$formatDate(null, 'YYYY')",
        "$addDays('2024-01-01', 'x')",
        "$addDays('9999-12-31', 1)",
    ],
)
def test_invalid_dates_are_errors(evaluate, text):
    """Invalid dates and patterns give ExpressionError."""
    with pytest.raises(ExpressionError, match=r"\$(parseDate|formatDate|addDays)"):
        evaluate(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("$addDays('2024-01-31', 1)", "2024-02-01"),
        ("$addDays('2024-03-01T10:00:00Z', -1)", "2024-02-29T10:00:00.000Z"),
        ("$addDays('2024-03-01T10:00:00Z', 0.5)", "2024-03-01T22:00:00.000Z"),
        ("$addHours('2024-03-01T23:00:00Z', 2)", "2024-03-02T01:00:00.000Z"),
        ("$diffDays('2024-03-10', '2024-03-01')", 9),
        ("$diffDays('2024-03-01', '2024-03-10')", -9),
        ("$diffDays('2024-03-02T11:00:00Z', '2024-03-01T12:00:00Z')", 0),
        ("$diffHours('2024-03-02T00:00:00Z', '2024-03-01T12:30:00Z')", 11),
    ],
)
def test_date_arithmetic(evaluate, text, expected):
    """Adding and diffing days and hours."""
    assert evaluate(text) == expected
