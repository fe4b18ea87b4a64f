"""Redaction: secret values replaced by ``[REDACTED]`` before anything is stored or sent.

A run's :class:`Redactor` learns the secrets of every credential its nodes use (and the values
derived from them: an OAuth2 access token, the ``Basic`` header of a user and password). The
recorder passes node inputs, outputs, errors, log lines and event payloads through it. Until a
run uses a credential the redactor is empty and costs nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

__all__ = ["REDACTED", "Redactor"]

REDACTED = "[REDACTED]"

MIN_SUBSTRING = 4
"""Shorter secrets are redacted only where they are a whole string: replacing every ``ab``
inside every text would destroy the record without protecting much."""


class Redactor:
    """Replaces known secret strings wherever they occur in JSON-like values."""

    __slots__ = ("_pattern", "_secrets")

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self.add(secrets)

    def __bool__(self) -> bool:
        return bool(self._secrets)

    def __repr__(self) -> str:
        return f"Redactor({len(self._secrets)} secrets)"

    def add(self, secrets: Iterable[str]) -> None:
        new = {s for s in secrets if isinstance(s, str) and s} - self._secrets
        if not new:
            return
        self._secrets |= new
        long = sorted((s for s in self._secrets if len(s) >= MIN_SUBSTRING), key=len, reverse=True)
        self._pattern = re.compile("|".join(map(re.escape, long))) if long else None

    def redact(self, value: Any) -> Any:
        """``value`` with every secret replaced; the same object when there was nothing to do."""
        if not self._secrets:
            return value
        return self._walk(value)

    def _walk(self, value: Any) -> Any:
        if isinstance(value, str):
            return self._text(value)
        if isinstance(value, Mapping):
            items = [(self._walk(k), self._walk(v)) for k, v in value.items()]
            if all(
                k is ok and v is ov for (k, v), (ok, ov) in zip(items, value.items(), strict=True)
            ):
                return value
            return dict(items)
        if isinstance(value, (list, tuple)):
            walked = [self._walk(item) for item in value]
            if all(new is old for new, old in zip(walked, value, strict=True)):
                return value
            return walked
        if attrs.has(type(value)):
            return self._attrs(value)
        return value

    def _text(self, text: str) -> str:
        if text in self._secrets:
            return REDACTED
        if self._pattern is None:
            return text
        return self._pattern.sub(REDACTED, text)

    def _attrs(self, value: Any) -> Any:
        # Error records (ExecutionError) are attrs classes: redact their fields.
        changes = {}
        for field in attrs.fields(type(value)):
            old = getattr(value, field.name)
            new = self._walk(old)
            if new is not old and field.init:
                changes[field.alias or field.name] = new
        return attrs.evolve(value, **changes) if changes else value
