"""LinkFlow documents to the model and back: aliases, canonical form, shape errors."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from typing import Any

import pytest

from linkflow_engine._exceptions import WorkflowValidationError
from linkflow_engine.graph import Workflow, workflow_schema

REFERENCE_DOC: dict[str, Any] = {
    "id": "wf-123",
    "name": "My Workflow",
    "description": "From the reference",
    "status": "active",
    "nodes": [
        {
            "id": "node-1",
            "type": "manual_trigger",
            "name": "Start",
            "config": {},
            "position": {"x": 100, "y": 100},
        },
        {
            "id": "node-2",
            "type": "http_request",
            "name": "Fetch Data",
            "config": {"url": "https://api.example.com/data", "method": "GET"},
            "disabled": False,
            "retryOnFail": True,
            "maxRetries": 3,
            "retryDelay": 1000,
        },
    ],
    "connections": [
        {
            "id": "conn-1",
            "source": "node-1",
            "target": "node-2",
            "sourcePort": "output",
            "targetPort": "input",
            "condition": "{{ $output.success }}",
        }
    ],
    "settings": {
        "timezone": "UTC",
        "errorHandling": "stop",
        "timeout": "30m",
        "maxConcurrency": 10,
        "saveExecutionProgress": True,
        "staticData": {},
    },
    "version": 1,
    "createdAt": "2024-01-15T10:00:00Z",
    "updatedAt": "2024-01-15T10:00:00Z",
}


def _problems(doc: Any) -> list[dict[str, str]]:
    with pytest.raises(WorkflowValidationError) as caught:
        Workflow.from_dict(doc)
    return caught.value.details


def test_reference_document_reads_into_the_model() -> None:
    """The reference's example document becomes snake_case attributes."""
    workflow = Workflow.from_dict(REFERENCE_DOC)
    fetch = workflow.node("node-2")
    assert fetch.retry_on_fail is True
    assert fetch.config["method"] == "GET"
    assert workflow.connections[0].condition == "{{ $output.success }}"
    assert workflow.settings.timeout == 1800
    assert workflow.status == "active"
    assert workflow.created_at == "2024-01-15T10:00:00Z"


def test_reference_document_round_trips_unchanged() -> None:
    """Writing back the reference's example gives the very same document, defaults included."""
    assert Workflow.from_dict(REFERENCE_DOC).to_dict() == REFERENCE_DOC


def test_minimal_document_needs_only_nodes() -> None:
    """A document with only ``nodes`` is a workflow with every default."""
    workflow = Workflow.from_dict({"nodes": [{"id": "a", "type": "noop"}]})
    assert workflow.name == ""
    assert workflow.connections == ()
    assert workflow.node("a").name == "a"


def test_minimal_document_gains_only_canonical_fields() -> None:
    """Writing a minimal document adds name, config, connections and ports, nothing else."""
    doc = {"nodes": [{"id": "a", "type": "noop"}], "connections": [{"source": "a", "target": "a"}]}
    assert Workflow.from_dict(doc).to_dict() == {
        "name": "",
        "nodes": [{"id": "a", "type": "noop", "config": {}}],
        "connections": [
            {"source": "a", "target": "a", "sourcePort": "output", "targetPort": "input"}
        ],
    }


def test_parameters_is_an_alias_of_config() -> None:
    """A node written with ``parameters`` reads as ``config`` and is written back as ``config``."""
    doc = {"nodes": [{"id": "a", "type": "set", "parameters": {"values": {"x": 1}}}]}
    workflow = Workflow.from_dict(doc)
    assert workflow.node("a").config == {"values": {"x": 1}}
    written = workflow.to_dict()["nodes"][0]
    assert "parameters" not in written
    assert written["config"] == {"values": {"x": 1}}


def test_source_node_id_and_target_node_id_are_aliases() -> None:
    """Connections written with ``sourceNodeId``/``targetNodeId`` are written back canonically."""
    doc = {
        "nodes": [{"id": "a", "type": "noop"}, {"id": "b", "type": "noop"}],
        "connections": [{"sourceNodeId": "a", "targetNodeId": "b"}],
    }
    workflow = Workflow.from_dict(doc)
    assert (workflow.connections[0].source, workflow.connections[0].target) == ("a", "b")
    written = workflow.to_dict()["connections"][0]
    assert (written["source"], written["target"]) == ("a", "b")
    assert "sourceNodeId" not in written


def test_name_and_alias_together_are_ambiguous() -> None:
    """Writing both ``config`` and ``parameters`` (or a connection end twice) is an error."""
    doc = {
        "nodes": [{"id": "a", "type": "noop", "config": {}, "parameters": {}}],
        "connections": [{"source": "a", "sourceNodeId": "a", "target": "a"}],
    }
    assert _problems(doc) == [
        {"field": "nodes[0].parameters", "message": "write config or parameters, not both"},
        {
            "field": "connections[0].sourceNodeId",
            "message": "write source or sourceNodeId, not both",
        },
    ]


