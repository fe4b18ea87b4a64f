"""Webhook callbacks: when an execution started with ``webhook_url`` ends, POST the documented
body there.

Deliveries are durable: each is stored by the same write that stores the end it reports (the
run's final status, or a cancel), so no crash or failure between the two can lose it; one that
was never delivered (the process died, the receiver was down) is picked up by the next engine
that starts on the storage. Each attempt is signed (``X-Linkflow-Signature: sha256=<hex HMAC of
the raw body>`` when a secret is configured), checked against the outbound policy, retried with
backoff (seven attempts over about a minute by default) and written to the execution's logs.

Each attempt runs in a task of its own (at most :data:`SENDING` callbacks at once), so a
receiver that is slow or silent holds up no other delivery.

Engines sharing a storage each deliver what is due, so an attempt is *claimed* first: the
engine moves the delivery's due time ``CLAIM_SECONDS`` ahead, on the condition that it is still
the due time it read. Only one engine wins; the others skip the delivery. An engine that dies
mid-attempt leaves the delivery due again once the claim runs out (then a receiver may see the
callback twice: deliveries are at least once, never concurrent).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import anyio

from .._clock import Clock, SystemClock
from .._stored_values import dump, text
from ..outbound import OutboundPolicy, OutboundRefused
from ._error_workflows import TARGET as ERROR_WORKFLOWS
from ._error_workflows import error_payload, should_handle
from ._records import Execution, LogEntry, format_timestamp

if TYPE_CHECKING:
    import httpx
    from anyio.abc import TaskGroup

    from ..storage.base import Storage

__all__ = [
    "DEFAULT_RETRY_DELAYS",
    "CallbackService",
    "Postponed",
    "callback_body",
    "delivery",
    "end_deliveries",
    "signature",
]

logger = logging.getLogger("linkflow_engine.callbacks")

DEFAULT_RETRY_DELAYS = (1.0, 2.0, 4.0, 8.0, 16.0, 32.0)
"""Seconds before attempts 2..7: seven attempts over about a minute."""

SENDING = 16
"""How many callbacks an engine sends at once (each attempt in a task of its own)."""

CLAIM_SECONDS = 120.0
"""How long an attempt holds its delivery: well past the HTTP client's 30 s timeout."""
CLAIM_WAIT = 5.0
"""Seconds a claim may take (a cancel waits for it meanwhile): past that it is given up, and
the delivery tried again once any claim it left has run out."""


def callback_body(execution: Execution) -> dict[str, Any]:
    """The documented callback ``{event, executionId, status, duration, outputs, timestamp}``,
    plus ``workflowId``, and ``error`` when the execution failed."""
    body: dict[str, Any] = {
        "event": f"execution.{execution.status.value}",
        "executionId": execution.id,
        "workflowId": execution.workflow_id,
        "status": execution.status.value,
        "duration": execution.duration,
        "outputs": execution.outputs,
        "timestamp": format_timestamp(execution.finished_at or time.time()),
    }
    if execution.error is not None:
        body["error"] = execution.error.to_dict()
    return body


def end_deliveries(ended: Execution, now: float) -> list[dict[str, Any]]:
    """What the write storing the end of ``ended`` (the execution as that end is about to be
    stored) stores with it, due ``now``: the callback reporting it, when it has a webhook URL,
    and the start of its error workflows, when it is a failure that may have some."""
    addressed = []
    url = ended.options.get("webhookUrl")
    if url:
        addressed.append((url, callback_body(ended)))
    if should_handle(ended):
        addressed.append((ERROR_WORKFLOWS, error_payload(ended)))
    return [delivery(ended.id, address, body, due=now) for address, body in addressed]


def delivery(execution_id: str, address: str, body: Any, *, due: float) -> dict[str, Any]:
    """A new delivery of ``body`` to ``address`` (a URL, or one of the engine's targets)
    about the execution ``execution_id``, first attempted at ``due``."""
    return {
        "id": f"dlv-{os.urandom(12).hex()}",
        "executionId": execution_id,
        "url": address,
        "body": dump(body),
        "attempts": 0,
        "nextAttemptAt": due,
        "status": "pending",
        "lastError": None,
    }


Target = Callable[[dict[str, Any]], Awaitable[tuple[str, str | None, bool]]]
"""Delivers a delivery within the engine: (what happened, "" for nothing worth a log line;
the error or None; whether retrying is pointless), as :meth:`CallbackService._send` says; or
raises :class:`Postponed`."""

