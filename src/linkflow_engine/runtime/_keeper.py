"""The keeper: what makes executions on durable storage safe to share between processes.

For every execution this engine runs it holds a lease (renewed well before it expires) and
watches the stored status, so that a cancel or a resume said in another process reaches the run
within one poll, or at once when the storage pushes status changes (a
:class:`~linkflow_engine.storage.base.StatusFeed`, such as PostgreSQL's LISTEN/NOTIFY; the poll
stays as the fallback). When a lease is lost (this process stalled and another took over) the
run is abandoned without writing anything more. It also looks for executions whose owner died
and hands them to the engine to finish.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import anyio

from .._exceptions import ExecutionNotFoundError
from ..storage.base import LeaseTerms, StatusFeed
from ._records import ExecutionStatus

if TYPE_CHECKING:
    from ..storage.base import Lease, Storage
    from ._executor import ExecutionRun

__all__ = ["Keeper"]

logger = logging.getLogger("linkflow_engine.runtime")


class Keeper:
    """Leases, status watch and recovery for one engine's runs."""

    def __init__(
        self,
        storage: Storage,
        *,
        owner: str,
        lease_ttl: float,
        poll_interval: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.storage = storage
        self.owner = owner
        self.lease_ttl = lease_ttl
        self.poll_interval = poll_interval
        self.clock = clock
        self._runs: dict[str, ExecutionRun] = {}
        # One check at a time: a poll and a notification seeing the same resume must not both
        # deliver it (the second could release the run's next pause).
        self._checking = anyio.Lock()

    def __repr__(self) -> str:
        return f"Keeper(owner={self.owner!r}, runs={len(self._runs)})"

    def terms(self) -> LeaseTerms:
        """This engine's terms for a lease taken now (a new execution takes it as it is
        created: ``storage.create_execution(execution, lease=keeper.terms())``)."""
        return LeaseTerms(owner=self.owner, ttl=self.lease_ttl, now=self.clock())

    async def claim(self, execution_id: str) -> Lease | None:
        """Take the lease of an execution (None when a live owner holds it, or when another
        engine took it while this claim waited; see :meth:`freshen`)."""
        lease = await self.storage.acquire_lease(
            execution_id, owner=self.owner, ttl=self.lease_ttl, now=self.clock()
        )
        return await self.freshen(lease)

    async def freshen(self, lease: Lease | None) -> Lease | None:
        """``lease`` as just granted, with time to run on (None when another engine took it).

        A lease lasts from the moment it was asked for: a claim or a creation that waited on
        the storage (another process holding SQLite's write lock) may be granted with little
        time left, or none, and another engine could take the execution while its run goes
        on. Such a lease is renewed at once, fenced (refused if another engine took it
        meanwhile)."""
        renewals = 3  # each renewal may wait too
        while lease is not None and lease.expires_at - self.clock() <= self.lease_ttl * 2 / 3:
            if not renewals:  # the storage is too slow to hold a lease: leave it to others
                await self.storage.release_lease(lease)
                return None
            renewals -= 1
            lease = await self.storage.renew_lease(lease, ttl=self.lease_ttl, now=self.clock())
        return lease

    def track(self, run: ExecutionRun) -> None:
        self._runs[run.execution.id] = run

    async def release(self, run: ExecutionRun) -> None:
        self._runs.pop(run.execution.id, None)
        lease = run.recorder.lease
        if lease is not None:  # None once lost: then it is somebody else's to release
            with anyio.CancelScope(shield=True):
                await self.storage.release_lease(lease)

    async def watch(self, recover: Callable[[], Awaitable[object]]) -> None:
        """Run until cancelled: poll statuses, renew leases, recover orphans; and check a run
        as soon as the storage reports a change of its status, when it can."""
        async with anyio.create_task_group() as group:
            if isinstance(self.storage, StatusFeed):
                group.start_soon(self._follow, self.storage)
            await self._poll(recover)

    async def _follow(self, feed: StatusFeed) -> None:
        # On (re)connecting every run is checked: changes made while not listening are lost.
        await feed.watch_status_changes(self._changed, connected=self._check_all)

    async def _changed(self, execution_id: str) -> None:
        run = self._runs.get(execution_id)
        if run is not None:  # most changes are of runs other engines hold
            await self._check_safely(run)

    async def _poll(self, recover: Callable[[], Awaitable[object]]) -> None:
        next_recovery = self.clock() + self.lease_ttl
        while True:
            await anyio.sleep(self.poll_interval)
            await self._check_all()
            if self.clock() >= next_recovery:
                next_recovery = self.clock() + self.lease_ttl
                try:
                    await recover()
                except Exception:
                    logger.exception("recovering interrupted executions failed")

    async def _check_all(self) -> None:
        for run in list(self._runs.values()):
            await self._check_safely(run)

    async def _check_safely(self, run: ExecutionRun) -> None:
        # Bounded: one check stuck in the database (a statement waiting on a row lock, a
        # connection gone silent) would hold back the renewals of every other run, whose
        # leases would then expire and be taken over while they run.
        with anyio.move_on_after(self.lease_ttl / 3) as bound:
            try:
                async with self._checking:
                    await self._check(run)
            except Exception:  # a storage hiccup must not stop the watch of the others
                logger.exception("checking execution %s failed", run.execution.id)
        if bound.cancelled_caught:
            logger.warning("checking execution %s took too long: given up", run.execution.id)

    async def _check(self, run: ExecutionRun) -> None:
        execution_id = run.execution.id
        # A "running" read before the run paused again (a step ran one node and paused) is
        # not a resume of that new pause: only the pause seen here may be resumed.
        pauses = run.pauses
        try:
            status = await self.storage.get_status(execution_id)
        except ExecutionNotFoundError as error:  # deleted meanwhile: nothing left to write
            run.recorder.lease = None
            run.recorder.broken = error  # what its run raises, as a write would have
            run.abandon()
            return
        if status is ExecutionStatus.CANCELLED:
            run.cancel("CANCELLED")
        elif status is ExecutionStatus.RUNNING and run.paused and run.pauses == pauses:
            stored = await self.storage.get_execution(execution_id)
            if run.paused and run.pauses == pauses:
                run.resumed(step=bool(stored.options.get("step")))
        await self._renew(run)

    async def _renew(self, run: ExecutionRun) -> None:
        lease = run.recorder.lease
        # Renew once a third of the lease is used, so two missed polls still leave time.
        if lease is None or lease.expires_at - self.clock() > self.lease_ttl * 2 / 3:
            return
        renewed = await self.storage.renew_lease(lease, ttl=self.lease_ttl, now=self.clock())
        if renewed is not None:
            run.recorder.lease = renewed
            return
        # Not renewed: taken over, or released with the run's end written meanwhile (then
        # leaving the run changes nothing, and nothing was lost worth a warning).
        run.recorder.lease = None
        run.abandon()
        if not (await self.storage.get_status(run.execution.id)).is_terminal:
            logger.warning("lost the lease of execution %s: leaving it", run.execution.id)
