"""HTTP benchmark: synchronous ``POST /api/v1/execute`` against a real ``linkflow serve``.

Run with ``.venv/bin/python bench/http.py [--seconds 20] [--clients 32]``. It starts
``linkflow serve`` on a temporary SQLite file (every execution persisted), drives a 5-node
workflow (manual_trigger -> set -> if -> set -> noop) from concurrent httpx clients, and prints
executions per second and p50/p99 latency. It asserts nothing. Target: 500 executions/s on a
2-core machine (n8n publishes about 220/s for webhook + Set on 2 vCPU).
"""

from __future__ import annotations

import sys

# This file is named http.py: with its folder first on sys.path, `import http` (by httpx) would
# find it instead of the standard library's package.
if sys.path and sys.path[0] == __file__.rpartition("/")[0]:
    del sys.path[0]

import argparse
import asyncio
import contextlib
import socket
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

KEY = "bench-key"
WORKFLOW: dict[str, Any] = {
    "id": "wf-bench",
    "name": "Bench",
    "nodes": [
        {"id": "start", "type": "manual_trigger"},
        {"id": "tag", "type": "set", "config": {"values": {"n": "{{ $input.n + 1 }}"}}},
        {"id": "check", "type": "if", "config": {"condition": "{{ $input.n > 1 }}"}},
        {"id": "big", "type": "set", "config": {"values": {"size": "big"}}},
        {"id": "end", "type": "noop"},
    ],
    "connections": [
        {"source": "start", "target": "tag"},
        {"source": "tag", "target": "check"},
        {"source": "check", "target": "big", "sourcePort": "true"},
        {"source": "big", "target": "end"},
    ],
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def start_server(db: Path, port: int) -> subprocess.Popen[bytes]:
    code = "import sys; from linkflow_engine.cli import main; sys.exit(main())"
    args = [
        "serve",
        "--db",
        str(db),
        "--port",
        str(port),
        "--api-key",
        KEY,
        "--log-level",
        "warning",
    ]
    server = subprocess.Popen([sys.executable, "-c", code, *args])
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200:
                return server
        time.sleep(0.05)
    server.kill()
    raise SystemExit("linkflow serve did not start")


async def client_loop(http: httpx.AsyncClient, stop_at: float, latencies: list[float]) -> int:
    failures = 0
    body = {"workflowId": "wf-bench", "options": {"inputData": {"n": 1}}}
    while time.monotonic() < stop_at:
        began = time.perf_counter()
        try:
            answer = await http.post("/api/v1/execute", json=body)
        except httpx.TransportError:  # counted, not fatal: the figure says how many
            failures += 1
            continue
        latencies.append(time.perf_counter() - began)
        if answer.status_code != 200 or answer.json()["data"]["status"] != "completed":
            failures += 1
    return failures


async def drive(url: str, seconds: float, clients: int) -> None:
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    headers = {"Authorization": f"Bearer {KEY}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, limits=limits, timeout=60) as http:
        (await http.post("/api/v1/workflows", json=WORKFLOW)).raise_for_status()
        await client_loop(http, time.monotonic() + 1, [])  # warm up
        latencies: list[float] = []
        began = time.monotonic()
        stop_at = began + seconds
        failures = await asyncio.gather(
            *(client_loop(http, stop_at, latencies) for _ in range(clients))
        )
        elapsed = time.monotonic() - began
    report(latencies, elapsed, sum(failures), clients)


def report(latencies: list[float], elapsed: float, failures: int, clients: int) -> None:
    ordered = sorted(latencies)
    p50 = statistics.median(ordered) * 1000
    p99 = ordered[int(len(ordered) * 0.99) - 1] * 1000
    print(
        f"clients: {clients}, executions: {len(ordered)} in {elapsed:.1f} s, failures: {failures}"
    )
    print(f"throughput: {len(ordered) / elapsed:.0f} executions/s")
    print(f"latency: p50 {p50:.1f} ms, p99 {p99:.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--clients", type=int, default=32)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        port = free_port()
        server = start_server(Path(directory) / "bench.db", port)
        try:
            asyncio.run(drive(f"http://127.0.0.1:{port}", args.seconds, args.clients))
        finally:
            server.terminate()
            server.wait(timeout=30)


if __name__ == "__main__":
    main()
