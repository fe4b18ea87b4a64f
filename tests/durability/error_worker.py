"""Store a failure and die at once, before its error workflow can start: error_worker.py KIND TARGET

The process kills itself with SIGKILL when it hears ``execution.failed``, which is published
once the failure is stored: whatever the engine does after that write never happens.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import anyio

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1]))

from crash_worker import storage

from error_documents import failing, watcher
from linkflow_engine import Engine


def die(_event: object) -> None:
    os.kill(os.getpid(), signal.SIGKILL)


async def main(kind: str, target: str) -> None:
    async with Engine(storage(kind, target), lease_ttl=1.0) as engine:
        await engine.save_workflow(failing("wf-billing"))
        await engine.save_workflow(watcher("wf-alert"))
        engine.subscribe(die, types=["execution.failed"], inline=True)
        await engine.execute("wf-billing")


if __name__ == "__main__":
    anyio.run(main, *sys.argv[1:3])
