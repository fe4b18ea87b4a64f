"""Data flow through run_workflow: start, inputs, joins, skips, conditions, ports, $node."""

from __future__ import annotations

from typing import Any

from builders import chain, conn, node, workflow
from linkflow_engine import ExecutionStatus, NodeContext, NodeRegistry, NodeStatus, run_workflow


def statuses(execution: Any) -> dict[str, str]:
    return {run.node_id: run.status.value for run in execution.node_executions}


def test_hello_world_returns_the_spec_execution_object() -> None:
    """A trigger and a set node complete; to_dict() has every field of the Execution Object."""
    doc = chain(node("greet", "set", config={"values": {"greeting": "Hello {{ $input.name }}"}}))
    execution = run_workflow(doc, {"name": "Ada"})
    assert execution.status is ExecutionStatus.COMPLETED
    record = execution.to_dict()
    for field in (
        "id",
        "workflowId",
        "workflowName",
        "status",
        "mode",
        "startedAt",
        "finishedAt",
        "duration",
        "nodeExecutions",
        "error",
        "retryCount",
        "triggeredBy",
        "outputs",
        "nodeCount",
        "logs",
    ):
        assert field in record
    assert record["status"] == "completed"
    assert record["mode"] == "manual"
    assert record["workflowId"] == "wf-test"
    assert record["nodeCount"] == 2
    assert record["outputs"]["greet"]["greeting"] == "Hello Ada"
    first = record["nodeExecutions"][0]
    assert set(first) >= {
        "nodeId",
        "nodeName",
        "status",
        "startedAt",
        "finishedAt",
        "input",
        "output",
        "error",
    }
    assert first["startedAt"].endswith("Z")
    assert record["logs"][0]["message"] == "Execution started"
    assert record["logs"][0]["nodeId"] is None


def test_trigger_output_merges_input_data_and_input_wins() -> None:
    """manual_trigger outputs {triggered, timestamp, triggeredBy} merged with inputData."""
    execution = run_workflow(chain(), {"key": "value", "triggered": "mine"}, triggered_by="usr-1")
    output = execution.node("start").output
    assert output["key"] == "value"
    assert output["triggered"] == "mine"
    assert output["triggeredBy"] == "usr-1"
    assert output["timestamp"].endswith("Z")
    assert execution.triggered_by == "usr-1"


def test_a_trigger_without_input_data_has_an_empty_object_as_input() -> None:
    """As in the spec's execution object: the trigger's input is {} when no inputData came,
    and inputData itself when it did."""
    assert run_workflow(chain()).to_dict()["nodeExecutions"][0]["input"] == {}
    assert run_workflow(chain(), start_node_id="start").node("start").input == {}
    assert run_workflow(chain(), {"a": 1}).node("start").input == {"a": 1}


def test_include_data_false_leaves_out_node_payloads() -> None:
    """to_dict(include_data=False) drops node input and output."""
    record = run_workflow(chain("noop"), {"a": 1}).to_dict(include_data=False)
    assert "input" not in record["nodeExecutions"][0]
    assert "output" not in record["nodeExecutions"][0]


def test_join_receives_shallow_merge_in_connection_order() -> None:
    """A node with two active inputs runs once with their merge; the later connection wins."""
    registry = NodeRegistry()
    seen: list[Any] = []

    @registry.register("record")
    async def record(ctx: NodeContext) -> Any:
        seen.append((ctx.input, dict(ctx.inputs)))
        return ctx.input

    doc = workflow(
        node("start", "manual_trigger"),
        node("a", "set", config={"values": {"x": 1, "from": "a"}}),
        node("b", "set", config={"values": {"y": 2, "from": "b"}}),
        node("join", "record"),
        connections=[conn("start", "a"), conn("start", "b"), conn("a", "join"), conn("b", "join")],
    )
    execution = run_workflow(doc, registry=registry)
    assert len(seen) == 1
    merged, inputs = seen[0]
    assert merged["x"] == 1 and merged["y"] == 2 and merged["from"] == "b"
    assert list(inputs) == ["a", "b"]
    assert execution.status is ExecutionStatus.COMPLETED


def test_join_of_non_objects_fails_with_a_clear_error() -> None:
    """Two non-object inputs into a plain node fail that node with NODE_ERROR."""
    doc = workflow(
        node("start", "manual_trigger"),
        node("a", "split_in_batches", config={"items": [1, 2], "batchSize": 1}),
        node("b", "noop"),
        node("join", "noop"),
        connections=[conn("start", "a"), conn("start", "b"), conn("a", "join"), conn("b", "join")],
    )
    execution = run_workflow(doc)
    assert execution.status is ExecutionStatus.FAILED
    assert execution.error is not None
    assert execution.error.node_id == "join"
    assert "merge node" in execution.error.message


