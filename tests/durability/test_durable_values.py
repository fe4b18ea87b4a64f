"""Values JSON cannot hold as they are: every execution still ends, and a run sees each value as
storage gives it back, so a run recovered from storage ends as the uninterrupted one would."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import anyio
import pytest
from durable_storages import StorageFactory

from builders import chain, node
from linkflow_engine import (
    Engine,
    ExecutionStatus,
    NodeError,
    NodeRegistry,
    WorkflowValidationError,
)
from linkflow_engine._stored_values import MAX_DEPTH
from linkflow_engine.storage.postgres import PostgresStorage


def nested(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(levels):
        value = {"a": value}
    return value


def containers(value: Any) -> int:
    """How many dicts are nested along the key "a"."""
    count = 0
    while isinstance(value, dict):
        value, count = value.get("a"), count + 1
    return count


def odd_output() -> dict[str, Any]:
    cycle: dict[str, Any] = {"name": "loop"}
    cycle["self"] = cycle
    listed: list[Any] = [1]
    listed.append(listed)
    return {
        "when": datetime(2026, 11, 29, 14, 0, tzinfo=UTC),
        "tags": {"b"},
        "pairs": {(1, 2): "x", 3: "y"},
        "cycle": cycle,
        "listed": listed,
        "deep": nested(MAX_DEPTH + 100),
        "nan": float("nan"),
        "huge": 2**80,
    }


ODD_STORED = {
    "when": "2026-11-29T14:00:00+00:00",
    "tags": "{'b'}",
    "pairs": {"(1, 2)": "x", "3": "y"},
    "cycle": {"name": "loop", "self": "[Circular]"},
    "listed": [1, "[Circular]"],
    "nan": None,
    "huge": 2**80,
}


def registry_seeing(seen: list[Any]) -> NodeRegistry:
    registry = NodeRegistry()

    @registry.register("odd")
    async def odd(ctx: Any) -> dict[str, Any]:
        return odd_output()

    @registry.register("see")
    async def see(ctx: Any) -> Any:
        seen.append(ctx.input)
        return ctx.input

    return registry


async def test_an_output_json_cannot_hold_reaches_the_next_node_as_stored(
    make_shared_storage: StorageFactory,
) -> None:
    """A node's output holding a datetime, a set, non-string keys, a cycle, nesting deeper than
    orjson writes, NaN or a huge integer: the execution completes (a write that refused the
    value stopped it at every attempt), and the next node, the record and storage all hold the
    value as storage gives it back. (On memory storage, which recovers nothing, the next node
    gets the value itself: checking it costs about what writing it does.)"""
    seen: list[Any] = []
    async with Engine(make_shared_storage(), registry_seeing(seen)) as engine:
        execution = await engine.execute(chain(node("odd", "odd"), node("see", "see")))
        stored = await engine.get_execution(execution.id, include_data=True)
    assert execution.status is ExecutionStatus.COMPLETED, execution.error
    output = dict(stored.node("odd").output)
    assert 1 + containers(output.pop("deep")) == MAX_DEPTH  # the output's dict counts
    assert output == ODD_STORED
    assert seen == [stored.node("odd").output] == [stored.node("see").input]
    assert execution.outputs["see"] == stored.outputs["see"] == seen[0]


async def test_log_data_error_details_and_input_are_kept_as_stored(
    make_storage: StorageFactory,
) -> None:
    """Log data, an error's details and the execution's input holding values JSON cannot hold
    are recorded as storage gives them back, a log message that is no string as its text; the
    execution fails as the node said."""
    registry = NodeRegistry()
    cycle: dict[str, Any] = {}
    cycle["again"] = cycle

    @registry.register("fails")
    async def fails(ctx: Any) -> None:
        ctx.log("info", "about to fail", seen=cycle, at=ctx.input["at"])
        ctx.log("info", 42)  # not a string: its text is the message
        raise NodeError("refused", details={"cycle": cycle})

    async with Engine(make_storage(), registry) as engine:
        at = datetime(2026, 1, 2, tzinfo=UTC)
        execution = await engine.execute(chain(node("f", "fails")), {"at": at})
        stored = await engine.get_execution(execution.id, include_data=True)
    assert execution.status is ExecutionStatus.FAILED
    assert stored.error is not None and execution.error is not None
    assert stored.error.details == execution.error.details == {"cycle": {"again": "[Circular]"}}
    assert stored.input_data == execution.input_data == {"at": "2026-01-02T00:00:00+00:00"}
    (line,) = [entry for entry in stored.logs if entry.message == "about to fail"]
    assert line.data == {"seen": {"again": "[Circular]"}, "at": "2026-01-02T00:00:00+00:00"}
    assert "42" in [entry.message for entry in stored.logs]


async def test_nul_and_lone_surrogates_never_stop_a_run(
    make_shared_storage: StorageFactory,
) -> None:
    """A NUL or a lone surrogate in an error message or a log line (PostgreSQL text refuses
    NUL, UTF-8 a lone surrogate: the write failed at every attempt): the execution ends, JSON
    keeps both, and text keeps NUL on SQLite; U+FFFD takes the place of the others."""
    registry = NodeRegistry()

    @registry.register("odd_text")
    async def odd_text(ctx: Any) -> None:
        ctx.log("info", "read a\x00b", raw="a\x00b")
        ctx.log("info", "name \udcff", raw="\udcff")
        raise ValueError("bad \x00 and \udcff here")

    storage = make_shared_storage()
    nul = "\ufffd" if isinstance(storage, PostgresStorage) else "\x00"
    async with Engine(storage, registry) as engine:
        with anyio.fail_after(10):  # liveness bound: it used to fail at every attempt
            execution = await engine.execute(chain(node("n", "odd_text")))
        stored = await engine.get_execution(execution.id, include_data=True)
        listed, _ = await engine.list_executions(workflow_id="wf-test\x00")
    assert execution.status is ExecutionStatus.FAILED
    assert stored.status is ExecutionStatus.FAILED
    assert stored.error is not None and stored.error.message == "bad \x00 and \udcff here"
    messages = {entry.message: entry.data for entry in stored.logs}
    assert messages[f"read a{nul}b"] == {"raw": "a\x00b"}
    assert messages["name \ufffd"] == {"raw": "\udcff"}
    assert f"Node 'n' failed: bad {nul} and \ufffd here" in messages
    assert listed == []  # a filter holding NUL finds nothing rather than failing


@pytest.mark.parametrize("field", ["id", "name"])
@pytest.mark.parametrize("bad", ["a\x00b", "a\ud800b"])
def test_a_node_id_or_name_storage_cannot_hold_is_refused(field: str, bad: str) -> None:
    """Node ids and names are stored as text: a NUL or a lone surrogate in one is refused by
    validation, naming the field."""
    document = chain(node("n", "noop") | {field: bad})
    with pytest.raises(WorkflowValidationError) as caught:
        Engine().validate(document)
    assert [problem["field"] for problem in caught.value.details] == [f"nodes[1].{field}"]


async def test_a_workflow_id_with_a_slash_still_runs_from_python(
    make_shared_storage: StorageFactory,
) -> None:
    """Only the HTTP API refuses "/" in a workflow id (a path segment there): a workflow saved
    through Python with one is stored, read back and run."""
    async with Engine(make_shared_storage()) as engine:
        await engine.save_workflow(chain(node("n", "noop"), id="team/billing"))
        execution = await engine.execute("team/billing")
    assert execution.status is ExecutionStatus.COMPLETED
