"""Time as the engine sees it: wall-clock instants and sleeping.

Everything that waits by the calendar goes through a :class:`Clock`: retry backoff, ``wait``
nodes, the scheduler, callback retries, and the timestamps in records. Tests swap in
:class:`linkflow_engine.testing.VirtualClock` to make hours pass at once. Leases and timeouts
stay on real time: they guard against real processes dying and real code hanging.
"""

from __future__ import annotations

import time
from typing import Protocol, runtime_checkable

import anyio

__all__ = ["Clock", "SystemClock"]


@runtime_checkable
class Clock(Protocol):
    """``now()`` is epoch seconds (UTC); ``sleep(seconds)`` returns once that much time passed."""

    def now(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clock."""

    def __repr__(self) -> str:
        return "SystemClock()"

    def now(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(seconds)
