"""Checking the filters of history queries: every bad value is a validation error naming its
field (the Python API and the HTTP adapter share these rules)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from .._exceptions import WorkflowValidationError
from ..storage.base import ExecutionQuery
from ._records import ExecutionMode, ExecutionStatus, parse_timestamp

__all__ = ["PERIODS", "execution_query", "parse_age", "parse_period"]

MAX_LIMIT = 1000
PERIODS = ("day", "week", "month")


def _problem(field: str, message: str) -> dict[str, str]:
    return {"field": field, "message": message}


def _enum(value: Any, kind: type[ExecutionStatus] | type[ExecutionMode], field: str) -> Any:
    if value is None or isinstance(value, kind):
        return value
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(member.value for member in kind)
        raise WorkflowValidationError(
            [_problem(field, f"{value!r} is not one of: {allowed}")]
        ) from None


_MOMENTS = 253_402_300_800
"""Seconds from 1970 to the end of the year 9999 (before 1970: as many back, past year 1)."""


def _moment(value: Any, field: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise WorkflowValidationError([_problem(field, "a datetime needs a time zone")])
        return value.timestamp()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if abs(value) <= _MOMENTS:  # (never for NaN)
            return float(value)
        raise WorkflowValidationError(
            [_problem(field, f"{value!r} is not a time in seconds since 1970 (year 1 to 9999)")]
        )
    if isinstance(value, str):
        try:
            return parse_timestamp(value)
        except ValueError:
            pass
    raise WorkflowValidationError(
        [_problem(field, f"{value!r} is not an ISO-8601 datetime (e.g. 2024-12-19T12:00:00Z)")]
    )


MAX_COUNT = 2**63 - 1
"""The largest count storage holds (a 64-bit integer in SQLite and PostgreSQL)."""


def parse_count(value: Any, field: str, *, minimum: int = 0, maximum: int = MAX_COUNT) -> int:
    """A whole number (or its text, as from a URL) from ``minimum`` to ``maximum``; not a bool,
    which Python counts as one."""
    number = value
    if isinstance(value, str):  # digits only: int() would also take " 5", "1_0" or "٣"
        number = int(value) if value.isascii() and value.isdigit() and len(value) < 20 else None
    if not isinstance(number, int) or isinstance(number, bool) or number < minimum:
        raise WorkflowValidationError(
            [_problem(field, f"{value!r} is not an integer >= {minimum}")]
        )
    if number > maximum:
        raise WorkflowValidationError([_problem(field, f"{value!r} is more than {maximum}")])
    return number


def parse_id(value: Any, field: str) -> str | None:
    """An id to filter by (a string), or None."""
    if value is None or isinstance(value, str):
        return value
    raise WorkflowValidationError([_problem(field, f"{value!r} is not a string")])


def execution_query(
    *,
    workflow_id: Any = None,
    status: Any = None,
    mode: Any = None,
    started_after: Any = None,
    started_before: Any = None,
    limit: Any = 20,
    offset: Any = 0,
) -> ExecutionQuery:
    """An :class:`ExecutionQuery` from user values (strings from a URL are fine); every bad
    value is reported, each naming its field."""
    problems: list[dict[str, str]] = []

    def checked(parse: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return parse(*args, **kwargs)
        except WorkflowValidationError as error:
            problems.extend(error.details)
            return None

    query = {
        "workflow_id": checked(parse_id, workflow_id, "workflowId"),
        "status": checked(_enum, status, ExecutionStatus, "status"),
        "mode": checked(_enum, mode, ExecutionMode, "mode"),
        "started_after": checked(_moment, started_after, "startedAfter"),
        "started_before": checked(_moment, started_before, "startedBefore"),
        "limit": checked(parse_count, limit, "limit", minimum=1, maximum=MAX_LIMIT),
        "offset": checked(parse_count, offset, "offset"),
    }
    if problems:
        raise WorkflowValidationError(problems)
    return ExecutionQuery(**query)


def parse_period(value: Any) -> str:
    if value not in PERIODS:
        raise WorkflowValidationError(
            [_problem("period", f"{value!r} is not one of: {', '.join(PERIODS)}")]
        )
    return str(value)


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_AGES = 1e15
"""Seconds beyond any age (thirty million years): a number past it is refused, not overflowed."""


def parse_age(value: Any, field: str) -> float | None:
    """Seconds from a timedelta, a number of seconds, or text such as ``30d`` / ``12h``."""
    if value is None:
        return None
    if isinstance(value, timedelta):  # checked as its seconds: a negative one is refused too
        value = value.total_seconds()
    if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value < _AGES:
        return float(value)
    count = value[:-1] if isinstance(value, str) else ""
    if count.isascii() and count.isdigit() and len(count) <= 9 and value[-1:] in _UNITS:
        return int(count) * _UNITS[value[-1]]
    raise WorkflowValidationError(
        [_problem(field, f"{value!r} is not a duration such as 30d, 12h or 90m")]
    )
