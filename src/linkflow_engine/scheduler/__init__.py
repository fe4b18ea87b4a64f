"""Triggers that fire by themselves: the cron and interval scheduler, and error workflows.

``Engine(..., scheduler=True)`` (and ``linkflow serve``) runs the scheduler; error workflows
start from any engine. :func:`preview_schedule` lists the instants a trigger config fires at.
See docs/scheduler.md and docs/error-workflows.md.
"""

from ._errors import ErrorWorkflows, error_payload
from ._policies import TriggerPolicy
from ._service import SchedulerService
from ._triggers import preview_schedule

__all__ = [
    "ErrorWorkflows",
    "SchedulerService",
    "TriggerPolicy",
    "error_payload",
    "preview_schedule",
]
