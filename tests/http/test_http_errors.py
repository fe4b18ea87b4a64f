"""Every documented error status, in the error envelope, never a stack trace."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from http_documents import API_KEY, document, failing, slow
from starlette.requests import Request

from linkflow_engine import Engine
from linkflow_engine.http import create_app
from linkflow_engine.http._envelope import ApiError
from linkflow_engine.http._requests import json_body


def error_of(answer: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert body["success"] is False
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    assert "Traceback" not in answer.text
    return dict(body["error"])


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"limit": "-1"}, "limit"),
        ({"limit": "abc"}, "limit"),
        ({"offset": "-5"}, "offset"),
        ({"status": "bogus"}, "status"),
        ({"mode": "bogus"}, "mode"),
        ({"startedAfter": "yesterday"}, "startedAfter"),
        ({"startedBefore": "x"}, "startedBefore"),
    ],
)
async def test_bad_list_query_is_400_naming_the_field(
    client: httpx.AsyncClient, query: dict[str, str], field: str
) -> None:
    """A bad filter value answers 400 with a detail naming its field."""
    error = error_of(await client.get("/executions", params=query), 400, "VALIDATION_ERROR")
    assert [d["field"] for d in error["details"]] == [field]


async def test_list_counts_are_checked_as_from_python(client: httpx.AsyncClient) -> None:
    """limit and offset say what the Python API says of them (as the docs show), every bad
    value at once; an offset past 32 bits is fine, as from Python."""
    response = await client.get("/executions", params={"limit": "-1", "status": "bogus"})
    error = error_of(response, 400, "VALIDATION_ERROR")
    assert [d["field"] for d in error["details"]] == ["status", "limit"]
    assert error["details"][1] == {"field": "limit", "message": "'-1' is not an integer >= 1"}
    far = await client.get("/executions", params={"offset": "3000000000"})
    assert far.status_code == 200
    assert far.json()["pagination"]["offset"] == 3_000_000_000


async def test_bad_stats_period_is_400(client: httpx.AsyncClient) -> None:
    """period outside day/week/month answers 400."""
    answer = await client.get("/executions/stats", params={"period": "year"})
    assert error_of(answer, 400, "VALIDATION_ERROR")["details"][0]["field"] == "period"


async def test_bad_include_data_is_400(client: httpx.AsyncClient) -> None:
    """includeData must be a boolean."""
    await client.post("/execute", json={"workflow": document()})
    answer = await client.get("/executions/x", params={"includeData": "maybe"})
    error_of(answer, 400, "VALIDATION_ERROR")


@pytest.mark.parametrize(
    "raw",
    [
        b"{nope",
        b'{"workflowId": "wf", "options": {"inputData": {"x": NaN}}}',
        b'{"workflowId": "wf", "options": {"inputData": {"x": 1e400}}}',
        b'{"workflowId": "wf", "options": {"inputData": {"x": "\\ud800"}}}',
    ],
)
async def test_bad_json_is_400_and_runs_nothing(client: httpx.AsyncClient, raw: bytes) -> None:
    """A body that is not JSON, or holds what no JSON answer could carry back (NaN, a number
    past a double, a lone surrogate), answers 400 INVALID_JSON before anything runs."""
    error_of(await client.post("/execute", content=raw), 400, "INVALID_JSON")
    listed = (await client.get("/executions")).json()
    assert listed["pagination"]["total"] == 0


@pytest.mark.parametrize(
    "body",
    [
        [],
        {},
        {"workflow": "text"},
        {"workflowId": 5},
        {"workflow": document(), "options": []},
        {"workflow": document(), "options": {"async": "yes"}},
        {"workflow": document(), "options": {"breakpoints": [1]}},
        {"workflow": document(), "options": {"startNodeId": "nowhere"}},
    ],
)
async def test_bad_execute_body_is_400(client: httpx.AsyncClient, body: Any) -> None:
    """A body of the wrong shape answers 400."""
    error_of(await client.post("/execute", json=body), 400, "VALIDATION_ERROR")


async def test_a_field_of_the_wrong_kind_says_which_kind(client: httpx.AsyncClient) -> None:
    """The message names the kind the field takes, in words."""
    body = {"workflow": document(), "options": {"breakpoints": "greet"}}
    error = error_of(await client.post("/execute", json=body), 400, "VALIDATION_ERROR")
    assert error["details"] == [{"field": "options.breakpoints", "message": "must be a list"}]


async def test_invalid_workflow_is_422_with_every_detail(client: httpx.AsyncClient) -> None:
    """A document that fails validation answers 422 listing every problem."""
    bad = {"nodes": [{"id": "a", "type": "bogus"}, {"id": "b", "type": "also_bogus"}]}
    error = error_of(await client.post("/execute", json={"workflow": bad}), 422, "VALIDATION_ERROR")
    assert {d["field"] for d in error["details"]} == {"nodes[0].type", "nodes[1].type"}


async def test_unknown_ids_are_404(client: httpx.AsyncClient) -> None:
    """Unknown executions and workflows answer 404 NOT_FOUND."""
    for answer in [
        await client.get("/executions/exec-none"),
        await client.post("/executions/exec-none/cancel"),
        await client.post("/executions/exec-none/retry"),
        await client.post("/executions/exec-none/resume"),
        await client.post("/execute", json={"workflowId": "wf-none"}),
        await client.get("/workflows/wf-none"),
    ]:
        error_of(answer, 404, "NOT_FOUND")


async def test_unknown_path_is_404_and_wrong_method_405(client: httpx.AsyncClient) -> None:
    """Routing errors use the envelope too."""
    error_of(await client.get("/nowhere"), 404, "NOT_FOUND")
    error_of(await client.delete("/execute"), 405, "METHOD_NOT_ALLOWED")


async def test_conflicts_are_409(client: httpx.AsyncClient) -> None:
    """Cancel a finished run, retry a running one, resume one not paused: 409 CONFLICT."""
    done = (await client.post("/execute", json={"workflow": failing()})).json()["data"]
    body = {"workflow": slow(), "options": {"async": True}}
    running = (await client.post("/execute", json=body)).json()["data"]
    error_of(await client.post(f"/executions/{done['executionId']}/cancel"), 409, "CONFLICT")
    error_of(await client.post(f"/executions/{running['executionId']}/retry"), 409, "CONFLICT")
    error_of(await client.post(f"/executions/{done['executionId']}/resume"), 409, "CONFLICT")
    await client.post(f"/executions/{running['executionId']}/cancel")


async def test_body_over_the_limit_is_413(client: httpx.AsyncClient) -> None:
    """A declared Content-Length over the limit answers 413."""
    answer = await client.post("/execute", content=b"x" * 20_000)
    error_of(answer, 413, "PAYLOAD_TOO_LARGE")


async def test_chunked_body_over_the_limit_is_413(client: httpx.AsyncClient) -> None:
    """A body without Content-Length is counted while read."""

    async def chunks() -> Any:
        for _ in range(30):
            yield b" " * 1000

    answer = await client.post("/execute", content=chunks())
    error_of(answer, 413, "PAYLOAD_TOO_LARGE")


async def test_unexpected_errors_are_a_generic_500(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A bug answers 500 INTERNAL_ERROR without details; the traceback goes to the log."""

    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(engine, "execution_stats", broken)
    app = create_app(engine)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://t") as http:
        answer = await http.get("/api/v1/executions/stats")
    error = error_of(answer, 500, "INTERNAL_ERROR")
    assert "secret" not in error["message"]
    assert "secret internals" in caplog.text


