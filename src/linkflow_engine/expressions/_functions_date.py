"""Date ``$``-functions. Dates travel as ISO-8601 strings in UTC (``2024-05-01T09:30:00.000Z``),
as JavaScript's ``toISOString`` writes them; numbers are read as epoch milliseconds."""

from __future__ import annotations

import calendar
import datetime as dt
import math
import re
from collections.abc import Callable
from typing import Any, Final

from linkflow_engine._exceptions import ExpressionError

from ._registry import describe, expect_number, expect_text, function
from ._semantics import UNDEFINED, is_number

__all__ = ["now_iso", "today_iso"]

_UTC: Final = dt.UTC
_MONTHS: Final = list(calendar.month_name)[1:]
_TOKENS: Final = re.compile(r"\[([^\]]*)\]|YYYY|YY|MMMM|MMM|MM|M|DD|D|HH|H|hh|h|mm|ss|SSS|A|a")
_DATE_ONLY: Final = re.compile(r"\d{4}-\d{2}-\d{2}")


def now_iso() -> str:
    return iso(dt.datetime.now(_UTC))


def today_iso() -> str:
    return dt.datetime.now(_UTC).date().isoformat()


def iso(moment: dt.datetime) -> str:
    moment = moment.astimezone(_UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def read_date(value: Any, position: int) -> dt.datetime:
    """An aware UTC datetime from an ISO string (naive means UTC) or epoch milliseconds."""
    if is_number(value) and math.isfinite(value):
        try:
            return dt.datetime.fromtimestamp(value / 1000, _UTC)
        except (OverflowError, OSError, ValueError):
            pass
    elif isinstance(value, str):
        try:
            moment = dt.datetime.fromisoformat(value.strip())
        except ValueError:
            pass
        else:
            return moment.replace(tzinfo=_UTC) if moment.tzinfo is None else moment
    raise ExpressionError(f"argument {position} is not a valid date: {describe(value)}")


def _shifted(moment: dt.datetime, *, days: float = 0, hours: float = 0) -> dt.datetime:
    try:
        return moment + dt.timedelta(days=days, hours=hours)
    except (OverflowError, ValueError):
        raise ExpressionError("the resulting date is out of range") from None


@function("now", pure=False)
def now() -> str:
    return now_iso()


@function("today", pure=False)
def today() -> str:
    """Today's date in UTC, ``YYYY-MM-DD``."""
    return today_iso()


@function("timestamp", pure=False)
def timestamp(date: Any = UNDEFINED) -> int:
    """Epoch milliseconds of ``date``, or of now."""
    moment = dt.datetime.now(_UTC) if date is UNDEFINED else read_date(date, 1)
    return math.floor(moment.timestamp() * 1000)


# --- formatting ----------------------------------------------------------------------------

_FORMATTERS: Final[dict[str, Callable[[dt.datetime], str]]] = {
    "YYYY": lambda m: f"{m.year:04d}",
    "YY": lambda m: f"{m.year % 100:02d}",
    "MMMM": lambda m: _MONTHS[m.month - 1],
    "MMM": lambda m: _MONTHS[m.month - 1][:3],
    "MM": lambda m: f"{m.month:02d}",
    "M": lambda m: str(m.month),
    "DD": lambda m: f"{m.day:02d}",
    "D": lambda m: str(m.day),
    "HH": lambda m: f"{m.hour:02d}",
    "H": lambda m: str(m.hour),
    "hh": lambda m: f"{(m.hour % 12) or 12:02d}",
    "h": lambda m: str((m.hour % 12) or 12),
    "mm": lambda m: f"{m.minute:02d}",
    "ss": lambda m: f"{m.second:02d}",
    "SSS": lambda m: f"{m.microsecond // 1000:03d}",
    "A": lambda m: "AM" if m.hour < 12 else "PM",
    "a": lambda m: "am" if m.hour < 12 else "pm",
}


@function("formatDate")
def format_date(date: Any, pattern: Any = UNDEFINED) -> str:
    """Day.js-style tokens; text in ``[brackets]`` is copied as is. The default is ISO-8601."""
    moment = read_date(date, 1).astimezone(_UTC)
    if pattern is UNDEFINED:
        return iso(moment)

    def token(match: re.Match[str]) -> str:
        literal = match.group(1)
        return literal if literal is not None else _FORMATTERS[match.group(0)](moment)

    return _TOKENS.sub(token, expect_text(pattern, 2))


# --- parsing -------------------------------------------------------------------------------

_PARSE_PATTERNS: Final = {
    "YYYY": r"(?P<year>\d{4})",
    "YY": r"(?P<year2>\d{2})",
    "MMMM": r"(?P<monthname>[A-Za-z]+)",
    "MMM": r"(?P<monthabbr>[A-Za-z]{3})",
    "MM": r"(?P<month>\d{2})",
    "M": r"(?P<month>\d{1,2})",
    "DD": r"(?P<day>\d{2})",
    "D": r"(?P<day>\d{1,2})",
    "HH": r"(?P<hour>\d{2})",
    "H": r"(?P<hour>\d{1,2})",
    "hh": r"(?P<hour12>\d{2})",
    "h": r"(?P<hour12>\d{1,2})",
    "mm": r"(?P<minute>\d{2})",
    "ss": r"(?P<second>\d{2})",
    "SSS": r"(?P<millisecond>\d{3})",
    "A": r"(?P<meridiem>[AaPp][Mm])",
    "a": r"(?P<meridiem>[AaPp][Mm])",
}


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    parts, last = [], 0
    for match in _TOKENS.finditer(pattern):
        parts.append(re.escape(pattern[last : match.start()]))
        literal = match.group(1)
        parts.append(re.escape(literal) if literal is not None else _PARSE_PATTERNS[match[0]])
        last = match.end()
    parts.append(re.escape(pattern[last:]))
    try:
        return re.compile("".join(parts), re.IGNORECASE)
    except re.error:
        raise ExpressionError(f"argument 2 repeats a date token: {pattern!r}") from None


def _month(fields: dict[str, str]) -> int:
    if fields.get("month"):
        return int(fields["month"])
    name = (fields.get("monthname") or fields.get("monthabbr") or "").lower()
    for number, month in enumerate(_MONTHS, 1):
        if name and (month.lower() == name or month[:3].lower() == name):
            return number
    if name:
        raise ExpressionError(f"unknown month name {name!r}")
    return 1


def _hour(fields: dict[str, str]) -> int:
    if fields.get("hour12"):
        hour = int(fields["hour12"]) % 12
        return hour + 12 if (fields.get("meridiem") or "").lower() == "pm" else hour
    return int(fields.get("hour") or 0)


def _from_fields(fields: dict[str, str]) -> dt.datetime:
    year = int(fields["year"]) if fields.get("year") else 2000 + int(fields.get("year2") or 70)
    try:
        return dt.datetime(
            year,
            _month(fields),
            int(fields.get("day") or 1),
            _hour(fields),
            int(fields.get("minute") or 0),
            int(fields.get("second") or 0),
            int(fields.get("millisecond") or 0) * 1000,
            tzinfo=_UTC,
        )
    except ValueError as exc:
        raise ExpressionError(f"not a valid date: {exc}") from None


@function("parseDate")
def parse_date(text: Any, pattern: Any = UNDEFINED) -> str:
    """An ISO-8601 UTC string from ISO text, epoch milliseconds, or text in ``pattern``."""
    if pattern is UNDEFINED:
        return iso(read_date(text, 1))
    value, layout = expect_text(text, 1), expect_text(pattern, 2)
    match = _pattern_regex(layout).fullmatch(value.strip())
    if match is None:
        raise ExpressionError(f"{value!r} does not match the pattern {layout!r}")
    return iso(_from_fields({k: v for k, v in match.groupdict().items() if v is not None}))


# --- arithmetic ----------------------------------------------------------------------------


@function("addDays")
def add_days(date: Any, days: Any) -> str:
    """A date-only input (``2024-01-31``) gives a date-only result; others a full timestamp."""
    moment = _shifted(read_date(date, 1), days=expect_number(days, 2))
    if isinstance(date, str) and _DATE_ONLY.fullmatch(date.strip()):
        return moment.date().isoformat()
    return iso(moment)


@function("addHours")
def add_hours(date: Any, hours: Any) -> str:
    return iso(_shifted(read_date(date, 1), hours=expect_number(hours, 2)))


def _difference(later: Any, earlier: Any, unit: dt.timedelta) -> int:
    span = read_date(later, 1) - read_date(earlier, 2)
    return math.trunc(span / unit)


@function("diffDays")
def diff_days(later: Any, earlier: Any) -> int:
    """Whole days from ``earlier`` to ``later`` (``later - earlier``), truncated toward zero."""
    return _difference(later, earlier, dt.timedelta(days=1))


@function("diffHours")
def diff_hours(later: Any, earlier: Any) -> int:
    return _difference(later, earlier, dt.timedelta(hours=1))
