"""Misfire policies and their config: which slots fire after downtime."""

from __future__ import annotations

import pytest

from linkflow_engine.scheduler import TriggerPolicy
from linkflow_engine.scheduler._interval import IntervalSchedule
from linkflow_engine.scheduler._policies import Fire, due_fires

MINUTE = IntervalSchedule(1, "minutes")


def fires(now: float, after: float = 0.0, **config: object) -> list[Fire]:
    return due_fires(MINUTE, TriggerPolicy.from_config(config), after=after, now=now)


def test_a_slot_reached_on_time_fires_normally() -> None:
    """The slot at 60 s, reached at 60.2 s, fires as an ordinary (not catch-up) fire."""
    assert fires(60.2) == [Fire(60.0)]


def test_nothing_is_due_between_slots() -> None:
    """No slot in (after, now]: nothing fires."""
    assert fires(119.0, after=60.0) == []


def test_once_is_the_default_one_catch_up_for_the_latest_missed_slot() -> None:
    """Down from 0 to 10 min: one catch-up run, for the 10:00 slot (late beyond the grace)."""
    assert fires(600.0 + 30) == [Fire(600.0, catch_up=True)]


def test_skip_fires_no_missed_slot() -> None:
    """misfirePolicy skip: missed slots are dropped; the next on-time slot fires."""
    assert fires(630.0, misfirePolicy="skip") == []
    assert fires(660.5, after=630.0, misfirePolicy="skip") == [Fire(660.0)]


def test_all_fires_every_missed_slot_up_to_the_limit_oldest_first() -> None:
    """misfirePolicy all: the latest misfireLimit missed slots, in order."""
    assert fires(630.0, misfirePolicy="all", misfireLimit=3) == [
        Fire(480.0, catch_up=True),
        Fire(540.0, catch_up=True),
        Fire(600.0, catch_up=True),
    ]
    assert len(fires(630.0, misfirePolicy="all")) == 10


def test_a_slot_late_by_less_than_the_grace_still_fires_normally() -> None:
    """misfireGraceSeconds: 60 s late with a 90 s grace is on time; older slots are missed."""
    assert fires(660.0, after=530.0, misfirePolicy="skip", misfireGraceSeconds=90) == [
        Fire(600.0),
        Fire(660.0),
    ]


def test_a_grace_of_zero_still_fires_slots_the_scheduler_reaches_on_time() -> None:
    """misfireGraceSeconds 0: a slot reached as the scheduler wakes (a few ms after it) fires
    normally (before, every slot was missed: with skip none ever fired, with once each was a
    catch-up); one reached later than the scheduler's wake-up allowance is missed."""
    assert fires(60.01, misfireGraceSeconds=0, misfirePolicy="skip") == [Fire(60.0)]
    assert fires(60.01, misfireGraceSeconds=0) == [Fire(60.0)]
    assert fires(62.0, misfireGraceSeconds=0, misfirePolicy="skip") == []


def test_the_defaults() -> None:
    """Defaults: once, limit 10, grace 5 s, overlap allow."""
    assert TriggerPolicy.from_config({}) == TriggerPolicy(
        misfire="once", misfire_limit=10, grace=5.0, overlap="allow"
    )


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"misfirePolicy": "sometimes"}, "misfirePolicy"),
        ({"misfireLimit": 0}, "misfireLimit"),
        ({"misfireGraceSeconds": -1}, "misfireGraceSeconds"),
        ({"overlap": "maybe"}, "overlap"),
    ],
)
def test_a_bad_policy_value_names_its_field(config: dict[str, object], field: str) -> None:
    """Each wrong policy value is a ValueError that names the config field."""
    with pytest.raises(ValueError, match=field):
        TriggerPolicy.from_config(config)
