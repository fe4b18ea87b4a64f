"""Helpers for testing workflows and node types: event capture and a virtual clock.

async with Engine(registry=my_registry) as engine:
    with capture_events(engine) as events:
        execution = await engine.execute(document)
    assert events.types()[0] == "execution.started"
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import heapq
import itertools
import time
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import anyio
import anyio.lowlevel

from .events import Event

if TYPE_CHECKING:
    from .runtime import Engine

__all__ = ["EventCapture", "VirtualClock", "capture_events"]


class EventCapture(list[Event]):
    """The events captured, in the order they were published."""

    def types(self) -> list[str]:
        """The wire names of the captured events."""
        return [event.type for event in self]

    def of_type(self, type_name: str) -> list[Event]:
        """The captured events with wire name ``type_name``."""
        return [event for event in self if event.type == type_name]


@contextlib.contextmanager
def capture_events(
    engine: Engine,
    *,
    types: Iterable[str | type[Event]] | None = None,
    execution_id: str | None = None,
) -> Iterator[EventCapture]:
    """Record every event the engine publishes while the block runs (synchronously, so the
    list is complete as soon as ``execute`` returns)."""
    captured = EventCapture()
    with engine.subscribe(captured.append, types=types, execution_id=execution_id, inline=True):
        yield captured


class VirtualClock:
    """A clock for tests that moves only when told to: :meth:`advance` makes hours of retries,
    ``wait`` nodes and schedules happen at once.

    async with Engine(clock=(clock := VirtualClock(datetime(2024, 3, 8, tzinfo=UTC)))) as e:
        ...
        await clock.advance(timedelta(hours=1))  # every sleeper due within it wakes, in order

    ``start`` is an aware datetime (naive means UTC) or epoch seconds; default: now.
    """

    def __init__(self, start: datetime | float | None = None) -> None:
        if start is None:
            start = time.time()
        elif isinstance(start, datetime):
            start = (start if start.tzinfo else start.replace(tzinfo=UTC)).timestamp()
        self._now = float(start)
        self._sleepers: list[_Sleeper] = []
        self._order = itertools.count()

    def __repr__(self) -> str:
        return f"VirtualClock({datetime.fromtimestamp(self._now, UTC).isoformat()!r})"

    def now(self) -> float:
        """The virtual time, epoch seconds (UTC)."""
        return self._now

    async def sleep(self, seconds: float) -> None:
        """Return once the clock has been advanced ``seconds`` past now."""
        if seconds <= 0:
            await anyio.lowlevel.checkpoint()
            return
        sleeper = _Sleeper(self._now + seconds, next(self._order))
        heapq.heappush(self._sleepers, sleeper)
        try:
            await sleeper.woken.wait()
        finally:
            sleeper.gone = True  # cancelled sleepers stay in the heap; advance() skips them

    async def advance(self, by: float | timedelta) -> None:
        """Move time forward by ``by`` (seconds or a timedelta): wake every sleeper due within
        it in deadline order, at its deadline, letting the woken tasks run (until every task
        is blocked again) before the next one wakes."""
        seconds = by.total_seconds() if isinstance(by, timedelta) else float(by)
        if seconds < 0:
            raise ValueError("a clock does not go back")
        target = self._now + seconds
        await _all_tasks_blocked()
        while self._sleepers and self._sleepers[0].deadline <= target:
            sleeper = heapq.heappop(self._sleepers)
            if sleeper.gone:
                continue
            self._now = max(self._now, sleeper.deadline)
            sleeper.woken.set()
            await _all_tasks_blocked()
        self._now = target

    async def advance_to(self, moment: datetime) -> None:
        """Advance until ``moment`` (aware, or naive meaning UTC)."""
        aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        await self.advance(max(aware.timestamp() - self._now, 0.0))


async def _all_tasks_blocked() -> None:
    """Let every other task run until it waits on something.

    anyio's ``wait_all_tasks_blocked`` sleeps 0.1 s (real) whenever a task is still runnable,
    which advancing through thousands of wake-ups cannot afford; on asyncio we yield instead.
    A task waiting on a thread counts as blocked, as it does for anyio.
    """
    this = _asyncio_task()
    if this is None:  # trio: its wait_all_tasks_blocked is exact and quick
        await anyio.wait_all_tasks_blocked()
        return
    loop = asyncio.get_running_loop()
    while True:
        await asyncio.sleep(0)
        # Callbacks still queued (a finished task's done-callbacks, a cancel being delivered)
        # will make a waiting task runnable: not settled yet.
        if getattr(loop, "_ready", None):
            continue
        if all(task is this or _waiting(task) for task in asyncio.all_tasks()):
            return


def _asyncio_task() -> asyncio.Task[object] | None:
    try:
        return asyncio.current_task()
    except RuntimeError:
        return None


def _waiting(task: asyncio.Task[object]) -> bool:
    waiter = getattr(task, "_fut_waiter", None)  # what the task awaits; None when runnable
    return waiter is not None and not waiter.done()


@functools.total_ordering
class _Sleeper:
    __slots__ = ("deadline", "gone", "order", "woken")

    def __init__(self, deadline: float, order: int) -> None:
        self.deadline, self.order = deadline, order
        self.woken = anyio.Event()
        self.gone = False

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Sleeper) and self.order == other.order

    def __lt__(self, other: _Sleeper) -> bool:
        return (self.deadline, self.order) < (other.deadline, other.order)

    __hash__ = object.__hash__
