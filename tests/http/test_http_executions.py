"""The Executions API through the app: shapes of the spec, with the engine behind it."""

from __future__ import annotations

import anyio
import httpx
import orjson
from http_documents import USER, document, failing, slow

from linkflow_engine import Engine


async def run(client: httpx.AsyncClient, workflow: dict[str, object], **options: object) -> str:
    answer = await client.post("/execute", json={"workflow": workflow, "options": options})
    assert answer.status_code == 200, answer.text
    return str(answer.json()["data"]["executionId"])


async def settle(client: httpx.AsyncClient, execution_id: str) -> dict[str, object]:
    for _ in range(200):
        execution = (await client.get(f"/executions/{execution_id}")).json()["data"]["execution"]
        if execution["status"] not in ("running", "pending"):
            return dict(execution)
        await anyio.sleep(0.01)
    raise AssertionError(f"{execution_id} did not finish")


async def test_execute_inline_answers_the_spec_shape(client: httpx.AsyncClient) -> None:
    """A synchronous run answers executionId, status, outputs, duration and nodeCount."""
    answer = await client.post(
        "/execute", json={"workflow": document(), "options": {"inputData": {"name": "Ada"}}}
    )
    data = answer.json()["data"]
    assert answer.json()["success"] is True
    assert set(data) == {"executionId", "status", "outputs", "duration", "nodeCount"}
    assert data["status"] == "completed"
    assert data["outputs"]["greet"]["greeting"] == "Hello, Ada!"
    assert data["nodeCount"] == 2


async def test_execute_by_id_runs_the_stored_workflow(client: httpx.AsyncClient) -> None:
    """workflowId runs the stored document."""
    await client.post("/workflows", json=document())
    answer = await client.post("/execute", json={"workflowId": "wf-greet"})
    assert answer.json()["data"]["status"] == "completed"


async def test_failed_execution_is_still_success(client: httpx.AsyncClient) -> None:
    """A failed run answers success: true with status failed and the error."""
    data = (await client.post("/execute", json={"workflow": failing()})).json()["data"]
    assert data["status"] == "failed"
    assert data["error"]["nodeId"] == "stop"
    assert data["error"]["message"] == "boom"


async def test_async_execution_answers_running_at_once(client: httpx.AsyncClient) -> None:
    """async: true answers running with the documented message; the run goes on."""
    body = {"workflow": slow(0.05), "options": {"async": True}}
    answer = await client.post("/execute", json=body)
    data = answer.json()["data"]
    assert data["status"] == "running"
    assert data["message"] == "Execution started. Use WebSocket or webhook for updates."
    assert (await settle(client, data["executionId"]))["status"] == "completed"


async def test_api_runs_record_mode_api_and_the_key_user(client: httpx.AsyncClient) -> None:
    """Executions started over HTTP have mode api and triggeredBy the key's user."""
    execution_id = await run(client, document())
    execution = (await client.get(f"/executions/{execution_id}")).json()["data"]["execution"]
    assert execution["mode"] == "api"
    assert execution["triggeredBy"] == USER


async def test_get_execution_has_node_runs_and_logs(client: httpx.AsyncClient) -> None:
    """GET /executions/{id} leaves node data out unless includeData=true."""
    execution_id = await run(client, document(), inputData={"name": "Ada"})
    plain = (await client.get(f"/executions/{execution_id}")).json()["data"]["execution"]
    assert [n["nodeId"] for n in plain["nodeExecutions"]] == ["start", "greet"]
    assert "output" not in plain["nodeExecutions"][1]
    assert plain["logs"][0]["message"] == "Execution started"
    full = await client.get(f"/executions/{execution_id}", params={"includeData": "true"})
    greet = full.json()["data"]["execution"]["nodeExecutions"][1]
    assert greet["output"]["greeting"] == "Hello, Ada!"