POSTPONED_SECONDS = 30.0
"""How long a target's :class:`Postponed` attempt waits before the next."""


class Postponed(Exception):
    """Raised by a target whose delivery cannot be done yet, and not for a fault of its own
    (what it waits for is still under way): attempted again after :data:`POSTPONED_SECONDS`,
    not counted as an attempt and not logged."""


def signature(secret: str, body: bytes) -> str:
    """The ``X-Linkflow-Signature`` header value for ``body``."""
    import hashlib
    import hmac

    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


class CallbackService:
    """Stores, sends and retries callbacks; one per engine, running in its task group."""

    def __init__(
        self,
        storage: Storage,
        *,
        policy: OutboundPolicy,
        secret: str | None,
        client: Callable[[], httpx.AsyncClient],
        retry_delays: Sequence[float] = DEFAULT_RETRY_DELAYS,
        clock: Clock | None = None,
        targets: Mapping[str, tuple[str, Target]] | None = None,
    ) -> None:
        """``targets``: deliveries to these addresses (not http(s) URLs) are delivered by
        calling the target, not by a POST; its name begins the log lines of its attempts."""
        self.storage = storage
        self.targets = dict(targets or {})
        self.policy = policy
        self.secret = secret
        self.client = client
        self.retry_delays = tuple(retry_delays)
        self._clock = clock if clock is not None else SystemClock()
        self.clock = self._clock.now
        self._wake = anyio.Event()
        self._tasks: TaskGroup | None = None
        self._attempting: set[str] = set()
        self._sending: anyio.CapacityLimiter | None = None  # made by run(), in the event loop

    def wake(self) -> None:
        """A delivery was just stored: look for due ones now, not at the next round."""
        self._wake.set()

    def deliver_soon(self, delivery: dict[str, Any]) -> None:
        """``delivery`` was just stored: attempt it now, not at the loop's next round."""
        if self._tasks is not None:
            self._spawn(delivery)
        else:
            self.wake()

    async def run(self) -> None:
        """Deliver what is due, forever (cancelled with the engine)."""
        self._sending = anyio.CapacityLimiter(SENDING)
        try:
            async with anyio.create_task_group() as self._tasks:
                await self._deliver_due()
        finally:
            self._tasks = None

    async def _deliver_due(self) -> None:
        while True:
            self._wake = anyio.Event()
            try:
                due = await self.storage.pending_deliveries(now=self.clock())
            except Exception:  # storage unreachable a moment: look again at the next round
                logger.exception("reading the pending callbacks failed")
                due = []
            for delivery in due:
                self._spawn(delivery)
            # A new callback wakes us at once; otherwise look again after half a second of REAL
            # time. Due times are on the engine's clock, so under a virtual clock a retry comes
            # due when the test advances time, without this loop waking on every virtual step.
            with anyio.move_on_after(0.5):
                await self._wake.wait()

    def _spawn(self, delivery: dict[str, Any]) -> None:
        """Attempt ``delivery`` in a task of its own, unless one is already on it: a receiver
        that is slow to answer holds up no other delivery. At most :data:`SENDING` callbacks
        are sent at once; the engine's own targets (error workflows) never wait for them."""
        if self._tasks is None or delivery["id"] in self._attempting:
            return
        self._attempting.add(delivery["id"])
        self._tasks.start_soon(self._attempt_alone, delivery)

    async def _attempt_alone(self, delivery: dict[str, Any]) -> None:
        try:
            if delivery["url"] in self.targets or self._sending is None:
                await self._attempt(delivery)
            else:
                async with self._sending:
                    await self._attempt(delivery)
        except Exception:  # one broken delivery must not stop the others (or the engine)
            logger.exception("delivery %s failed", delivery["id"])
        finally:
            self._attempting.discard(delivery["id"])

    async def _attempt(self, delivery: dict[str, Any]) -> None:
        # Whole, or an engine closing meanwhile would leave it claimed, stored or not, and
        # every engine would wait out the claim before trying it (see the hand-back below);
        # but not for long, so that a stalled database does not hold up the engine's close.
        with anyio.CancelScope(shield=True) as claiming:
            claiming.deadline = anyio.current_time() + CLAIM_WAIT
            claimed = await self.storage.claim_delivery(
                delivery["id"], due_at=delivery["nextAttemptAt"], until=self.clock() + CLAIM_SECONDS
            )
        if claiming.cancelled_caught or not claimed:  # (or another engine is delivering it)
            return
        attempt = delivery["attempts"] + 1
        name, target = self.targets.get(delivery["url"], ("Callback", None))
        try:
            # An engine closing since this task was started (an attempt begun as it closes, a
            # short-lived engine's first round) hands it back here: nothing before this point
            # waited (SQLite's calls never do), so its cancel has not reached the attempt yet.
            await anyio.lowlevel.checkpoint_if_cancelled()
            if target is not None:
                outcome, error, final = await _call(target, delivery)
            else:
                outcome, error, final = await self._send(delivery)
        except anyio.get_cancelled_exc_class():  # the engine is closing: hand it back, due now
            with anyio.CancelScope(shield=True):
                await self.storage.update_delivery(delivery["id"], nextAttemptAt=self.clock())
            raise
        except Postponed as postponed:
            later = self.clock() + POSTPONED_SECONDS
            await self.storage.update_delivery(
                delivery["id"], nextAttemptAt=later, lastError=str(postponed)
            )
            return
        except Exception as broken:  # it cannot be sent at all (a URL stored before checks)
            reason = f"{type(broken).__name__}: {broken}"
            outcome, error, final = f"refused: {reason}", reason, True
        if error is None:
            fields: dict[str, Any] = {"status": "delivered", "lastError": None}
        elif final or attempt > len(self.retry_delays):
            fields = {"status": "failed", "lastError": error}
        else:
            wait = self.retry_delays[attempt - 1]
            fields = {"nextAttemptAt": self.clock() + wait, "lastError": error}
        await self.storage.update_delivery(delivery["id"], attempts=attempt, **fields)
        if outcome:
            await self._log(delivery, name, attempt, outcome, fields.get("status"))

    async def _send(self, delivery: dict[str, Any]) -> tuple[str, str | None, bool]:
        """(what happened, the error or None, whether retrying is pointless)."""
        import httpx

        url, body = delivery["url"], delivery["body"].encode()
        try:
            # A bound on the whole attempt, resolving the host included, well inside its claim
            # (httpx's timeout is per read: a receiver dripping bytes, or a resolver that never
            # answers, could outlast the claim and meet a second sender).
            with anyio.fail_after(CLAIM_SECONDS / 2):
                await self.policy.check(url)
                response = await self.client().post(url, content=body, headers=self._headers(body))
        except OutboundRefused as refused:
            return f"refused: {refused.reason}", refused.reason, True
        except TimeoutError:
            return "failed: no answer in time", "timed out", False
        except httpx.HTTPError as failure:
            return f"failed: {type(failure).__name__}: {failure}", str(failure) or "error", False
        if response.is_success:
            return f"delivered: HTTP {response.status_code}", None, False
        return f"failed: HTTP {response.status_code}", f"HTTP {response.status_code}", False

    def _headers(self, body: bytes) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "User-Agent": "linkflow-engine"}
        if self.secret:
            headers["X-Linkflow-Signature"] = signature(self.secret, body)
        return headers

    async def _log(
        self, delivery: dict[str, Any], name: str, attempt: int, outcome: str, status: str | None
    ) -> None:
        """Log attempt number ``attempt`` of ``name`` (callback, error workflows) and its
        ``outcome`` to the execution."""
        level = "info" if status == "delivered" else "warning"
        data = {"url": delivery["url"], "attempt": attempt, "deliveryId": delivery["id"]}
        if status == "failed":
            outcome += "; giving up"
        entry = LogEntry(
            timestamp=self.clock(),
            level=level,
            message=text(f"{name} attempt {attempt}: {outcome}"),
            data=data,
        )
        try:
            await self.storage.append_logs(delivery["executionId"], [entry])
        except Exception:  # the execution may have been pruned meanwhile: the delivery stands
            logger.warning("could not log callback attempt for %s", delivery["executionId"])


async def _call(target: Target, delivery: dict[str, Any]) -> tuple[str, str | None, bool]:
    """A target's attempt, bounded like a POST, well inside the claim (see ``_send``)."""
    try:
        with anyio.fail_after(CLAIM_SECONDS / 2):
            return await target(delivery)
    except TimeoutError:
        return "failed: not done in time", "timed out", False
