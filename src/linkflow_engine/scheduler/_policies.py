"""What fires when: on-time slots, misfires after downtime, and overlapping runs.

A slot is *on time* when the scheduler reaches it less than ``misfireGraceSeconds`` late (or
less than :data:`WAKE_ALLOWANCE`, whichever is longer); it fires normally. Slots later than that
were *missed* (the process was down, or the trigger had not been looked at) and
``misfirePolicy`` decides:

- ``skip``: none of them fires;
- ``once`` (default): one catch-up run, for the latest missed slot;
- ``all``: each missed slot fires, the latest ``misfireLimit`` (default 10) of them, oldest first.

``overlap`` says what a slot does while the trigger's previous run is still going: ``allow``
(default) starts another, ``skip`` drops the slot, ``queue`` starts it when the previous run
ends (at most ``QUEUE_LIMIT`` waiting; later slots are dropped).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from itertools import islice, takewhile
from typing import Any, Literal, Protocol

import attrs

__all__ = ["QUEUE_LIMIT", "Fire", "Schedule", "TriggerPolicy", "due_fires"]

MisfirePolicy = Literal["skip", "once", "all"]
OverlapPolicy = Literal["allow", "skip", "queue"]

QUEUE_LIMIT = 10
# On-time slots one pass fires at most: a tiny interval with a long grace must not flood.
_MAX_ON_TIME = 1000
WAKE_ALLOWANCE = 1.0
"""Seconds late a slot still counts on time whatever ``misfireGraceSeconds`` says: the
scheduler's own time to wake up and reach it (with a grace of 0, every slot was missed)."""


class Schedule(Protocol):
    """Fire instants as epoch seconds (UTC)."""

    def slots_after(self, instant: float) -> Iterator[float]:
        """Slots strictly after ``instant``, ascending, without end."""
        ...

    def slots_until(self, instant: float) -> Iterator[float]:
        """Slots at or before ``instant``, descending."""
        ...


def _choice(config: Mapping[str, Any], key: str, allowed: tuple[str, ...], default: str) -> Any:
    value = config.get(key, default)
    if value not in allowed:
        raise ValueError(f"{key} must be one of {', '.join(allowed)}, not {value!r}")
    return value


def _number(config: Mapping[str, Any], key: str, default: float, minimum: float) -> float:
    value = config.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum:
        raise ValueError(f"{key} must be a number >= {minimum:g}, not {value!r}")
    return float(value)


@attrs.frozen(kw_only=True)
class TriggerPolicy:
    """The misfire and overlap settings of one trigger."""

    misfire: MisfirePolicy = "once"
    misfire_limit: int = 10
    grace: float = 5.0
    overlap: OverlapPolicy = "allow"

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> TriggerPolicy:
        """From a trigger's config (``misfirePolicy``, ``misfireLimit``, ``misfireGraceSeconds``,
        ``overlap``); ValueError naming the field when one is wrong."""
        return cls(
            misfire=_choice(config, "misfirePolicy", ("skip", "once", "all"), "once"),
            misfire_limit=int(_number(config, "misfireLimit", 10, 1)),
            grace=_number(config, "misfireGraceSeconds", 5.0, 0),
            overlap=_choice(config, "overlap", ("allow", "skip", "queue"), "allow"),
        )


@attrs.frozen
class Fire:
    """One slot to fire; ``catch_up`` when it was missed and fires late by policy."""

    slot: float
    catch_up: bool = False


def due_fires(schedule: Schedule, policy: TriggerPolicy, *, after: float, now: float) -> list[Fire]:
    """The fires due at ``now`` for slots later than ``after`` (the last slot already handled),
    oldest first: the missed ones the misfire policy keeps, then the on-time ones."""
    missed_until = now - max(policy.grace, WAKE_ALLOWANCE)
    on_time_from = max(after, missed_until)
    on_time = takewhile(lambda slot: slot <= now, schedule.slots_after(on_time_from))
    fires = [Fire(slot) for slot in islice(on_time, _MAX_ON_TIME)]
    if after < missed_until:
        fires[:0] = _missed(schedule, policy, after=after, until=missed_until)
    return fires


def _missed(schedule: Schedule, policy: TriggerPolicy, *, after: float, until: float) -> list[Fire]:
    if policy.misfire == "skip":
        return []
    keep = 1 if policy.misfire == "once" else policy.misfire_limit
    latest = takewhile(lambda slot: slot > after, schedule.slots_until(until))
    return [Fire(slot, catch_up=True) for slot in reversed(list(islice(latest, keep)))]
