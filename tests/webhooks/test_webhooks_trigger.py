"""``/webhook/{path}``: the request becomes an execution in mode webhook; response modes."""

from __future__ import annotations

import json

import anyio
import attrs
import httpx
from hook_docs import FAILING, slow, workflow
from hook_setup import hooked

from linkflow_engine import Engine
from linkflow_engine.webhooks import MemoryWebhookStore


async def test_a_json_post_starts_an_execution_in_webhook_mode(
    api: httpx.AsyncClient, sender: httpx.AsyncClient, engine: Engine
) -> None:
    """The trigger sees {headers, query, body, method, path}; the answer carries the run."""
    hook = await hooked(api, path="orders/new")
    answer = await sender.post("/orders/new?source=shop&tag=a&tag=b", json={"name": "Ada"})
    assert answer.status_code == 200
    body = answer.json()
    assert body["success"] is True
    assert body["status"] == "completed"
    assert body["data"] == {"greeting": "hi Ada"}
    assert answer.headers["X-Linkflow-Execution-Id"] == body["executionId"]
    execution = await engine.get_execution(body["executionId"], include_data=True)
    assert execution.mode.value == "webhook"
    assert execution.triggered_by == f"webhook:{hook['id']}"
    trigger = execution.node("hook").output
    assert trigger["body"] == {"name": "Ada"}
    assert trigger["query"] == {"source": "shop", "tag": ["a", "b"]}
    assert trigger["method"] == "POST"
    assert trigger["path"] == "orders/new"
    assert trigger["headers"]["content-type"] == "application/json"


async def test_form_fields_and_text_bodies(
    api: httpx.AsyncClient, sender: httpx.AsyncClient, engine: Engine
) -> None:
    """A form body becomes an object of fields; any other type stays text."""
    hook = await hooked(api)
    form = await sender.post(f"/{hook['path']}", data={"name": "Bob", "age": "3"})
    assert form.json()["data"] == {"greeting": "hi Bob"}
    text = await sender.post(
        f"/{hook['path']}", content=b"plain words", headers={"Content-Type": "text/plain"}
    )
    execution = await engine.get_execution(text.json()["executionId"], include_data=True)
    assert execution.node("hook").output["body"] == "plain words"


async def test_raw_body_option_keeps_the_text(
    api: httpx.AsyncClient, sender: httpx.AsyncClient, engine: Engine
) -> None:
    """With rawBody the trigger also gets the body exactly as sent."""
    hook = await hooked(api, options={"rawBody": True})
    raw = b'{"name":  "Cy"}'
    answer = await sender.post(
        f"/{hook['path']}", content=raw, headers={"Content-Type": "application/json"}
    )
    execution = await engine.get_execution(answer.json()["executionId"], include_data=True)
    assert execution.node("hook").output["rawBody"] == raw.decode()
    assert execution.node("hook").output["body"] == {"name": "Cy"}


async def test_bad_json_is_400_and_starts_nothing(
    api: httpx.AsyncClient, sender: httpx.AsyncClient, engine: Engine
) -> None:
    """A body that says JSON but is not answers 400 INVALID_JSON."""
    hook = await hooked(api)
    for raw in (b"{nope", b'{"name": NaN}', b'{"name": 1e400}', b'{"name": "\\ud800"}'):
        answer = await sender.post(
            f"/{hook['path']}", content=raw, headers={"Content-Type": "application/json"}
        )
        assert answer.status_code == 400, raw
        assert answer.json()["error"]["code"] == "INVALID_JSON"
    assert (await engine.list_executions())[1] == 0


async def test_immediate_mode_answers_202_before_the_run_ends(
    api: httpx.AsyncClient, sender: httpx.AsyncClient, engine: Engine
) -> None:
    """immediate: 202 with status running; the run finishes afterwards."""
    hook = await hooked(api, after=slow(200), responseMode="immediate")
    answer = await sender.post(f"/{hook['path']}", json={})
    assert answer.status_code == 202
    body = answer.json()
    assert body == {
        "success": True,
        "executionId": body["executionId"],
        "status": "running",
        "data": None,
    }
    with anyio.fail_after(5):
        while (await engine.get_execution(body["executionId"])).status.value == "running":
            await anyio.sleep(0.02)
    assert (await engine.get_execution(body["executionId"])).status.value == "completed"


async def test_last_node_mode_returns_the_last_finished_leaf(
    api: httpx.AsyncClient, sender: httpx.AsyncClient
) -> None:
    """lastNode: the output of the leaf that finished last, with responseCode if set."""
    hook = await hooked(api, after=slow(10), responseMode="lastNode", responseCode=201)
    answer = await sender.post(f"/{hook['path']}", json={})
    assert answer.status_code == 201
    assert answer.json()["data"] == {"done": True}


async def test_custom_mode_answers_the_configured_code_body_and_headers(
    api: httpx.AsyncClient, sender: httpx.AsyncClient
) -> None:
    """custom: responseCode, responseBody (JSON or text) and responseHeaders after the run."""
    hook = await hooked(
        api,
        responseMode="custom",
        responseCode=299,
        responseBody={"received": True},
        responseHeaders={"X-Custom": "yes"},
    )
    answer = await sender.post(f"/{hook['path']}", json={"name": "x"})
    assert answer.status_code == 299
    assert answer.json() == {"received": True}
    assert answer.headers["X-Custom"] == "yes"
    await api.put(f"/webhooks/{hook['id']}", json={"responseBody": "thanks"})
    text = await sender.post(f"/{hook['path']}", json={"name": "x"})
    assert text.text == "thanks"
    assert text.headers["content-type"].startswith("text/plain")


