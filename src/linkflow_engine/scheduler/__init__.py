"""Triggers that fire by themselves on time: the cron and interval scheduler.

``Engine(..., scheduler=True)`` (and ``linkflow serve``) runs the scheduler, and only then is
this package (and croniter) imported. :func:`preview_schedule` lists the instants a trigger
config fires at. See docs/scheduler.md. Error workflows start from any engine: they live in the
runtime (docs/error-workflows.md).
"""

from ._policies import TriggerPolicy
from ._service import SchedulerService
from ._triggers import preview_schedule

__all__ = ["SchedulerService", "TriggerPolicy", "preview_schedule"]
