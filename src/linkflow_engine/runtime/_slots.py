"""Slots: how many nodes of one execution run at once (``settings.maxConcurrency``).

Every walk of an execution (the main one and each loop iteration's) shares its run's slots, so
a parallel loop whose iterations fan out still runs at most ``maxConcurrency`` nodes at a time.
A node that runs a branch body (``loop``) takes no slot: it only waits for its body, whose
nodes take theirs, so even a limit of 1 cannot deadlock.

Not an ``anyio.CapacityLimiter``: taking a free slot here is a plain call that does not yield to
the event loop, so a chain, which never waits for a slot, pays no task switch per node.
"""

from __future__ import annotations

from collections import deque

import anyio

__all__ = ["Slots"]


class Slots:
    """At most ``size`` holders at once; waiters are served first come. Take a slot with
    ``take_now()`` or, when that fails, ``await take()``; give it back with ``release()``."""

    def __init__(self, size: int) -> None:
        self.free = size
        self._waiters: deque[anyio.Event] = deque()

    def take_now(self) -> bool:
        """Take a free slot if there is one nobody waits for (no await: the common case)."""
        if self.free > 0 and not self._waiters:
            self.free -= 1
            return True
        return False

    async def take(self) -> None:
        """Wait for a slot (after ``take_now()`` failed)."""
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

    def release(self) -> None:
        """Give a slot back: to the first waiter, if any (the slot goes straight to it)."""
        if self._waiters:
            self._waiters.popleft().set()
        else:
            self.free += 1
