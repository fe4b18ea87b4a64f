"""When a failed node attempt is tried again, and after how long."""

from __future__ import annotations

import random

import attrs

from .._exceptions import LinkflowError, RateLimitedError
from ..graph import Node, WorkflowSettings

__all__ = ["NOT_RETRIED", "RetryPolicy"]

NOT_RETRIED = frozenset({"EXPRESSION_ERROR", "VALIDATION_ERROR", "CREDENTIAL_ERROR", "CANCELLED"})
"""Codes that another attempt cannot fix."""

MAX_DELAY = 300.0  # seconds: the documented cap of the exponential backoff


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """``max_retries`` more attempts after the first, waiting ``delay * 2**n`` (±25% jitter,
    capped at five minutes); a rate-limited attempt waits for its ``retry_after`` instead."""

    max_retries: int = 0
    delay: float = 1.0

    @classmethod
    def for_node(cls, node: Node, settings: WorkflowSettings) -> RetryPolicy:
        if not (node.retry_on_fail or settings.error_handling == "retry"):
            return cls(max_retries=0)
        return cls(max_retries=max(0, node.max_retries), delay=max(0, node.retry_delay) / 1000)

    def should_retry(self, error: BaseException, code: str, attempt: int) -> bool:
        """After the 1-based ``attempt`` failed with ``code``: is there another attempt?"""
        return attempt <= self.max_retries and code not in NOT_RETRIED

    def wait_before(self, attempt: int, error: BaseException | None = None) -> float:
        """Seconds to wait before attempt ``attempt + 1`` (``attempt`` is 1-based)."""
        if isinstance(error, RateLimitedError) and error.retry_after is not None:
            return min(max(0.0, float(error.retry_after)), MAX_DELAY)
        base: float = self.delay * 2.0 ** (attempt - 1)
        return min(base * random.uniform(0.75, 1.25), MAX_DELAY)


def error_code(error: BaseException) -> str:
    """The documented code of any exception a handler raised."""
    if isinstance(error, LinkflowError):
        return error.code
    return "NODE_ERROR"