def test_if_routes_and_skip_propagates() -> None:
    """The untaken branch is skipped, and so is everything only it feeds."""
    doc = workflow(
        node("start", "manual_trigger"),
        node("check", "if", config={"condition": "{{ $input.n > 5 }}"}),
        node("big", "noop"),
        node("small", "noop"),
        node("after_small", "noop"),
        connections=[
            conn("start", "check"),
            conn("check", "big", sourcePort="true"),
            conn("check", "small", sourcePort="false"),
            conn("small", "after_small"),
        ],
    )
    execution = run_workflow(doc, {"n": 10})
    assert statuses(execution) == {
        "start": "completed",
        "check": "completed",
        "big": "completed",
        "small": "skipped",
        "after_small": "skipped",
    }
    assert execution.node("small").input is None
    assert set(execution.outputs) == {"big"}


def test_join_after_if_runs_with_the_branch_that_was_taken() -> None:
    """A node fed by both branches of an if runs once, with the active one."""
    doc = workflow(
        node("start", "manual_trigger"),
        node("check", "if", config={"condition": "{{ $input.ok }}"}),
        node("yes", "set", config={"values": {"branch": "yes"}}),
        node("no", "set", config={"values": {"branch": "no"}}),
        node("end", "noop"),
        connections=[
            conn("start", "check"),
            conn("check", "yes", sourcePort="true"),
            conn("check", "no", sourcePort="false"),
            conn("yes", "end"),
            conn("no", "end"),
        ],
    )
    execution = run_workflow(doc, {"ok": False})
    assert execution.node("end").output["branch"] == "no"
    assert execution.node("end").status is NodeStatus.COMPLETED


def test_connection_condition_gates_the_data() -> None:
    """A connection whose condition is falsy carries nothing; its target is skipped."""
    doc = workflow(
        node("start", "manual_trigger"),
        node("yes", "noop"),
        node("no", "noop"),
        connections=[
            conn("start", "yes", condition="{{ $output.amount > 100 }}"),
            conn("start", "no", condition="$output.amount <= 100"),
        ],
    )
    execution = run_workflow(doc, {"amount": 250})
    assert statuses(execution)["yes"] == "completed"
    assert statuses(execution)["no"] == "skipped"


def test_failing_condition_fails_the_execution_with_expression_error() -> None:
    """A condition that cannot be evaluated fails the run with EXPRESSION_ERROR."""
    doc = workflow(
        node("start", "manual_trigger"),
        node("next", "noop"),
        connections=[conn("start", "next", condition="{{ $output.missing.deeper }}")],
    )
    execution = run_workflow(doc, {})
    assert execution.status is ExecutionStatus.FAILED
    assert execution.error is not None and execution.error.code == "EXPRESSION_ERROR"


def test_switch_routes_by_rule_and_fallback_with_port_aliases() -> None:
    """switch emits on the matching rule's port; `output1` is an alias of port 1."""
    doc = workflow(
        node("start", "manual_trigger"),
        node(
            "route",
            "switch",
            config={
                "mode": "expression",
                "expression": "{{ $input.kind }}",
                "rules": [{"value": "a", "output": 0}, {"value": "b", "output": 1}],
                "fallback": 2,
            },
        ),
        node("on_a", "noop"),
        node("on_b", "noop"),
        node("other", "noop"),
        connections=[
            conn("start", "route"),
            conn("route", "on_a", sourcePort="0"),
            conn("route", "on_b", sourcePort="output1"),
            conn("route", "other", sourcePort="2"),
        ],
    )
    assert statuses(run_workflow(doc, {"kind": "b"}))["on_b"] == "completed"
    assert statuses(run_workflow(doc, {"kind": "b"}))["on_a"] == "skipped"
    assert statuses(run_workflow(doc, {"kind": "zzz"}))["other"] == "completed"


def test_node_reference_reads_an_earlier_output() -> None:
    """$node["Name"].data reads any completed node's output."""
    doc = chain(
        node("fetch", "set", name="Fetch", config={"values": {"user": {"id": 7}}}),
        node(
            "use",
            "set",
            config={
                "values": {
                    "uid": "{{ $node['Fetch'].data.user.id }}",
                    "same": "{{ $node.Fetch.data.user.id }}",
                },
                "keepOnlySet": True,
            },
        ),
    )
    execution = run_workflow(doc)
    assert execution.node("use").output == {"uid": 7, "same": 7}


