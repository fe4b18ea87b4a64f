"""Cron and interval schedules: the seconds field, time zones and the daylight-saving rules."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from croniter import croniter

from linkflow_engine.scheduler import preview_schedule
from linkflow_engine.scheduler._cron import CronSchedule, cron_for_croniter


def local(config: dict[str, str], count: int, start: datetime) -> list[str]:
    return [moment.isoformat() for moment in preview_schedule(config, count, start)]


def test_seconds_come_first_in_a_six_field_cron() -> None:
    """'*/15 30 9 * * *' is every 15 seconds of 9:30 (seconds first, as Quartz and n8n)."""
    assert cron_for_croniter("*/15 30 9 * * *") == "30 9 * * * */15"
    start = datetime(2024, 5, 1, 9, 29, 59, tzinfo=UTC)
    assert local({"cron": "*/15 30 9 * * *"}, 3, start) == [
        "2024-05-01T09:30:00+00:00",
        "2024-05-01T09:30:15+00:00",
        "2024-05-01T09:30:30+00:00",
    ]


@pytest.mark.parametrize("cron", ["", "* * * *", "* * * * * * *", "61 * * * *", "x * * * *"])
def test_a_bad_cron_is_a_value_error(cron: str) -> None:
    """Wrong field counts and out-of-range values are refused with a ValueError."""
    with pytest.raises(ValueError, match="cron"):
        CronSchedule(cron)


def test_an_unknown_time_zone_is_a_value_error() -> None:
    """A zone that is not in the IANA database is refused."""
    with pytest.raises(ValueError, match="time zone"):
        CronSchedule("0 9 * * *", "Mars/Olympus_Mons")


def test_weekday_mornings_in_paris() -> None:
    """'0 9 * * 1-5' in Europe/Paris fires at 9:00 local time on weekdays only."""
    start = datetime(2024, 3, 8, 12, tzinfo=ZoneInfo("Europe/Paris"))  # a Friday
    assert local({"cron": "0 9 * * 1-5", "timezone": "Europe/Paris"}, 2, start) == [
        "2024-03-11T09:00:00+01:00",
        "2024-03-12T09:00:00+01:00",
    ]


def test_croniter_alone_fires_twice_on_the_repeated_hour() -> None:
    """Why our rule is needed: croniter on aware times fires 1:30 before and after fall-back."""
    start = datetime(2024, 11, 2, 12, tzinfo=ZoneInfo("America/New_York"))
    walls = croniter("30 1 * * *", start)
    fires = [walls.get_next(datetime).isoformat() for _ in range(2)]
    assert fires == ["2024-11-03T01:30:00-04:00", "2024-11-03T01:30:00-05:00"]


REPEATED = [
    # zone, cron, start (local), expected first fires: the repeated wall time only once, first
    (
        "America/New_York",
        "30 1 * * *",
        datetime(2024, 11, 2, 12),
        ["2024-11-03T01:30:00-04:00", "2024-11-04T01:30:00-05:00"],
    ),
    (
        "Europe/London",
        "30 1 * * *",
        datetime(2024, 10, 26, 12),
        ["2024-10-27T01:30:00+01:00", "2024-10-28T01:30:00+00:00"],
    ),
    (
        "Australia/Lord_Howe",  # 2:00 +11 goes back to 1:30 +10:30: 1:30-2:00 happens twice
        "45 1 * * *",
        datetime(2024, 4, 6, 12),
        ["2024-04-07T01:45:00+11:00", "2024-04-08T01:45:00+10:30"],
    ),
]


@pytest.mark.parametrize(("zone", "cron", "start", "expected"), REPEATED)
def test_a_wall_time_that_occurs_twice_fires_once_at_its_first_occurrence(
    zone: str, cron: str, start: datetime, expected: list[str]
) -> None:
    """Clocks going back: the repeated wall time fires once, at its first occurrence."""
    config = {"cron": cron, "timezone": zone}
    assert local(config, 2, start.replace(tzinfo=ZoneInfo(zone))) == expected


MISSING = [
    # zone, cron, start (local), expected: the missing time fires at the transition
    (
        "America/New_York",
        "30 2 * * *",
        datetime(2024, 3, 9, 12),
        ["2024-03-10T03:00:00-04:00", "2024-03-11T02:30:00-04:00"],
    ),
    (
        "Europe/London",
        "30 1 * * *",
        datetime(2024, 3, 30, 12),
        ["2024-03-31T02:00:00+01:00", "2024-04-01T01:30:00+01:00"],
    ),
    (
        "Australia/Lord_Howe",  # 2:00 +10:30 jumps to 2:30 +11
        "15 2 * * *",
        datetime(2024, 10, 5, 12),
        ["2024-10-06T02:30:00+11:00", "2024-10-07T02:15:00+11:00"],
    ),
]


@pytest.mark.parametrize(("zone", "cron", "start", "expected"), MISSING)
def test_a_wall_time_that_does_not_exist_fires_once_at_the_first_valid_instant(
    zone: str, cron: str, start: datetime, expected: list[str]
) -> None:
    """Clocks going forward: the skipped wall time fires once, when the gap ends."""
    config = {"cron": cron, "timezone": zone}
    assert local(config, 2, start.replace(tzinfo=ZoneInfo(zone))) == expected


def test_every_missing_minute_collapses_into_one_fire() -> None:
    """'*/20 * * * *' over New York's spring gap: 2:00, 2:20, 2:40 and 3:00 fire once, at 3:00."""
    start = datetime(2024, 3, 10, 1, 30, tzinfo=ZoneInfo("America/New_York"))
    config = {"cron": "*/20 * * * *", "timezone": "America/New_York"}
    assert local(config, 3, start) == [
        "2024-03-10T01:40:00-05:00",
        "2024-03-10T03:00:00-04:00",
        "2024-03-10T03:20:00-04:00",
    ]