def test_unknown_fields_are_kept_everywhere() -> None:
    """Fields the engine does not know survive a round trip at every level."""
    doc = {
        "name": "wf",
        "folder": "reports",
        "nodes": [{"id": "a", "type": "noop", "config": {}, "color": "red"}],
        "connections": [
            {"source": "a", "target": "a", "sourcePort": "output", "targetPort": "input", "w": 2}
        ],
        "settings": {"callerPolicy": "any"},
    }
    workflow = Workflow.from_dict(doc)
    assert workflow.extra == {"folder": "reports"}
    assert workflow.node("a").extra == {"color": "red"}
    assert workflow.settings.extra == {"callerPolicy": "any"}
    assert workflow.to_dict() == doc


def test_settings_timeout_keeps_the_text_the_user_wrote() -> None:
    """``"timeout": "1h"`` is 3600 seconds in the model and still "1h" when written back."""
    doc = {"nodes": [], "settings": {"timeout": "1h"}}
    workflow = Workflow.from_dict(doc)
    assert workflow.settings.timeout == 3600
    assert workflow.to_dict()["settings"] == {"timeout": "1h"}


def test_settings_timeout_as_a_number_is_seconds() -> None:
    """A plain number for ``settings.timeout`` is a number of seconds, written back as is."""
    workflow = Workflow.from_dict({"nodes": [], "settings": {"timeout": 90}})
    assert workflow.settings.timeout == 90
    assert workflow.to_dict()["settings"] == {"timeout": 90}


def test_changed_timeout_replaces_the_stale_text() -> None:
    """After ``evolve`` changes the timeout, the document shows the new number, not the old text."""
    import attrs

    workflow = Workflow.from_dict({"nodes": [], "settings": {"timeout": "1h"}})
    changed = attrs.evolve(workflow, settings=attrs.evolve(workflow.settings, timeout=60))
    assert changed.to_dict()["settings"] == {"timeout": 60}


def test_model_does_not_share_the_callers_document() -> None:
    """Editing a document after reading it does not change the workflow read from it."""
    doc = copy.deepcopy(REFERENCE_DOC)
    workflow = Workflow.from_dict(doc)
    doc["nodes"][1]["config"]["url"] = "https://changed.example"
    doc["settings"]["staticData"]["k"] = 1
    assert workflow.node("node-2").config["url"] == "https://api.example.com/data"
    assert workflow.settings.static_data == {}


def test_every_shape_problem_is_reported_with_its_path() -> None:
    """Schema problems are all reported at once, each naming its field path."""
    doc = {
        "status": "running",
        "nodes": [{"id": "a", "type": "noop"}, {"id": "b"}, {"id": "c", "type": "x", "config": 3}],
        "connections": [{"target": "a"}],
        "settings": {"timeout": "3 weeks", "maxConcurrency": 0},
    }
    problems = _problems(doc)
    assert [p["field"] for p in problems] == [
        "connections[0].source",
        "nodes[1].type",
        "nodes[2].config",
        "settings.maxConcurrency",
        "settings.timeout",
        "status",
    ]
    messages = {p["field"]: p["message"] for p in problems}
    assert messages["nodes[1].type"] == "is required"
    assert messages["nodes[2].config"] == "must be of type object, not number"
    assert "30m" in messages["settings.timeout"]
    assert "draft" in messages["status"]


def test_missing_nodes_is_a_problem() -> None:
    """A document without ``nodes`` names the missing field."""
    assert _problems({"name": "x"}) == [{"field": "nodes", "message": "is required"}]


def test_a_non_object_document_is_a_problem() -> None:
    """Something other than a JSON object is refused with a clear message."""
    problem = {"field": "(document)", "message": "must be of type object, not array"}
    assert _problems([]) == [problem]


def test_schema_is_a_valid_draft_2020_12_schema() -> None:
    """The shipped schema is itself valid JSON Schema draft 2020-12."""
    import jsonschema  # type: ignore[import-untyped, unused-ignore]

    schema = workflow_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_workflow_schema_returns_a_fresh_copy() -> None:
    """Editing the returned schema does not change the one validation uses."""
    workflow_schema()["required"].append("name")
    assert Workflow.from_dict({"nodes": []}).name == ""


def test_to_dict_output_is_json() -> None:
    """The canonical document serialises with the standard json module."""
    doc = Workflow.from_dict(REFERENCE_DOC).to_dict()
    assert json.loads(json.dumps(doc)) == REFERENCE_DOC


def test_importing_graph_does_not_import_jsonschema() -> None:
    """``import linkflow_engine.graph`` stays cheap: jsonschema loads on first validation."""
    code = "import sys, linkflow_engine.graph; print('jsonschema' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"
