"""Interval schedules: every N seconds, minutes, hours or days of elapsed time.

Slots are the multiples of the interval since the Unix epoch (1970-01-01T00:00:00Z), not counted
from when a process started: every process, before and after a restart, computes the same slots,
which is what lets storage tell a slot already fired from a new one. So "every 15 minutes" fires
at :00, :15, :30 and :45 UTC, and "every day" at midnight UTC. Days are 86,400 seconds: intervals
measure elapsed time and ignore daylight saving (use a cron schedule for wall-clock times).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from itertools import count

__all__ = ["SECONDS_PER_UNIT", "IntervalSchedule"]

SECONDS_PER_UNIT = {"seconds": 1.0, "minutes": 60.0, "hours": 3600.0, "days": 86400.0}


MIN_PERIOD = 1.0
"""Seconds: the finest an interval fires, as a cron's seconds field."""


class IntervalSchedule:
    """The slots ``k * interval`` (epoch seconds, UTC)."""

    def __init__(self, interval: float, unit: str = "seconds") -> None:
        if unit not in SECONDS_PER_UNIT:
            raise ValueError(f"unit must be one of {', '.join(SECONDS_PER_UNIT)}, not {unit!r}")
        if isinstance(interval, bool) or not isinstance(interval, int | float) or interval <= 0:
            raise ValueError(f"interval must be a number > 0, not {interval!r}")
        period = float(interval) * SECONDS_PER_UNIT[unit]
        if not MIN_PERIOD <= period < math.inf:
            raise ValueError(
                f"interval must be at least {MIN_PERIOD:g} second (the finest a schedule fires), "
                f"not {interval!r} {unit}"
            )
        self.interval, self.unit, self.period = interval, unit, period

    def __repr__(self) -> str:
        return f"IntervalSchedule({self.interval!r}, {self.unit!r})"

    def slots_after(self, instant: float) -> Iterator[float]:
        """Slots strictly after ``instant``, ascending, without end."""
        first = math.floor(instant / self.period) + 1
        return (index * self.period for index in count(first))

    def slots_until(self, instant: float) -> Iterator[float]:
        """Slots at or before ``instant``, descending."""
        latest = math.floor(instant / self.period)
        return (index * self.period for index in count(latest, -1))