def test_context_variables_resolve() -> None:
    """$executionId, $workflow.name, $execution.mode and $env resolve in configs."""
    doc = chain(
        node(
            "vars",
            "set",
            config={
                "values": {
                    "id": "{{ $executionId }}",
                    "wf": "{{ $workflow.name }}",
                    "mode": "{{ $execution.mode }}",
                    "home": "{{ $env.GREETING }}",
                    "v": "{{ $vars.answer }}",
                },
                "keepOnlySet": True,
            },
        )
    )
    execution = run_workflow(doc, env={"GREETING": "hi"}, variables={"answer": 42})
    assert execution.node("vars").output == {
        "id": execution.id,
        "wf": "Test",
        "mode": "manual",
        "home": "hi",
        "v": 42,
    }


def test_unreachable_nodes_are_skipped() -> None:
    """Nodes the start cannot reach are recorded skipped."""
    doc = workflow(
        node("start", "manual_trigger"),
        node("a", "noop"),
        node("island", "noop"),
        connections=[conn("start", "a")],
    )
    assert statuses(run_workflow(doc))["island"] == "skipped"


def test_start_node_id_starts_there_with_input_data() -> None:
    """startNodeId runs that node with inputData and what is downstream of it only."""
    doc = chain("noop", "noop", "noop")
    execution = run_workflow(doc, {"x": 1}, start_node_id="n2")
    assert statuses(execution) == {
        "n2": "completed",
        "n3": "completed",
        "start": "skipped",
        "n1": "skipped",
    }
    assert execution.node("n2").input == {"x": 1}


def test_workflow_without_trigger_starts_at_its_roots() -> None:
    """A workflow with no trigger node starts from every node without inputs."""
    doc = workflow(node("a", "noop"), node("b", "noop"))
    execution = run_workflow(doc, {"v": 1})
    assert execution.outputs == {"b": {"v": 1}}


def test_disabled_node_is_skipped_and_passes_its_input_on() -> None:
    """A disabled node does not run, is recorded skipped, and its input flows on."""
    doc = chain(node("off", "set", disabled=True, config={"values": {"changed": True}}), "noop")
    execution = run_workflow(doc, {"v": 1})
    assert execution.node("off").status is NodeStatus.SKIPPED
    assert "changed" not in execution.node("n2").output
    assert execution.node("n2").output["v"] == 1


def test_pinned_data_replaces_the_node_in_manual_mode() -> None:
    """pinnedData is used as the node's output without running it (manual mode only)."""
    calls = []
    registry = NodeRegistry()
    registry.register("count", lambda ctx: calls.append(1) or {"real": True})
    doc = chain(node("p", "count", pinnedData={"pinned": True}), "noop")
    manual = run_workflow(doc, registry=registry)
    assert manual.node("n2").output == {"pinned": True}
    assert calls == []
    api = run_workflow(doc, registry=registry, mode="api")
    assert api.node("n2").output == {"real": True}
    assert calls == [1]


def test_outputs_hold_leaf_nodes_only_and_node_count_counts_runs() -> None:
    """outputs maps each completed leaf to its output; nodeCount counts nodes that ran."""
    doc = workflow(
        node("start", "manual_trigger"),
        node("a", "noop"),
        node("b", "set", config={"values": {"b": 1}}),
        node("c", "noop"),
        connections=[conn("start", "a"), conn("a", "b"), conn("start", "c")],
    )
    execution = run_workflow(doc, {"in": 1})
    assert set(execution.outputs) == {"b", "c"}
    assert execution.node_count == 4
    assert execution.duration is not None and execution.duration >= 0


def test_sequence_numbers_follow_start_order() -> None:
    """Every node run gets a sequence number in the order runs started."""
    execution = run_workflow(chain("noop", "noop"))
    assert [r.sequence for r in execution.node_executions] == [0, 1, 2]
    assert [r.node_id for r in execution.node_executions] == ["start", "n1", "n2"]


def test_env_is_empty_unless_the_embedder_passes_it() -> None:
    """$env exposes nothing of the process environment by default."""
    doc = chain(node("v", "set", config={"values": {"path": "{{ $env.PATH }}"}}))
    assert run_workflow(doc).node("v").output["path"] is None


def test_mode_picks_the_trigger_of_its_kind() -> None:
    """In webhook mode the webhook trigger starts, not the first trigger of the document."""
    doc = workflow(
        node("manual", "manual_trigger"),
        node("hook", "webhook_trigger", config={"path": "in"}),
        node("after", "noop"),
        connections=[conn("manual", "after"), conn("hook", "after")],
    )
    execution = run_workflow(doc, {"body": {"a": 1}}, mode="webhook")
    assert execution.node("hook").status is NodeStatus.COMPLETED
    assert execution.node("manual").status is NodeStatus.SKIPPED


def test_branch_port_taken_is_in_the_record() -> None:
    """A node run records the port it emitted on (which branch an if took)."""
    doc = chain(node("check", "if", config={"condition": "{{ $input.ok }}"}))
    record = run_workflow(doc, {"ok": False}).to_dict()["nodeExecutions"][1]
    assert record["port"] == "false"
