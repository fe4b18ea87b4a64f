"""Cron schedules in an IANA time zone: croniter for the calendar, our rules for daylight saving.

Format: five fields ``minute hour day-of-month month day-of-week``, or six with a leading
*seconds* field ``second minute hour day-of-month month day-of-week``, as Quartz, Spring and n8n
write it (croniter wants seconds last; we move the field before handing it over).

Slots are found on the wall clock (croniter over naive local times) and then placed on the time
line by two rules, so that every wall time named by the expression fires exactly once:

- a wall time that occurs twice (clocks go back) is its *first* occurrence, and the repeated
  hour brings no second fire (croniter on aware datetimes fires both);
- a wall time that does not exist (clocks go forward) fires at the first valid instant after
  it, the moment of the transition; several such times, or one of them and the transition's own
  wall time, collapse into that single fire.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

if TYPE_CHECKING:
    from croniter import croniter

__all__ = ["CronSchedule", "cron_for_croniter", "zone"]

_TINY = timedelta(microseconds=1)


def zone(name: str) -> ZoneInfo:
    """The IANA zone ``name`` (ValueError when unknown)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}") from None


def cron_for_croniter(expression: str) -> str:
    """Our expression in croniter's field order (seconds moved from first to last); ValueError
    when it does not have 5 or 6 fields or croniter rejects it."""
    fields = expression.split()
    if len(fields) not in (5, 6):
        raise ValueError(f"cron {expression!r} must have 5 fields (or 6 with seconds first)")
    if len(fields) == 6:
        fields = [*fields[1:], fields[0]]
    converted = " ".join(fields)
    from croniter import CroniterError

    try:
        _croniter(converted)
    except (CroniterError, ValueError) as error:
        raise ValueError(f"invalid cron {expression!r}: {error}") from None
    return converted


def _croniter(expression: str, start: Any = None) -> croniter:
    # croniter (with dateutil) costs ~37 ms to import: only engines that schedule pay it.
    from croniter import croniter

    return croniter(expression, start)


class CronSchedule:
    """The slots of a cron expression in a time zone, as epoch seconds (UTC)."""

    def __init__(self, expression: str, timezone: str = "UTC") -> None:
        self.expression = expression
        self.timezone = timezone
        self._cron = cron_for_croniter(expression)
        self._zone = zone(timezone)

    def __repr__(self) -> str:
        return f"CronSchedule({self.expression!r}, {self.timezone!r})"

    @property
    def tzinfo(self) -> ZoneInfo:
        return self._zone

    def check_fires(self) -> None:
        """ValueError for an expression that never fires (``0 0 30 2 *``: February 30th)."""
        from croniter import CroniterBadDateError

        try:
            next(self.slots_after(0.0))
        except (CroniterBadDateError, OverflowError):
            raise ValueError(f"cron {self.expression!r} never fires (no such date)") from None

    def slots_after(self, instant: float) -> Iterator[float]:
        """Slots strictly after ``instant``, ascending, without end."""
        wall, last = self._wall(instant), instant
        while True:
            wall = _croniter(self._cron, wall).get_next(datetime)
            slot = self._instant(wall)
            if slot > last:
                last = slot
                yield slot
            # A whole gap maps onto one instant: jump past it instead of walking through it.
            wall = max(wall, self._wall(slot) - _TINY)

    def slots_until(self, instant: float) -> Iterator[float]:
        """Slots at or before ``instant``, descending (as far back as asked)."""
        wall, last = self._latest_wall_before(instant), math.inf
        while True:
            wall = _croniter(self._cron, wall).get_prev(datetime)
            slot = self._instant(wall)
            if slot <= instant and slot < last:
                last = slot
                yield slot
            if slot < self._instant_of_existing(wall):
                wall = self._wall(slot - 1e-6) + _TINY  # jump to the gap's start

    def _latest_wall_before(self, instant: float) -> datetime:
        """A wall time just after every wall time whose slot is at or before ``instant``."""
        local = datetime.fromtimestamp(instant, self._zone)
        wall = local.replace(tzinfo=None)
        if local.fold:
            # In the repeated hour's second pass: the rest of that hour already fired (first
            # pass), so its wall times count as before ``instant`` too.
            first, second = local.replace(fold=0).utcoffset(), local.utcoffset()
            assert first is not None and second is not None
            wall += first - second
        return wall + _TINY

    def _wall(self, instant: float) -> datetime:
        return datetime.fromtimestamp(instant, self._zone).replace(tzinfo=None)

    def _instant_of_existing(self, wall: datetime) -> float:
        # fold=0: the first occurrence of a repeated time (for a missing time, the instant
        # the old offset would give, which lies after the transition).
        return wall.replace(tzinfo=self._zone).timestamp()

    def _instant(self, wall: datetime) -> float:
        """Where a wall time fires: itself (first occurrence), or the transition it fell in."""
        instant = self._instant_of_existing(wall)
        if self._wall(instant) == wall:
            return instant
        return self._transition_after(wall)

    def _transition_after(self, wall: datetime) -> float:
        """The first instant whose wall time is later than the missing ``wall``."""
        low = math.floor(wall.replace(tzinfo=self._zone, fold=1).timestamp())
        high = math.ceil(self._instant_of_existing(wall))
        while low < high:  # transitions fall on whole seconds
            middle = (low + high) // 2
            if self._wall(middle) > wall:
                high = middle
            else:
                low = middle + 1
        return float(low)
