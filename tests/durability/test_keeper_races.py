"""The keeper's status checks against runs that move while a check awaits storage."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from linkflow_engine.runtime._keeper import Keeper
from linkflow_engine.runtime._records import ExecutionStatus


class PausedRun:
    """What the keeper sees of a run paused in debug mode (its first pause)."""

    def __init__(self) -> None:
        self.execution = SimpleNamespace(id="ex-1")
        self.recorder = SimpleNamespace(lease=None)
        self.paused, self.pauses = True, 1
        self.resumes: list[bool] = []

    def resumed(self, *, step: bool) -> None:
        self.resumes.append(step)

    def cancel(self, code: str) -> None:
        raise AssertionError("not cancelled")


class ReadsRunning:
    """A storage answering "running" for a resume with ``step``; ``meanwhile`` runs while the
    status read is in flight (what the run does between the query and its answer)."""

    def __init__(self, meanwhile: Any = None) -> None:
        self.meanwhile = meanwhile

    async def get_status(self, execution_id: str) -> ExecutionStatus:
        if self.meanwhile is not None:
            self.meanwhile()
        return ExecutionStatus.RUNNING

    async def get_execution(self, execution_id: str) -> Any:
        return SimpleNamespace(options={"step": True})


async def test_a_resume_read_before_the_next_pause_does_not_resume_it() -> None:
    """A step resume: the run ran its one node and paused again while the keeper's status read
    was in flight; the stale "running" must not release that new pause."""
    run = PausedRun()

    def pauses_again() -> None:  # resumed by another check, ran a node, paused at the next
        run.pauses += 1

    keeper = Keeper(ReadsRunning(pauses_again), owner="me", lease_ttl=30, poll_interval=30)  # type: ignore[arg-type]
    keeper.track(run)  # type: ignore[arg-type]
    await keeper._check_all()
    assert run.resumes == []


async def test_a_resume_of_the_pause_it_was_read_for_goes_through() -> None:
    """The same read with the run still in the pause it saw resumes it, with its step."""
    run = PausedRun()
    keeper = Keeper(ReadsRunning(), owner="me", lease_ttl=30, poll_interval=30)  # type: ignore[arg-type]
    keeper.track(run)  # type: ignore[arg-type]
    await keeper._check_all()
    assert run.resumes == [True]