async def test_list_filters_and_paginates(client: httpx.AsyncClient) -> None:
    """GET /executions filters by workflow and status and reports total and hasMore."""
    for _ in range(3):
        await run(client, document())
    await run(client, failing())
    answer = (await client.get("/executions", params={"status": "completed", "limit": 2})).json()
    assert [e["status"] for e in answer["data"]["executions"]] == ["completed", "completed"]
    assert answer["pagination"] == {"total": 3, "limit": 2, "offset": 0, "hasMore": True}
    failed = (await client.get("/executions", params={"workflowId": "wf-fail"})).json()
    assert failed["pagination"]["total"] == 1
    assert set(failed["data"]["executions"][0]) == {
        "id", "workflowId", "workflowName", "status", "mode", "startedAt", "finishedAt", "duration"
    }  # fmt: skip


async def test_list_filters_by_mode_and_time(client: httpx.AsyncClient) -> None:
    """mode, startedAfter and startedBefore narrow the list."""
    await run(client, document())
    after = await client.get("/executions", params={"startedAfter": "2999-01-01T00:00:00Z"})
    before = await client.get("/executions", params={"startedBefore": "2999-01-01T00:00:00Z"})
    manual = await client.get("/executions", params={"mode": "manual"})
    assert after.json()["pagination"]["total"] == 0
    assert before.json()["pagination"]["total"] == 1
    assert manual.json()["pagination"]["total"] == 0


async def test_stats_count_by_status(client: httpx.AsyncClient) -> None:
    """GET /executions/stats answers the spec's stats object."""
    await run(client, document())
    await run(client, failing())
    stats = (await client.get("/executions/stats", params={"period": "week"})).json()["data"]
    assert stats["stats"]["total"] == 2
    assert stats["stats"]["failed"] == 1
    assert stats["stats"]["successRate"] == 50.0


async def test_cancel_a_running_execution(client: httpx.AsyncClient) -> None:
    """Cancel answers the execution with status cancelled and cancelledAt."""
    execution_id = await run(client, slow(), **{"async": True})
    answer = (await client.post(f"/executions/{execution_id}/cancel")).json()["data"]
    assert answer["execution"]["id"] == execution_id
    assert answer["execution"]["status"] == "cancelled"
    assert answer["execution"]["cancelledAt"].endswith("Z")


async def test_retry_from_a_node_with_overrides(client: httpx.AsyncClient) -> None:
    """Retry answers a new running execution; it reruns fromNode with inputOverrides."""
    original = await run(client, document(), inputData={"name": "Ada"})
    answer = await client.post(
        f"/executions/{original}/retry",
        json={"fromNode": "greet", "inputOverrides": {"name": "Grace"}},
    )
    data = answer.json()["data"]
    assert data["originalExecutionId"] == original
    assert data["status"] == "running"
    await settle(client, data["executionId"])
    full = await client.get(f"/executions/{data['executionId']}", params={"includeData": 1})
    assert full.json()["data"]["execution"]["outputs"]["greet"]["greeting"] == "Hello, Grace!"


async def test_retry_accepts_from_node_id(client: httpx.AsyncClient) -> None:
    """fromNodeId is accepted as the spelling of fromNode."""
    original = await run(client, failing())
    answer = await client.post(f"/executions/{original}/retry", json={"fromNodeId": "stop"})
    assert answer.status_code == 200


async def test_resume_a_paused_debug_run(client: httpx.AsyncClient, engine: Engine) -> None:
    """A debug run pauses at a breakpoint; resume runs it on to the end."""
    options = {"debug": True, "breakpoints": ["greet"]}
    execution_id = await run(client, document(), **options)
    for _ in range(200):
        if (await engine.get_execution(execution_id)).status == "paused":
            break
        await anyio.sleep(0.01)
    answer = await client.post(f"/executions/{execution_id}/resume", json={"step": False})
    assert answer.json()["data"]["execution"]["id"] == execution_id
    assert (await settle(client, execution_id))["status"] == "completed"


async def test_answers_are_strict_json_when_an_output_holds_nan(client: httpx.AsyncClient) -> None:
    """An expression's NaN in an output is answered as null: the body is JSON any client reads
    (it carried NaN, which strict parsers refuse)."""
    workflow = document(id="wf-nan")
    workflow["nodes"][1]["config"] = {"values": {"r": "{{ 0/0 }}"}}
    answer = await client.post("/execute", json={"workflow": workflow})
    data = orjson.loads(answer.content)["data"]  # strict: refuses NaN
    assert data["outputs"]["greet"]["r"] is None
