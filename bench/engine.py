"""Executor overhead per node against plain Python, measured in one run.

W1: a 100-node chain of an async node type {"i": n} -> {"i": n + 1}.
W2: a start node fanning out to 50 such nodes joined by one merge node.
Baseline: the same handler called in graphlib.TopologicalSorter order with a dict of outputs.
Also: peak memory of a 10,000-node chain with 10 KB outputs, cancel latency, and a fresh
process: `import linkflow_engine` and a first 3-node `run_workflow` (with an expression), each
against the bare interpreter's start, with bytecode caching on as installed packages have it.

Run: .venv/bin/python bench/engine.py [--runs N]
Targets (issue 3): W1 <= 4x the baseline per node, W2 <= 10x, 10k-node chain < 300 MB peak;
(DESIGN, performance) import < 100 ms, first run < 150 ms.
"""

from __future__ import annotations

import argparse
import gc
import graphlib
import itertools
import os
import statistics
import subprocess
import sys
import time
import tracemalloc
from typing import Any

import anyio

from linkflow_engine import Engine, NodeContext, NodeRegistry, Workflow

N_CHAIN = 100
N_FAN = 50


async def inc(ctx: NodeContext) -> dict[str, int]:
    return {"i": ctx.input["i"] + 1}


def chain_doc(n: int, node_type: str = "inc") -> dict[str, Any]:
    nodes = [{"id": "start", "type": "manual_trigger"}]
    nodes += [{"id": f"n{i}", "type": node_type} for i in range(n)]
    ids = [node["id"] for node in nodes]
    connections = [{"source": a, "target": b} for a, b in itertools.pairwise(ids)]
    return {"id": "wf-chain", "name": "chain", "nodes": nodes, "connections": connections}


def fan_doc(n: int) -> dict[str, Any]:
    nodes = [{"id": "start", "type": "manual_trigger"}]
    nodes += [{"id": f"w{i}", "type": "inc"} for i in range(n)]
    nodes.append({"id": "join", "type": "merge", "config": {"mode": "append"}})
    connections = [{"source": "start", "target": f"w{i}"} for i in range(n)]
    connections += [{"source": f"w{i}", "target": "join"} for i in range(n)]
    # Default settings: at most 10 nodes run at once (settings.maxConcurrency).
    return {"id": "wf-fan", "name": "fan", "nodes": nodes, "connections": connections}


class _Ctx:
    __slots__ = ("input",)

    def __init__(self, value: Any) -> None:
        self.input = value


async def baseline(doc: dict[str, Any]) -> dict[str, Any]:
    """The same handlers in topological order, outputs in a dict: no engine at all."""
    graph: dict[str, set[str]] = {node["id"]: set() for node in doc["nodes"]}
    for connection in doc["connections"]:
        graph[connection["target"]].add(connection["source"])
    outputs: dict[str, Any] = {}
    for node_id in graphlib.TopologicalSorter(graph).static_order():
        sources = graph[node_id]
        if not sources:
            outputs[node_id] = {"i": 0}
        elif len(sources) == 1:
            outputs[node_id] = await inc(_Ctx(outputs[next(iter(sources))]))  # type: ignore[arg-type]
        else:
            outputs[node_id] = [outputs[s] for s in sources]
    return outputs


async def time_engine(doc: dict[str, Any], runs: int) -> float:
    registry = NodeRegistry()
    registry.register("inc", inc)
    async with Engine(registry=registry) as engine:
        workflow = engine.validate(doc)
        await engine.execute(workflow, {"i": 0})  # warm: plan and expressions compiled
        started = time.perf_counter()
        for _ in range(runs):
            execution = await engine.execute(workflow, {"i": 0})
        elapsed = time.perf_counter() - started
        assert execution.status.value == "completed", execution.error
    return elapsed


async def time_baseline(doc: dict[str, Any], runs: int) -> float:
    await baseline(doc)
    started = time.perf_counter()
    for _ in range(runs):
        await baseline(doc)
    return time.perf_counter() - started


def per_node_us(elapsed: float, runs: int, nodes: int) -> float:
    return elapsed / runs / nodes * 1e6


