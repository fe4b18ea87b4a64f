"""Run a workflow that waits 8 s, until killed: wait_worker.py KIND TARGET"""

from __future__ import annotations

import sys
from pathlib import Path

import anyio

sys.path.insert(0, str(Path(__file__).parent))

from crash_worker import storage

from linkflow_engine import Engine

WAITING = {
    "id": "wf-wait",
    "name": "wait",
    "nodes": [
        {"id": "start", "type": "manual_trigger"},
        {"id": "pause", "type": "wait", "config": {"duration": 8, "unit": "seconds"}},
        {"id": "after", "type": "noop"},
    ],
    "connections": [{"source": "start", "target": "pause"}, {"source": "pause", "target": "after"}],
}


async def main(kind: str, target: str) -> None:
    async with Engine(storage(kind, target), lease_ttl=1.0) as engine:
        await engine.execute(WAITING, {"n": 1})


if __name__ == "__main__":
    anyio.run(main, *sys.argv[1:3])
