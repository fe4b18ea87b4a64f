"""The engine's read side: history (get, list, stats, prune) and stored workflows.

Thin, documented doors onto the storage, with the user's values checked first (a bad filter is a
validation error naming the field). :class:`~linkflow_engine.Engine` inherits them.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from ..graph import Workflow
from ._queries import execution_query, parse_age, parse_count, parse_id, parse_period
from ._records import Execution, ExecutionMode, ExecutionStatus

if TYPE_CHECKING:
    from .._clock import Clock
    from ..storage.base import Storage

__all__ = ["EngineHistory"]


class EngineHistory:
    """History and workflow methods of :class:`~linkflow_engine.Engine`."""

    storage: Storage
    clock: Clock

    def validate(self, workflow: Mapping[str, Any] | Workflow) -> Workflow:
        raise NotImplementedError

    # -- history ---------------------------------------------------------------------------

    async def get_execution(self, execution_id: str, *, include_data: bool = False) -> Execution:
        """The stored execution (ExecutionNotFoundError when unknown)."""
        return await self.storage.get_execution(execution_id, include_data=include_data)

    async def list_executions(
        self,
        *,
        workflow_id: str | None = None,
        status: ExecutionStatus | str | None = None,
        mode: ExecutionMode | str | None = None,
        started_after: datetime | str | float | None = None,
        started_before: datetime | str | float | None = None,
        limit: int | str = 20,
        offset: int | str = 0,
    ) -> tuple[list[Execution], int]:
        """Executions newest first (without node data) and how many match in all. Values may
        be strings (as from a URL); bad ones raise WorkflowValidationError naming the field."""
        query = execution_query(
            workflow_id=workflow_id,
            status=status,
            mode=mode,
            started_after=started_after,
            started_before=started_before,
            limit=limit,
            offset=offset,
        )
        return await self.storage.list_executions(query)

    async def execution_stats(
        self, *, workflow_id: str | None = None, period: str = "day"
    ) -> dict[str, Any]:
        """``{total, completed, failed, cancelled, avgDuration, successRate, byDay}`` over the
        last day, week or month, computed by the storage."""
        return await self.storage.execution_stats(
            workflow_id=parse_id(workflow_id, "workflowId"),
            period=parse_period(period),
            now=self.clock.now(),
        )

    async def prune(
        self,
        *,
        older_than: timedelta | float | str | None = None,
        keep_last_per_workflow: int | None = None,
    ) -> int:
        """Delete finished executions older than ``older_than`` (a timedelta, seconds, or
        text such as ``30d``) and/or beyond the newest N per workflow; never unfinished ones.
        Returns how many were deleted."""
        age = parse_age(older_than, "olderThan")
        keep = None
        if keep_last_per_workflow is not None:
            keep = parse_count(keep_last_per_workflow, "keepLastPerWorkflow")
        return await self.storage.prune(
            older_than=None if age is None else self.clock.now() - age,
            keep_last_per_workflow=keep,
        )

    # -- workflows -------------------------------------------------------------------------

    async def save_workflow(self, workflow: Mapping[str, Any] | Workflow) -> Workflow:
        """Validate and store a workflow (a new version when its id exists)."""
        return await self.storage.save_workflow(self.validate(workflow))

    async def get_workflow(self, workflow_id: str, *, version: int | None = None) -> Workflow:
        """The latest (or the given) stored version (ExecutionNotFoundError when unknown)."""
        return await self.storage.get_workflow(workflow_id, version=version)

    async def list_workflows(
        self, *, status: str | None = None, limit: int = 20, offset: int = 0
    ) -> tuple[list[Workflow], int]:
        """Stored workflows (latest versions), most recently updated first, and the total."""
        return await self.storage.list_workflows(status=status, limit=limit, offset=offset)

    async def delete_workflow(self, workflow_id: str) -> None:
        """Delete every version of a stored workflow (executions keep their snapshots)."""
        await self.storage.delete_workflow(workflow_id)
