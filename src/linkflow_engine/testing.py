"""Helpers for testing workflows and node types.

async with Engine(registry=my_registry) as engine:
    with capture_events(engine) as events:
        execution = await engine.execute(document)
    assert events.types()[0] == "execution.started"
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from .events import Event

if TYPE_CHECKING:
    from .runtime import Engine

__all__ = ["EventCapture", "capture_events"]


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