async def test_headers_stored_before_they_were_reserved_never_replace_the_servers(
    api: httpx.AsyncClient, sender: httpx.AsyncClient, store: MemoryWebhookStore
) -> None:
    """Settings stored before the server reserved a header (the API now refuses them) answer
    with the server's framing and execution id, and the other configured headers."""
    hook = await hooked(api, responseMode="custom", responseBody={"received": True})
    stored = await store.get(hook["id"])
    reserved = {"Content-Length": "1", "x-linkflow-execution-id": "forged", "X-Custom": "yes"}
    await store.update(attrs.evolve(stored, response_headers=reserved))
    answer = await sender.post(f"/{hook['path']}", json={"name": "x"})
    assert answer.json() == {"received": True}
    assert answer.headers["X-Custom"] == "yes"
    (execution_id,) = answer.headers.get_list("X-Linkflow-Execution-Id")
    assert execution_id.startswith("exec-")


async def test_a_failed_run_answers_500_with_its_error(
    api: httpx.AsyncClient, sender: httpx.AsyncClient
) -> None:
    """lastNode and custom wait for the run: a failure answers 500 and the error."""
    hook = await hooked(api, after=FAILING)
    answer = await sender.post(f"/{hook['path']}", json={})
    assert answer.status_code == 500
    body = answer.json()
    assert body["success"] is False
    assert body["status"] == "failed"
    assert body["error"]["message"] == "it broke"


async def test_timeout_answers_504_and_the_run_goes_on(
    api: httpx.AsyncClient, sender: httpx.AsyncClient, engine: Engine
) -> None:
    """timeout (ms): past it the answer is 504 with status running; the run still completes."""
    hook = await hooked(api, after=slow(300), options={"timeout": 50})
    answer = await sender.post(f"/{hook['path']}", json={})
    assert answer.status_code == 504
    body = answer.json()
    assert (body["success"], body["status"]) == (False, "running")
    with anyio.fail_after(5):
        while (await engine.get_execution(body["executionId"])).status.value == "running":
            await anyio.sleep(0.02)
    assert (await engine.get_execution(body["executionId"])).status.value == "completed"


async def test_unknown_paths_inactive_webhooks_and_inactive_workflows_are_404(
    api: httpx.AsyncClient, sender: httpx.AsyncClient
) -> None:
    """Only active webhooks of active workflows are served."""
    assert (await sender.post("/nowhere", json={})).status_code == 404
    hook = await hooked(api)
    await api.put(f"/webhooks/{hook['id']}", json={"isActive": False})
    assert (await sender.post(f"/{hook['path']}", json={})).status_code == 404
    await api.put(f"/webhooks/{hook['id']}", json={"isActive": True})
    assert (await sender.post(f"/{hook['path']}", json={})).status_code == 200
    await api.post("/workflows/wf-hook/deactivate")
    answer = await sender.post(f"/{hook['path']}", json={})
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "NOT_FOUND"


async def test_node_declared_webhooks_follow_their_workflow_without_restart(
    api: httpx.AsyncClient, sender: httpx.AsyncClient
) -> None:
    """A webhook_trigger with config.path is served while its workflow is active, with its
    config; edits and deactivation apply to the next request."""
    document = workflow("wf-node", trigger={"path": "from-node", "method": "PUT"})
    await api.post("/workflows", json=document)
    assert (await sender.put("/from-node", json={"name": "N"})).json()["data"] == {
        "greeting": "hi N"
    }
    document["nodes"][0]["config"] = {"path": "moved", "method": "PUT"}
    await api.put("/workflows/wf-node", json=document)
    assert (await sender.put("/from-node", json={})).status_code == 404
    assert (await sender.put("/moved", json={"name": "M"})).status_code == 200
    listed = (await api.get("/webhooks", params={"workflowId": "wf-node"})).json()["data"]
    assert [(w["source"], w["path"], w["nodeId"]) for w in listed["webhooks"]] == [
        ("node", "moved", "hook")
    ]
    assert (await api.put(f"/webhooks/{listed['webhooks'][0]['id']}", json={})).status_code == 409
    await api.post("/workflows/wf-node/deactivate")
    assert (await sender.put("/moved", json={})).status_code == 404


async def test_a_copy_takes_over_the_path_of_a_deactivated_original(
    api: httpx.AsyncClient, sender: httpx.AsyncClient
) -> None:
    """Activating a copy after deactivating the original moves the node path to the copy."""
    await api.post("/workflows", json=workflow("wf-a", trigger={"path": "shared"}))
    assert (await sender.post("/shared", json={"name": "A"})).status_code == 200
    await api.post("/workflows/wf-a/deactivate")
    await api.post("/workflows", json=workflow("wf-b", trigger={"path": "shared"}))
    answer = await sender.post("/shared", json={"name": "B"})
    assert answer.status_code == 200
    listed = (await api.get("/webhooks")).json()["data"]["webhooks"]
    assert [w["workflowId"] for w in listed] == ["wf-b"]


async def test_json_of_the_answer_is_compact(
    api: httpx.AsyncClient, sender: httpx.AsyncClient
) -> None:
    """The answer is JSON with the spec's four fields."""
    hook = await hooked(api)
    answer = await sender.post(f"/{hook['path']}", json={"name": "Z"})
    assert set(json.loads(answer.content)) == {"success", "executionId", "status", "data"}