async def compare(name: str, doc: dict[str, Any], runs: int, target: float) -> None:
    nodes = len(doc["nodes"])
    engine_us = per_node_us(await time_engine(doc, runs), runs, nodes)
    base_us = per_node_us(await time_baseline(doc, runs), runs, nodes)
    ratio = engine_us / base_us
    verdict = "ok" if ratio <= target else "OVER TARGET"
    print(
        f"{name}: engine {engine_us:7.2f} us/node   baseline {base_us:6.2f} us/node   "
        f"ratio {ratio:5.2f}x (target <= {target:g}x: {verdict})"
    )


async def peak_memory() -> None:
    registry = NodeRegistry()
    blob = "x" * 10_000

    @registry.register("big")
    async def big(ctx: NodeContext) -> dict[str, Any]:
        return {"i": ctx.input.get("i", 0) + 1, "blob": blob + str(ctx.input.get("i", 0))}

    doc = chain_doc(10_000, "big")
    gc.collect()
    tracemalloc.start()
    async with Engine(registry=registry) as engine:
        workflow = Workflow.from_dict(doc)
        execution = await engine.execute(workflow, {"i": 0})
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(
        f"10,000-node chain, 10 KB outputs: {execution.status.value}, "
        f"peak traced memory {peak / 2**20:.0f} MB (target < 300 MB)"
    )


async def cancel_latency(samples: int = 20) -> None:
    registry = NodeRegistry()
    started = anyio.Event()

    @registry.register("sleepy")
    async def sleepy(ctx: NodeContext) -> None:
        started.set()
        await anyio.sleep(60)

    latencies = []
    async with Engine(registry=registry) as engine:
        for _ in range(samples):
            started = anyio.Event()
            ended = anyio.Event()
            sub = engine.subscribe(
                lambda _, ended=ended: ended.set(), types=["execution.cancelled"], inline=True
            )
            execution = await engine.execute(chain_doc(1, "sleepy"), wait=False)
            await started.wait()
            before = time.perf_counter()
            await engine.cancel(execution.id)
            await ended.wait()
            latencies.append((time.perf_counter() - before) * 1000)
            sub.unsubscribe()
    latencies.sort()
    print(
        f"cancel -> execution.cancelled: median {latencies[len(latencies) // 2]:.2f} ms, "
        f"max {latencies[-1]:.2f} ms (target 100 ms)"
    )


FIRST_RUN = """
import time
started = time.perf_counter()
from linkflow_engine import run_workflow
imported = time.perf_counter()
run_workflow({"nodes": [{"id": "s", "type": "manual_trigger"},
                        {"id": "a", "type": "set", "config": {"values": {"x": "{{ $input.n + 1 }}"}}},
                        {"id": "b", "type": "noop"}],
              "connections": [{"source": "s", "target": "a"}, {"source": "a", "target": "b"}]},
             input_data={"n": 1})
print(imported - started, time.perf_counter() - imported)
"""


def fresh_process(samples: int = 7) -> None:
    """Import and first run in new interpreters. PYTHONDONTWRITEBYTECODE is dropped: without
    .pyc files every import compiles its module's source (about 60 ms more here), which an
    installed package never does."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}

    def seconds(code: str) -> float:
        began = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], env=env, check=True)
        return time.perf_counter() - began

    def timings() -> tuple[float, float]:
        out = subprocess.run(
            [sys.executable, "-c", FIRST_RUN], env=env, check=True, capture_output=True, text=True
        ).stdout.split()
        return float(out[0]), float(out[1])

    timings()  # writes the .pyc files
    bare = statistics.median(seconds("pass") for _ in range(samples)) * 1000
    measured = [timings() for _ in range(samples)]
    imported = statistics.median(m[0] for m in measured) * 1000
    first = statistics.median(m[1] for m in measured) * 1000
    print(
        f"fresh process: interpreter start {bare:.0f} ms; import linkflow_engine {imported:.0f} ms"
        f" (x{imported / bare:.1f} the start; target < 100 ms); first run {first:.0f} ms"
        f" (x{first / bare:.1f}; target < 150 ms)"
    )


async def main(runs: int) -> None:
    await compare(f"W1 {N_CHAIN}-node chain ", chain_doc(N_CHAIN), runs, 4)
    await compare(f"W2 fan-out {N_FAN} + merge", fan_doc(N_FAN), runs, 10)
    await cancel_latency()
    await peak_memory()
    fresh_process()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=300)
    anyio.run(main, parser.parse_args().runs)