async def test_missing_key_is_401_with_challenge(client: httpx.AsyncClient) -> None:
    """No Authorization header: 401 with WWW-Authenticate: Bearer."""
    answer = await client.get("/executions", headers={"Authorization": ""})
    error_of(answer, 401, "UNAUTHORIZED")
    assert answer.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("header", ["Bearer wrong", f"Basic {API_KEY}", "Bearer", API_KEY])
async def test_bad_key_is_401(client: httpx.AsyncClient, header: str) -> None:
    """A wrong key, or the right key under another scheme, answers 401."""
    answer = await client.get("/executions", headers={"Authorization": header})
    error_of(answer, 401, "UNAUTHORIZED")


async def test_health_and_openapi_need_no_key(client: httpx.AsyncClient) -> None:
    """/health and the OpenAPI document answer without a key."""
    anonymous = {"Authorization": ""}
    health = await client.get("/health", headers=anonymous)
    assert health.json()["data"]["status"] == "ok"
    assert (await client.get("http://test/health", headers=anonymous)).status_code == 200
    spec = await client.get("/openapi.json", headers=anonymous)
    assert spec.json()["openapi"] == "3.1.0"


async def test_no_keys_means_no_auth(engine: Engine) -> None:
    """Without api_keys every request is accepted and triggeredBy is null."""
    app = create_app(engine)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://t") as http:
        answer = await http.post("/api/v1/execute", json={"workflow": document()})
        execution_id = answer.json()["data"]["executionId"]
        stored = await http.get(f"/api/v1/executions/{execution_id}")
    assert stored.json()["data"]["execution"]["triggeredBy"] is None


