"""The node registry: registering types, describing them, plugins, validation hooks."""

from __future__ import annotations

import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import pytest

from builders import chain, node
from linkflow_engine import (
    NodeContext,
    NodeRegistry,
    NodeType,
    WorkflowValidationError,
    run_workflow,
    validate_workflow,
)

BUILTINS = {
    "manual_trigger", "schedule_trigger", "interval_trigger", "webhook_trigger", "error_trigger",
    "if", "switch", "loop", "split_in_batches", "merge", "set", "wait", "noop", "stop_and_error",
}  # fmt: skip


def test_every_new_registry_has_the_builtins() -> None:
    """A new registry knows every built-in type of the reference; registries are independent."""
    first, second = NodeRegistry(), NodeRegistry()
    assert {t.type for t in first.list()} >= BUILTINS
    first.register("mine", lambda ctx: None)
    assert "mine" in first
    assert "mine" not in second


def test_builtins_are_async_so_they_never_pay_a_thread_hop() -> None:
    """Every built-in handler is a coroutine function."""
    registry = NodeRegistry()
    assert all(registry.get(name).is_async for name in BUILTINS)


def test_register_and_decorator_forms() -> None:
    """register(type, handler) and @register(type) both add a type; duplicates are refused."""
    registry = NodeRegistry()

    @registry.register("double", description="doubles n")
    async def double(ctx: NodeContext) -> Any:
        return {"n": ctx.input["n"] * 2}

    assert double.__name__ == "double"  # the decorator returns the function itself
    assert registry.get("double").description == "doubles n"
    with pytest.raises(ValueError, match="already registered"):
        registry.register("double", double)
    registry.register("double", double, replace=True)
    execution = run_workflow(chain(node("d", "double")), {"n": 4}, registry=registry)
    assert execution.outputs == {"d": {"n": 8}}


def test_sync_handlers_run_in_a_worker_thread() -> None:
    """A plain def handler runs off the event loop's thread."""
    registry = NodeRegistry()
    threads: list[int] = []

    def blocking(ctx: NodeContext) -> Any:
        threads.append(threading.get_ident())
        return {"ok": True}

    registry.register("blocking", blocking)
    run_workflow(chain(node("b", "blocking")), registry=registry)
    assert threads
    assert threads[0] != threading.get_ident()


def test_describe_lists_every_type_as_json() -> None:
    """describe() gives type, category, ports and config schema for each type."""
    registry = NodeRegistry()
    described = {d["type"]: d for d in registry.describe()}
    assert described["if"]["outputs"] == ["true", "false"]
    assert described["manual_trigger"]["inputs"] == []
    assert described["manual_trigger"]["trigger"] is True
    assert described["switch"]["outputs"] == "dynamic"
    assert described["set"]["configSchema"]["required"] == ["values"]


def test_invalid_config_schema_is_refused_at_registration() -> None:
    """A config_schema that is not a JSON Schema fails when registered."""
    with pytest.raises(ValueError, match="config_schema"):
        NodeRegistry().register("bad", lambda ctx: None, config_schema={"type": "nonsense"})


def test_unknown_type_is_a_validation_detail() -> None:
    """An unregistered node type is reported with its field path."""
    with pytest.raises(WorkflowValidationError) as caught:
        run_workflow(chain(node("x", "no_such_type")))
    fields = [d["field"] for d in caught.value.details]
    assert "nodes[1].type" in fields


def test_config_breaking_the_type_schema_is_a_validation_detail() -> None:
    """A config that fails its type's schema is reported under nodes[i].config…"""
    doc = chain(node("w", "wait", config={"duration": "soon"}), node("s", "set", config={}))
    with pytest.raises(WorkflowValidationError) as caught:
        validate_workflow(doc, NodeRegistry())
    details = {d["field"]: d["message"] for d in caught.value.details}
    assert "nodes[1].config.duration" in details
    assert "nodes[2].config" in details
    assert "values" in details["nodes[2].config"]


def test_expression_values_satisfy_any_config_type() -> None:
    """A {{ }} string is accepted where the schema wants a number (checked at run time)."""
    doc = chain(node("w", "wait", config={"duration": "{{ $input.ms }}", "unit": "milliseconds"}))
    validate_workflow(doc, NodeRegistry())
    assert run_workflow(doc, {"ms": 1}).status.value == "completed"


def test_connection_to_an_unknown_port_is_a_validation_detail() -> None:
    """A connection from a port the type does not have is reported."""
    doc = chain(node("c", "if", config={"condition": True}), node("n", "noop"))
    doc["connections"][1]["sourcePort"] = "maybe"
    with pytest.raises(WorkflowValidationError) as caught:
        validate_workflow(doc, NodeRegistry())
    assert any("maybe" in d["message"] for d in caught.value.details)


def test_load_entry_points_registers_plugins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Entry points (group linkflow_engine.nodes) may be NodeTypes or register callables."""
    package = tmp_path / "my_plugin.py"
    package.write_text(
        textwrap.dedent(
            """
            from linkflow_engine import NodeType

            async def shout(ctx):
                return {"text": str(ctx.input.get("text", "")).upper()}

            SHOUT = NodeType(type="shout", handler=shout, category="plugin")

            def register(registry):
                registry.register("whisper", shout)
            """
        )
    )
    dist = tmp_path / "my_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: my-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[linkflow_engine.nodes]\nshout = my_plugin:SHOUT\nwhisper = my_plugin:register\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = NodeRegistry()
    loaded = registry.load_entry_points()
    assert sorted(loaded) == ["shout", "whisper"]
    assert isinstance(registry.get("shout"), NodeType)
    execution = run_workflow(chain(node("s", "shout")), {"text": "hi"}, registry=registry)
    assert execution.outputs["s"] == {"text": "HI"}
    sys.modules.pop("my_plugin", None)


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"cron": "61 * * * *"}, "nodes[0].config.cron"),
        ({"cron": "0 9 * *"}, "nodes[0].config.cron"),
        ({"cron": "0 9 * * *", "timezone": "Mars/Olympus"}, "nodes[0].config.timezone"),
        ({"cron": "{{ $vars.cron }}"}, "nodes[0].config.cron"),
    ],
)
def test_bad_schedules_are_rejected_at_validation(config: dict[str, Any], field: str) -> None:
    """A cron or time zone the scheduler cannot use is a validation detail, not a runtime log."""
    doc = {"nodes": [{"id": "t", "type": "schedule_trigger", "config": config}]}
    with pytest.raises(WorkflowValidationError) as caught:
        validate_workflow(doc, NodeRegistry())
    assert [d["field"] for d in caught.value.details] == [field]


def test_good_and_expression_schedules_pass_validation() -> None:
    """Valid cron (5 or 6 fields, with a time zone) and intervals validate."""
    for config in (
        {"cron": "0 9 * * 1-5", "timezone": "Europe/Paris"},
        {"cron": "*/10 * * * * *"},
        {"interval": 15, "unit": "minutes"},
    ):
        kind = "interval_trigger" if "interval" in config else "schedule_trigger"
        doc = {"nodes": [{"id": "t", "type": kind, "config": config}]}
        validate_workflow(doc, NodeRegistry())
