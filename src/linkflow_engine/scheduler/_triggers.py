"""Timed triggers as the scheduler sees them: a node's config turned into a schedule and a
policy, and :func:`preview_schedule`, which lists the instants a config would fire at."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from datetime import UTC, datetime, tzinfo
from itertools import islice
from typing import Any

import anyio
import attrs

from ..graph import Node, Workflow
from ._cron import CronSchedule, zone
from ._interval import IntervalSchedule
from ._policies import Schedule, TriggerPolicy

__all__ = ["TIMED_TRIGGERS", "TimedTrigger", "preview_schedule", "schedule_of"]

TIMED_TRIGGERS = ("schedule_trigger", "interval_trigger")


def schedule_of(config: Mapping[str, Any], default_timezone: str = "UTC") -> Schedule:
    """The schedule of a trigger config: ``cron`` (+ ``timezone``) or ``interval`` (+ ``unit``).
    ValueError when the config is not a valid schedule."""
    if config.get("cron") is not None:
        cron = config["cron"]
        if not isinstance(cron, str):
            raise ValueError(f"cron must be a string, not {cron!r}")
        schedule = CronSchedule(cron, config.get("timezone") or default_timezone)
        schedule.check_fires()
        return schedule
    if config.get("interval") is not None:
        return IntervalSchedule(config["interval"], config.get("unit", "seconds"))
    raise ValueError("a timed trigger needs 'cron' or 'interval'")


def preview_schedule(
    trigger_config: Mapping[str, Any], count: int, start: datetime | None = None
) -> list[datetime]:
    """The next ``count`` instants a ``schedule_trigger`` or ``interval_trigger`` config fires
    at after ``start`` (default: now), as aware datetimes in the trigger's time zone (``timezone``,
    default UTC; a naive ``start`` is read in that zone). The daylight-saving rules apply: a
    repeated wall time appears once, a missing one at the transition. ValueError for a bad config.

    >>> [d.isoformat() for d in preview_schedule({"cron": "0 9 * * 1-5"}, 2,
    ...     datetime(2024, 3, 8, 12, tzinfo=UTC))]
    ['2024-03-11T09:00:00+00:00', '2024-03-12T09:00:00+00:00']
    """
    schedule = schedule_of(trigger_config)
    local = zone(trigger_config.get("timezone") or "UTC")
    after = time.time() if start is None else _epoch(start, local)
    slots = islice(schedule.slots_after(after), max(count, 0))
    return [datetime.fromtimestamp(slot, local) for slot in slots]


def _epoch(moment: datetime, local: tzinfo) -> float:
    return (moment if moment.tzinfo else moment.replace(tzinfo=local)).timestamp()


def iso(instant: float) -> str:
    """Epoch seconds as ISO-8601 UTC with milliseconds and a ``Z`` (the spec's timestamps)."""
    text = datetime.fromtimestamp(instant, UTC).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


def fingerprint(workflow: Workflow, node: Node) -> str:
    """What a trigger's slots depend on: an edit that changes it rebuilds the trigger."""
    config = {"config": node.config, "timezone": workflow.settings.timezone, "type": node.type}
    return json.dumps(config, sort_keys=True, default=str)


@attrs.define(kw_only=True)
class TimedTrigger:
    """A scheduled or interval trigger of an active workflow, and where its slots are up to.

    ``handled_until``: every slot at or before it has been dealt with (fired, claimed by another
    process, or dropped by policy); the scheduler only looks at later slots.
    """

    workflow: Workflow
    node: Node
    schedule: Schedule
    policy: TriggerPolicy
    fingerprint: str
    handled_until: float
    queued: int = 0
    queue_lock: anyio.Lock = attrs.field(factory=anyio.Lock)
    failures: int = 0
    """Passes in a row whose slot failed to start (its execution not stored)."""
    retry_at: float = 0.0
    """After such a pass, the time (engine clock) before which the trigger is left alone."""

    @property
    def key(self) -> tuple[str, str]:
        assert self.workflow.id is not None
        return self.workflow.id, self.node.id

    @classmethod
    def of(cls, workflow: Workflow, node: Node, *, handled_until: float) -> TimedTrigger:
        """ValueError when the node's config is not a valid schedule or policy."""
        return cls(
            workflow=workflow,
            node=node,
            schedule=schedule_of(node.config, workflow.settings.timezone),
            policy=TriggerPolicy.from_config(node.config),
            fingerprint=fingerprint(workflow, node),
            handled_until=handled_until,
        )

    def label(self) -> str:
        return f"{self.key[0]}/{self.key[1]}"
