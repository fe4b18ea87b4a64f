"""``linkflow schedule preview``: the next instants a cron or interval trigger fires at.

linkflow schedule preview "0 9 * * 1-5" --tz Europe/Paris --count 5
linkflow schedule preview --interval 15 --unit minutes
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any

from ._common import EXIT_OK, InputError

__all__ = ["add_commands"]


def add_commands(commands: Any) -> None:
    schedule = commands.add_parser("schedule", help="preview cron and interval schedules")
    actions = schedule.add_subparsers(required=True, metavar="ACTION")
    preview = actions.add_parser(
        "preview",
        help="the next fire instants of a schedule",
        description="Print the next fire instants (ISO-8601, in the time zone, then UTC) of a"
        " cron expression (5 fields, or 6 with seconds first) or of an interval, with the"
        " daylight-saving rules the scheduler applies.",
    )
    preview.add_argument("cron", nargs="?", help='cron expression, e.g. "0 9 * * 1-5"')
    preview.add_argument("--tz", default="UTC", help="IANA time zone (UTC)")
    preview.add_argument("--count", type=int, default=10, help="how many instants (10)")
    preview.add_argument("--interval", type=float, help="an interval instead of a cron")
    preview.add_argument("--unit", default="seconds", help="seconds, minutes, hours or days")
    preview.add_argument("--start", help="ISO-8601 instant to start after (default: now)")
    preview.set_defaults(command=_preview)


def _preview(args: argparse.Namespace) -> int:
    from ..scheduler import preview_schedule

    try:
        instants = preview_schedule(_config(args), args.count, _start(args.start))
    except (ValueError, OverflowError) as error:  # an interval or a start past the calendar
        raise InputError(str(error)) from None
    for instant in instants:
        print(f"{instant.isoformat()}  {_utc(instant)}")
    return EXIT_OK


def _config(args: argparse.Namespace) -> dict[str, Any]:
    if (args.cron is None) == (args.interval is None):
        raise InputError("give a cron expression or --interval (not both)")
    if args.interval is not None:
        return {"interval": args.interval, "unit": args.unit, "timezone": args.tz}
    return {"cron": args.cron, "timezone": args.tz}


def _start(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InputError(f"--start: not an ISO-8601 datetime: {text!r}") from None


def _utc(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