def test_slots_until_walks_back_over_both_transitions() -> None:
    """Looking back (for misfires) applies the same rules as looking forward."""
    zone = ZoneInfo("America/New_York")
    schedule = CronSchedule("*/20 * * * *", "America/New_York")
    after_gap = datetime(2024, 3, 10, 3, 30, tzinfo=zone).timestamp()
    back = schedule.slots_until(after_gap)
    assert [datetime.fromtimestamp(next(back), zone).isoformat() for _ in range(3)] == [
        "2024-03-10T03:20:00-04:00",
        "2024-03-10T03:00:00-04:00",
        "2024-03-10T01:40:00-05:00",
    ]
    second_pass = datetime(2024, 11, 3, 1, 45, fold=1, tzinfo=zone).timestamp()
    back = schedule.slots_until(second_pass)
    assert datetime.fromtimestamp(next(back), zone).isoformat() == "2024-11-03T01:40:00-04:00"


def test_the_workflow_time_zone_is_the_default() -> None:
    """Without 'timezone' in the config a trigger uses the workflow's settings.timezone."""
    from linkflow_engine.scheduler._triggers import schedule_of

    schedule = schedule_of({"cron": "0 9 * * *"}, "Asia/Tokyo")
    first = next(schedule.slots_after(datetime(2023, 12, 31, 12, tzinfo=UTC).timestamp()))
    assert datetime.fromtimestamp(first, UTC).isoformat() == "2024-01-01T00:00:00+00:00"


def test_interval_slots_are_multiples_of_the_interval_since_the_epoch() -> None:
    """'every 15 minutes' fires at :00, :15, :30, :45 whatever the start."""
    start = datetime(2024, 3, 10, 1, 10, 7, tzinfo=UTC)
    assert local({"interval": 15, "unit": "minutes"}, 3, start) == [
        "2024-03-10T01:15:00+00:00",
        "2024-03-10T01:30:00+00:00",
        "2024-03-10T01:45:00+00:00",
    ]


@pytest.mark.parametrize(
    "config", [{"interval": 0}, {"interval": -1}, {"interval": 5, "unit": "weeks"}, {}]
)
def test_a_bad_interval_config_is_a_value_error(config: dict[str, object]) -> None:
    """A non-positive interval, an unknown unit or no schedule at all is refused."""
    with pytest.raises(ValueError, match=r"interval|unit|cron"):
        preview_schedule(config, 1)
