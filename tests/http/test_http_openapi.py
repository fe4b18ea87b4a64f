"""The OpenAPI document says what the live server does: schemathesis sends generated requests
to a real ``linkflow serve`` and checks every answer (no 5xx, statuses, headers and bodies as
documented)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import schemathesis
from http_server import serving
from hypothesis import HealthCheck, given, settings
from schemathesis import checks

KEY = "schema-key"
HEADERS = {"Authorization": f"Bearer {KEY}"}
# What the document promises. Not positive_data_acceptance: a schema cannot say that node types
# must be registered or that the graph has no cycle, so schema-valid documents may get 422.
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
    checks.response_headers_conformance,
]


@pytest.fixture(scope="module")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("openapi")
    # Module-scoped: the per-test key-file fixture does not reach this server; name one here.
    env = {"LINKFLOW_KEY_FILE": str(folder / "encryption.key")}
    with serving(folder / "linkflow.db", "--api-key", f"{KEY}:usr-schema", env=env) as server:
        workflow = {"id": "wf-1", "nodes": [{"id": "start", "type": "manual_trigger"}]}
        httpx.post(server.url + "/api/v1/workflows", json=workflow, headers=HEADERS)
        yield server.url


def check_operation(operation: schemathesis.APIOperation, base_url: str) -> None:
    @given(case=operation.as_strategy())
    @settings(
        max_examples=12,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    def check(case: schemathesis.Case) -> None:
        case.call_and_validate(base_url=base_url, headers=HEADERS, checks=CHECKS)

    check()


@pytest.mark.slow
def test_every_answer_matches_the_document(server_url: str) -> None:
    """Generated requests never get a 5xx and every answer matches its documented schema."""
    schema = schemathesis.openapi.from_url(server_url + "/api/v1/openapi.json")
    checked = 0
    for result in schema.get_all_operations():
        check_operation(result.ok(), server_url + "/api/v1")
        checked += 1
    assert checked >= 19


def test_the_document_is_openapi_3_1(server_url: str) -> None:
    """/api/v1/openapi.json is an OpenAPI 3.1 document covering every endpoint."""
    document = httpx.get(server_url + "/api/v1/openapi.json").json()
    assert document["openapi"] == "3.1.0"
    assert {"/execute", "/executions", "/executions/stats", "/workflows/{id}/export"} <= set(
        document["paths"]
    )
