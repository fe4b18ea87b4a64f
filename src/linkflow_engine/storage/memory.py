"""In-process storage: the default of ``run_workflow``. Nothing survives the process.

The execution the engine creates is kept by reference, so saving progress costs nothing: the
executor's record *is* the stored record, and the engine skips progress writes to storage that is
not ``durable``. Reads hand out copies, so a caller that edits what it read cannot change what is
stored.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Sequence
from typing import Any

import attrs

from .._exceptions import ExecutionNotFoundError, LeaseLostError, StorageError
from ..events import EventRecord
from ..graph import Workflow
from ..runtime._records import (
    Execution,
    ExecutionError,
    ExecutionStatus,
    LogEntry,
    NodeExecution,
    NodeStatus,
    format_timestamp,
)
from ._sql import (
    FINISHED,
    delivery_assignments,
    period_start,
    pruned_before,
    stats_from_days,
    wire_event,
)
from .base import ExecutionQuery, FireKey, FireRecorded, Lease, LeaseTerms, StoredEvent

__all__ = ["MemoryStorage"]


class MemoryStorage:
    """Keeps everything in dictionaries of this process."""

    durable = False

    def __init__(self) -> None:
        self._workflows: dict[str, list[Workflow]] = {}
        self._executions: dict[str, Execution] = {}
        self._events: dict[str, list[StoredEvent]] = {}
        self._leases: dict[str, Lease] = {}
        self._fences = 0
        self._fires: set[tuple[str, str, int]] = set()
        self._deliveries: dict[str, dict[str, Any]] = {}

    def __repr__(self) -> str:
        return f"MemoryStorage(executions={len(self._executions)})"

    async def open(self) -> None:
        pass

    async def aclose(self) -> None:
        pass

    # -- workflows -------------------------------------------------------------------------

    async def save_workflow(self, workflow: Workflow) -> Workflow:
        workflow_id = workflow.id or f"wf-{os.urandom(6).hex()}"
        versions = self._workflows.setdefault(workflow_id, [])
        now = format_timestamp(time.time())
        created = versions[0].created_at if versions else (workflow.created_at or now)
        stored = attrs.evolve(
            workflow, id=workflow_id, version=len(versions) + 1, created_at=created, updated_at=now
        )
        versions.append(stored)
        return stored

    async def get_workflow(self, workflow_id: str, *, version: int | None = None) -> Workflow:
        versions = self._workflows.get(workflow_id)
        if not versions or (version is not None and not 1 <= version <= len(versions)):
            raise ExecutionNotFoundError("workflow", workflow_id)
        return versions[-1] if version is None else versions[version - 1]

    async def list_workflows(
        self, *, status: str | None = None, limit: int = 20, offset: int = 0
    ) -> tuple[list[Workflow], int]:
        latest = [versions[-1] for versions in self._workflows.values()]
        matching = [w for w in latest if status is None or w.status == status]
        matching.sort(key=lambda w: w.updated_at or "", reverse=True)
        return matching[offset : offset + limit], len(matching)

    async def delete_workflow(self, workflow_id: str) -> None:
        if self._workflows.pop(workflow_id, None) is None:
            raise ExecutionNotFoundError("workflow", workflow_id)

    # -- executions ------------------------------------------------------------------------

    async def create_execution(
        self, execution: Execution, *, lease: LeaseTerms | None = None, fire: FireKey | None = None
    ) -> Lease | None:
        if execution.id in self._executions:
            raise StorageError(f"execution {execution.id!r} already exists")
        if fire is not None:
            key = (fire[0], fire[1], round(fire[2] * 1000))
            if key in self._fires:
                raise FireRecorded(f"the fire {fire!r} is recorded already")
            self._fires.add(key)
        self._executions[execution.id] = execution
        if lease is None:
            return None
        return await self.acquire_lease(
            execution.id, owner=lease.owner, ttl=lease.ttl, now=lease.now
        )

    def _get(self, execution_id: str) -> Execution:
        try:
            return self._executions[execution_id]
        except KeyError:
            raise ExecutionNotFoundError("execution", execution_id) from None

    async def get_execution(self, execution_id: str, *, include_data: bool = False) -> Execution:
        stored = self._get(execution_id)
        if include_data:
            runs = [attrs.evolve(n) for n in stored.node_executions]
            outputs = dict(stored.outputs)
        else:
            runs = [attrs.evolve(n, input=None, output=None) for n in stored.node_executions]
            outputs = {}
        return attrs.evolve(stored, node_executions=runs, outputs=outputs, logs=list(stored.logs))

    async def list_executions(self, query: ExecutionQuery) -> tuple[list[Execution], int]:
        matching = [e for e in self._executions.values() if _matches(e, query)]
        matching.sort(key=lambda e: e.created_at, reverse=True)
        page = matching[query.offset : query.offset + query.limit]
        summaries = [
            attrs.evolve(e, workflow=None, input_data=None, node_executions=[], logs=[], outputs={})
            for e in page
        ]
        return summaries, len(matching)

    async def transition_execution(
        self,
        execution_id: str,
        *,
        expected: Sequence[ExecutionStatus],
        status: ExecutionStatus,
        started_at: float | None = None,
        finished_at: float | None = None,
        cancelled_at: float | None = None,
        error: ExecutionError | None = None,
        outputs: dict[str, Any] | None = None,
        deliveries: Sequence[dict[str, Any]] = (),
    ) -> bool:
        stored = self._get(execution_id)
        if stored.status not in expected:
            return False
        for delivery in deliveries:
            await self.save_delivery(delivery)
        stored.status = status
        if started_at is not None:
            stored.started_at = started_at
        if finished_at is not None:
            stored.finished_at = finished_at
        if cancelled_at is not None:
            stored.cancelled_at = cancelled_at
        if error is not None:
            stored.error = error
        if outputs is not None:
            stored.outputs = outputs
        return True

    async def finish_execution(
        self,
        execution_id: str,
        *,
        expected: Sequence[ExecutionStatus],
        status: ExecutionStatus,
        finished_at: float,
        cancelled_at: float | None = None,
        error: ExecutionError | None = None,
        outputs: dict[str, Any] | None = None,
        nodes: Sequence[NodeExecution] = (),
        logs: Sequence[LogEntry] = (),
        events: Sequence[EventRecord] = (),
        fence: int | None = None,
        lease: Lease | None = None,
        deliveries: Sequence[dict[str, Any]] = (),
    ) -> bool:
        # No await below suspends, so no other task sees a half-done finish.
        if self._get(execution_id).status not in expected:
            return False
        self._check_fence(execution_id, fence)
        await self.transition_execution(
            execution_id, expected=expected, status=status, finished_at=finished_at,
            cancelled_at=cancelled_at, error=error, outputs=outputs, deliveries=deliveries,
        )  # fmt: skip
        await self.save_progress(execution_id, nodes=nodes, logs=logs, events=events)
        if lease is not None:
            await self.release_lease(lease)
        return True

    async def get_status(self, execution_id: str) -> ExecutionStatus:
        return self._get(execution_id).status

    async def save_execution_options(self, execution_id: str, options: dict[str, Any]) -> None:
        self._get(execution_id).options = dict(options)

    async def save_node_execution(
        self, execution_id: str, node: NodeExecution, *, fence: int | None = None
    ) -> None:
        stored = self._get(execution_id)
        self._check_fence(execution_id, fence)
        runs = stored.node_executions
        for index, run in enumerate(runs):
            if run.sequence == node.sequence:
                runs[index] = node
                return
        runs.append(node)

    async def save_progress(
        self,
        execution_id: str,
        *,
        nodes: Sequence[NodeExecution] = (),
        logs: Sequence[LogEntry] = (),
        events: Sequence[EventRecord] = (),
        fence: int | None = None,
    ) -> None:
        self._get(execution_id)
        self._check_fence(execution_id, fence)
        for node in nodes:
            await self.save_node_execution(execution_id, node)
        await self.append_logs(execution_id, logs)
        await self.append_events(execution_id, events)

    async def append_logs(
        self, execution_id: str, entries: Sequence[LogEntry], *, fence: int | None = None
    ) -> None:
        stored = self._get(execution_id)
        self._check_fence(execution_id, fence)
        stored.logs.extend(entries)

    async def append_events(self, execution_id: str, events: Sequence[EventRecord]) -> None:
        stored = self._executions.get(execution_id)
        workflow_id = None if stored is None else stored.workflow_id
        # Events made from a node run are made whole now, from the run saved with them.
        runs = {}
        if stored is not None and any(type(record[3]) is int for record in events):
            runs = {run.sequence: run for run in stored.node_executions}
        made = [
            StoredEvent(
                execution_id=execution_id,
                sequence=record[1],
                data=wire_event(record, execution_id, workflow_id, runs),
            )
            for record in events
        ]
        self._events.setdefault(execution_id, []).extend(made)

    async def list_events(self, execution_id: str, *, after_sequence: int = 0) -> list[StoredEvent]:
        return [e for e in self._events.get(execution_id, []) if e.sequence > after_sequence]

    async def find_node_outputs(
        self, workflow_id: str, node_ids: Sequence[str]
    ) -> dict[str, NodeExecution]:
        wanted = set(node_ids)
        found: dict[str, NodeExecution] = {}
        runs = [e for e in self._executions.values() if e.workflow_id == workflow_id]
        for execution in sorted(runs, key=lambda e: e.created_at, reverse=True):
            for run in reversed(execution.node_executions):
                if (
                    run.node_id in wanted
                    and run.node_id not in found
                    and run.status is NodeStatus.COMPLETED
                ):
                    source = run.source_execution_id if run.reused else execution.id
                    found[run.node_id] = attrs.evolve(run, source_execution_id=source)
        return found

    # -- leases ----------------------------------------------------------------------------

    async def acquire_lease(
        self, execution_id: str, *, owner: str, ttl: float, now: float
    ) -> Lease | None:
        if execution_id not in self._executions:
            return None
        current = self._leases.get(execution_id)
        if current is not None and current.owner != owner and current.expires_at > now:
            return None
        self._fences += 1
        lease = Lease(
            execution_id=execution_id, owner=owner, fence=self._fences, expires_at=now + ttl
        )
        self._leases[execution_id] = lease
        return lease

    async def renew_lease(self, lease: Lease, *, ttl: float, now: float) -> Lease | None:
        if self._leases.get(lease.execution_id) != lease:
            return None
        renewed = attrs.evolve(lease, expires_at=now + ttl)
        self._leases[lease.execution_id] = renewed
        return renewed

    async def release_lease(self, lease: Lease) -> None:
        if self._leases.get(lease.execution_id) == lease:
            del self._leases[lease.execution_id]

    async def recoverable_executions(self, *, now: float) -> list[str]:
        unfinished = (ExecutionStatus.RUNNING, ExecutionStatus.PAUSED)
        candidates = [
            e
            for e in self._executions.values()
            if e.status in unfinished
            and (e.id not in self._leases or self._leases[e.id].expires_at <= now)
        ]
        return [e.id for e in sorted(candidates, key=lambda e: e.created_at)]

    # -- history ---------------------------------------------------------------------------

    async def execution_stats(
        self, *, workflow_id: str | None = None, period: str = "day", now: float
    ) -> dict[str, Any]:
        since = period_start(period, now)
        days: dict[int, list[Any]] = {}
        for execution in self._executions.values():
            if not since <= execution.created_at <= now:
                continue
            if workflow_id is not None and execution.workflow_id != workflow_id:
                continue
            _count_into(days.setdefault(int(execution.created_at // 86400), [0] * 6), execution)
        return stats_from_days([(day, *days[day]) for day in sorted(days)])

    async def prune(
        self,
        *,
        older_than: float | None = None,
        keep_last_per_workflow: int | None = None,
        now: float | None = None,
    ) -> int:
        if older_than is None and keep_last_per_workflow is None:
            return 0
        now = pruned_before(now)
        doomed = []
        for group in _by_workflow(self._executions.values()).values():
            for rank, execution in enumerate(group, start=1):
                old = older_than is not None and execution.created_at < older_than
                extra = keep_last_per_workflow is not None and rank > keep_last_per_workflow
                lease = self._leases.get(execution.id)
                held = lease is not None and lease.expires_at > now  # a run writes its end
                if execution.status.value in FINISHED and (old or extra) and not held:
                    doomed.append(execution.id)
        for execution_id in doomed:
            del self._executions[execution_id]
            self._events.pop(execution_id, None)
            self._leases.pop(execution_id, None)
        for delivery_id, delivery in list(self._deliveries.items()):  # as DELIVERIES_PRUNE
            if delivery["status"] != "pending" and delivery["executionId"] not in self._executions:
                del self._deliveries[delivery_id]
        return len(doomed)

    # -- schedule fires and webhook deliveries ---------------------------------------------

    async def record_fire(
        self,
        *,
        workflow_id: str,
        node_id: str,
        scheduled_at: float,
        execution_id: str | None = None,
    ) -> bool:
        key = (workflow_id, node_id, round(scheduled_at * 1000))
        if key in self._fires:
            return False
        self._fires.add(key)
        return True

    async def last_fire(self, *, workflow_id: str, node_id: str) -> float | None:
        slots = [ms for w, n, ms in self._fires if (w, n) == (workflow_id, node_id)]
        return max(slots) / 1000 if slots else None

    async def save_delivery(self, delivery: dict[str, Any]) -> None:
        stored = {"attempts": 0, "status": "pending", "lastError": None, **delivery}
        self._deliveries[delivery["id"]] = stored

    async def pending_deliveries(self, *, now: float, limit: int = 100) -> list[dict[str, Any]]:
        due = [
            d
            for d in self._deliveries.values()
            if d["status"] == "pending" and d["nextAttemptAt"] <= now
        ]
        due.sort(key=lambda d: d["nextAttemptAt"])
        return [dict(d) for d in due[:limit]]

    async def claim_delivery(self, delivery_id: str, *, due_at: float, until: float) -> bool:
        delivery = self._deliveries.get(delivery_id)
        if delivery is None or delivery["status"] != "pending":
            return False
        if delivery["nextAttemptAt"] != due_at:
            return False
        delivery["nextAttemptAt"] = until
        return True

    async def update_delivery(self, delivery_id: str, **fields: Any) -> None:
        delivery_assignments(fields)  # raises ValueError for unknown fields
        if delivery_id not in self._deliveries:
            raise ExecutionNotFoundError("delivery", delivery_id)
        self._deliveries[delivery_id].update(fields)

    def _check_fence(self, execution_id: str, fence: int | None) -> None:
        lease = self._leases.get(execution_id)
        if fence is not None and lease is not None and lease.fence != fence:
            raise LeaseLostError(f"execution {execution_id!r} is owned by another process")


def _matches(execution: Execution, query: ExecutionQuery) -> bool:
    started = execution.started_at
    return (
        (query.workflow_id is None or execution.workflow_id == query.workflow_id)
        and (query.status is None or execution.status == query.status)
        and (query.mode is None or execution.mode == query.mode)
        and (
            query.started_after is None or (started is not None and started >= query.started_after)
        )
        and (
            query.started_before is None or (started is not None and started < query.started_before)
        )
    )


def _count_into(day: list[Any], execution: Execution) -> None:
    """Add one execution to a day's ``[count, completed, failed, cancelled, seconds, finished]``."""
    status = execution.status.value
    day[0] += 1
    for index, counted in enumerate(FINISHED, start=1):
        day[index] += status == counted
    if (
        status in FINISHED
        and execution.started_at is not None
        and execution.finished_at is not None
    ):
        day[4] += execution.finished_at - execution.started_at
        day[5] += 1


def _by_workflow(executions: Iterable[Execution]) -> dict[str | None, list[Execution]]:
    """Executions grouped by workflow id, newest first within each group."""
    groups: dict[str | None, list[Execution]] = {}
    for execution in sorted(executions, key=lambda e: (e.created_at, e.id), reverse=True):
        groups.setdefault(execution.workflow_id, []).append(execution)
    return groups