async def test_hashed_keys_authenticate(engine: Engine) -> None:
    """A key given only as its SHA-256 digest is accepted, mapping to its user."""
    import hashlib

    digest = hashlib.sha256(b"hidden").hexdigest()
    app = create_app(engine, api_key_hashes={digest: "usr-hash"})
    headers = {"Authorization": "Bearer hidden"}
    transport = httpx.ASGITransport(app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t", headers=headers) as h:
        answer = await h.post("/api/v1/execute", json={"workflow": document()})
        execution_id = answer.json()["data"]["executionId"]
        stored = await h.get(f"/api/v1/executions/{execution_id}")
    assert stored.json()["data"]["execution"]["triggeredBy"] == "usr-hash"


async def test_nul_characters_in_ids_queries_and_names_are_refused(
    client: httpx.AsyncClient,
) -> None:
    """No storage keeps a NUL character in text: ids, query values and workflow ids and names
    holding one are refused naming the field (PostgreSQL answered 500 before)."""
    error_of(await client.get("/executions/a%00b"), 400, "VALIDATION_ERROR")
    error_of(await client.get("/workflows/a%00b"), 400, "VALIDATION_ERROR")
    answer = await client.get("/executions", params={"workflowId": "a\x00b"})
    error_of(answer, 400, "VALIDATION_ERROR")
    assert answer.json()["error"]["details"][0]["field"] == "workflowId"
    named = await client.post("/workflows", json={**document(), "name": "a\u0000b"})
    error_of(named, 422, "VALIDATION_ERROR")
    assert [d["field"] for d in named.json()["error"]["details"]] == ["name"]
    with_id = await client.post("/workflows", json={**document(), "id": "a\u0000b"})
    error_of(with_id, 400, "VALIDATION_ERROR")
    assert with_id.json()["error"]["details"][0]["field"] == "id"


async def test_a_query_value_given_twice_is_refused(client: httpx.AsyncClient) -> None:
    """An API filter given twice names its field: neither value is dropped silently (the
    last one won before). A webhook's query keeps its repeats (see the webhook tests)."""
    twice = await client.get("/executions?status=completed&status=failed")
    error_of(twice, 400, "VALIDATION_ERROR")
    assert twice.json()["error"]["details"][0]["field"] == "status"
    stats = await client.get("/executions/stats?period=day&period=week")
    assert error_of(stats, 400, "VALIDATION_ERROR")["details"][0]["field"] == "period"
    assert (await client.get("/executions?status=completed&limit=5")).status_code == 200


def nested(levels: int) -> Any:
    value: Any = {}
    for _ in range(levels - 1):
        value = [value]
    return value


async def test_a_body_nested_past_254_levels_is_refused_naming_it(
    client: httpx.AsyncClient,
) -> None:
    """JSON nested deeper than 254 levels is refused with 400 naming body (copies and storage
    of it ran out of stack: 500); 254 levels still go through."""
    deep = await client.post("/workflows", json={**document(), "pinnedData": nested(254)})
    error_of(deep, 400, "VALIDATION_ERROR")
    assert deep.json()["error"]["details"] == [
        {"field": "body", "message": "nests deeper than 254 levels"}
    ]
    # the body's object, then 253 levels of pinned data
    accepted = await client.post("/workflows", json={**document(), "pinnedData": nested(253)})
    assert accepted.status_code == 201, accepted.text
    deeper = await client.post("/workflows", json={**document(), "pinnedData": nested(600)})
    error_of(deeper, 400, "VALIDATION_ERROR")


async def test_ids_the_api_could_not_address_are_refused(client: httpx.AsyncClient) -> None:
    """A workflow or credential id holding "/" (or a credential id holding NUL) would be stored
    and then out of reach of /workflows/{id} and /credentials/{id}: refused naming id; an
    import given one gets a fresh id. (Python users may keep such workflow ids.)"""
    workflow = await client.post("/workflows", json={**document(), "id": "team/a"})
    error_of(workflow, 400, "VALIDATION_ERROR")
    assert [d["field"] for d in workflow.json()["error"]["details"]] == ["id"]
    for credential_id in ("a/b", "a\x00b"):
        body = {"id": credential_id, "name": "x", "type": "api_key", "data": {"apiKey": "k"}}
        credential = await client.post("/credentials", json=body)
        error_of(credential, 422, "VALIDATION_ERROR")
        assert [d["field"] for d in credential.json()["error"]["details"]] == ["id"]
    assert (await client.get("/workflows")).json()["data"]["workflows"] == []
    assert (await client.get("/credentials")).json()["data"]["credentials"] == []
    imported = await client.post("/workflows/import", json={**document(), "id": "team/a"})
    assert "/" not in imported.json()["data"]["workflow"]["id"]


@pytest.mark.parametrize("kind", [[], {"a": 1}])
async def test_a_credential_type_that_is_no_string_is_422(
    client: httpx.AsyncClient, kind: Any
) -> None:
    """A credential type given as an array or object names the field (it was a 500)."""
    answer = await client.post("/credentials", json={"name": "x", "type": kind, "data": {}})
    error_of(answer, 422, "VALIDATION_ERROR")
    assert "type" in [d["field"] for d in answer.json()["error"]["details"]]


async def test_a_content_length_of_non_ascii_digits_is_400() -> None:
    """Content-Length "²" (a digit to str.isdigit, so int() raised: 500) is refused like any
    other non-number. (Uvicorn refuses it first; other ASGI servers may pass it on.)"""
    scope = {"type": "http", "method": "POST", "headers": [(b"content-length", b"\xb2")]}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"{}", "more_body": False}

    with pytest.raises(ApiError) as refused:
        await json_body(Request(scope, receive), 1000)
    assert (refused.value.status, refused.value.details[0]["field"]) == (400, "Content-Length")


async def test_option_errors_name_the_fields_as_the_request_sent_them(
    client: httpx.AsyncClient,
) -> None:
    """Errors about execute options name them under options. (they were named as the engine's
    arguments), a breakpoint naming no node is refused (it never paused), and a retry's
    fromNodeId is named fromNodeId."""
    cases = [
        ({"startNodeId": "nope"}, "options.startNodeId"),
        ({"webhookUrl": "ftp://x"}, "options.webhookUrl"),
        ({"debug": True, "breakpoints": ["greet", "nope"]}, "options.breakpoints[1]"),
    ]
    for options, name in cases:
        answer = await client.post("/execute", json={"workflow": document(), "options": options})
        error = error_of(answer, 400, "VALIDATION_ERROR")
        assert [d["field"] for d in error["details"]] == [name]
    failed = await client.post("/execute", json={"workflow": failing()})
    execution_id = failed.json()["data"]["executionId"]
    for key in ("fromNodeId", "fromNode"):
        retried = await client.post(f"/executions/{execution_id}/retry", json={key: "nope"})
        assert [d["field"] for d in error_of(retried, 400, "VALIDATION_ERROR")["details"]] == [key]
