"""The WebSocket's client messages: ``auth``, ``ping``, ``subscribe`` and ``unsubscribe``
(channels ``execution``, ``workflow``, ``all``), parsed and checked. A message that breaks the
protocol is a validation error naming its field; the connection answers it and stays open."""

from __future__ import annotations

import json
from typing import Any

import attrs

from .._exceptions import WorkflowValidationError

__all__ = ["CHANNELS", "Message", "Request", "parse_request"]

Message = dict[str, Any]

CHANNELS = ("execution", "workflow", "all")
_ID_KEYS = {"execution": "executionId", "workflow": "workflowId"}
_REQUEST_TYPES = ("auth", "ping", "subscribe", "unsubscribe")
_MAX_ID_LENGTH = 200


def _bad(field: str, message: str) -> WorkflowValidationError:
    """The error answering a client message that breaks the protocol (never fatal)."""
    detail = {"field": field, "message": message}
    return WorkflowValidationError([detail], f"invalid message: {field}: {message}")


@attrs.frozen(kw_only=True)
class Request:
    """A parsed client message; ``key`` names a subscription: (channel, id or None)."""

    type: str
    channel: str | None = None
    target: str | None = None
    after_sequence: int | None = None
    token: str | None = None

    @property
    def key(self) -> tuple[str, str | None]:
        assert self.channel is not None
        return (self.channel, self.target)

    def described(self) -> Message:
        """The subscription as the acknowledgement echoes it."""
        assert self.channel is not None
        described: Message = {"channel": self.channel}
        if self.channel in _ID_KEYS:
            described[_ID_KEYS[self.channel]] = self.target
        return described


def parse_request(text: str | bytes | None) -> Request:
    """The client message ``text`` as a Request (WorkflowValidationError naming the field
    otherwise)."""
    if not isinstance(text, str):
        raise _bad("body", "messages must be JSON text frames")
    try:
        data = json.loads(text)
    except ValueError:
        raise _bad("body", "not valid JSON") from None
    except RecursionError:
        raise _bad("body", "nests too deeply") from None
    if not isinstance(data, dict):
        raise _bad("body", "must be a JSON object")
    kind = data.get("type")
    if kind not in _REQUEST_TYPES:
        raise _bad("type", f"must be one of {', '.join(_REQUEST_TYPES)}")
    if kind == "auth":
        return Request(type=kind, token=_text(data, "token"))
    if kind == "ping":
        return Request(type=kind)
    return _subscription_request(kind, data)


def _subscription_request(kind: str, data: Message) -> Request:
    channel = data.get("channel")
    if channel not in CHANNELS:
        raise _bad("channel", f"must be one of {', '.join(CHANNELS)}")
    target = _text(data, _ID_KEYS[channel]) if channel in _ID_KEYS else None
    after = data.get("afterSequence")
    if after is not None and (channel != "execution" or kind != "subscribe"):
        raise _bad("afterSequence", "only a subscribe to channel execution replays")
    if after is not None and (
        not isinstance(after, int) or isinstance(after, bool) or not 0 <= after < 2**63
    ):
        raise _bad("afterSequence", "must be an integer from 0 to 2**63 - 1")
    if channel == "execution" and kind == "subscribe":
        after = after or 0
    return Request(type=kind, channel=channel, target=target, after_sequence=after)


def _text(data: Message, field: str) -> str:
    value = data.get(field)
    if not isinstance(value, str) or not value or len(value) > _MAX_ID_LENGTH:
        raise _bad(field, f"must be a non-empty string of at most {_MAX_ID_LENGTH} chars")
    return value
