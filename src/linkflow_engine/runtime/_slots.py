"""Slots: how many nodes of one execution run at once (``settings.maxConcurrency``).

Every walk of an execution (the main one and each loop iteration's) shares its run's slots, so
a parallel loop whose iterations fan out still runs at most ``maxConcurrency`` nodes at a time.
A node that runs a branch body (``loop``) takes no slot: it only waits for its body, whose
nodes take theirs, so even a limit of 1 cannot deadlock.

Not an ``anyio.CapacityLimiter``: taking a free slot here does not yield to the event loop, so
a chain, which never waits for a slot, pays no task switch per node.
"""

from __future__ import annotations

from collections import deque
from types import TracebackType

import anyio

__all__ = ["Slots"]


class Slots:
    """``async with slots:`` holds one of ``size`` slots; waiters are served first come."""

    def __init__(self, size: int) -> None:
        self.free = size
        self._waiters: deque[anyio.Event] = deque()

    async def __aenter__(self) -> None:
        if self.free > 0 and not self._waiters:
            self.free -= 1
            return
        turn = anyio.Event()
        self._waiters.append(turn)
        try:
            await turn.wait()
        except BaseException:
            if turn.is_set():  # handed a slot just as it was cancelled: pass it on
                self.release()
            else:
                self._waiters.remove(turn)
            raise

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()

    def release(self) -> None:
        """Give a slot back: to the first waiter, if any (the slot goes straight to it)."""
        if self._waiters:
            self._waiters.popleft().set()
        else:
            self.free += 1
