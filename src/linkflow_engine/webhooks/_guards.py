"""The cheap checks before authentication: client IP whitelist and the per-minute rate limit.

The limit is a sliding window of the last minute's request times per webhook, kept in this
process: several ``linkflow serve`` processes each allow the configured rate. Every request
counts, authenticated or not, so the limit also slows down anyone guessing secrets.
"""

from __future__ import annotations

import functools
import ipaddress
import math
import time
from collections import deque
from collections.abc import Callable, Sequence

__all__ = ["RateLimiter", "ip_allowed"]

_WINDOW = 60.0


@functools.lru_cache(maxsize=1024)
def _network(entry: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    return ipaddress.ip_network(entry, strict=False)


def ip_allowed(client: str | None, whitelist: Sequence[str]) -> bool:
    """Whether ``client`` is in one of the addresses or CIDR ranges (an empty list allows all;
    an unknown client address is refused by a non-empty one)."""
    if not whitelist:
        return True
    try:
        address = ipaddress.ip_address(client or "")
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # a dual-stack socket shows IPv4 clients as ::ffff:a.b.c.d
    return any(address in _network(entry) for entry in whitelist)


class RateLimiter:
    """At most ``limit`` requests per webhook in any 60 seconds."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._seen: dict[str, deque[float]] = {}

    def admit(self, key: str, limit: int) -> float | None:
        """Count a request: None when admitted, else the seconds until one would be."""
        now = self._clock()
        seen = self._seen.setdefault(key, deque())
        while seen and seen[0] <= now - _WINDOW:
            seen.popleft()
        if len(seen) >= limit:
            return seen[0] + _WINDOW - now
        seen.append(now)
        return None

    def forget(self, key: str) -> None:
        self._seen.pop(key, None)


def retry_after(seconds: float) -> str:
    """The Retry-After value: whole seconds, rounded up, at least 1."""
    return str(max(1, math.ceil(seconds)))
