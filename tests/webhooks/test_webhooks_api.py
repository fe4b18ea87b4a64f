"""The Webhooks API under /api/v1/webhooks: list, create, get, update, delete, regenerate,
test, logs, and its errors in the standard envelope."""

from __future__ import annotations

import httpx
from hook_docs import SECRET, workflow
from hook_setup import hooked

from linkflow_engine import Engine


async def test_create_answers_201_with_every_field_and_secrets_masked(
    api: httpx.AsyncClient,
) -> None:
    """A created webhook shows the spec's fields; its secret is ***."""
    auth = {"type": "hmac", "headerName": "X-Signature", "secret": SECRET}
    hook = await hooked(api, name="Orders", path="orders", authentication=auth)
    assert hook["authentication"] == {
        "type": "hmac",
        "headerName": "X-Signature",
        "secret": "***",
        "algorithm": "sha256",
    }
    assert hook["url"] == "http://test/webhook/orders"
    assert (hook["name"], hook["method"], hook["isActive"]) == ("Orders", "POST", True)
    assert (hook["responseMode"], hook["triggerCount"], hook["lastTriggered"]) == (
        "lastNode",
        0,
        None,
    )
    assert (hook["workflowId"], hook["nodeId"], hook["source"]) == ("wf-hook", "hook", "api")
    assert {"responseCode", "responseBody", "responseHeaders", "options", "createdAt"} <= set(hook)
    fetched = (await api.get(f"/webhooks/{hook['id']}")).json()["data"]["webhook"]
    assert fetched == hook


async def test_list_filters_by_workflow(api: httpx.AsyncClient) -> None:
    """GET /webhooks?workflowId= lists that workflow's webhooks, paginated."""
    first = await hooked(api, workflow_id="wf-1")
    await hooked(api, workflow_id="wf-2")
    listed = (await api.get("/webhooks", params={"workflowId": "wf-1"})).json()
    assert [w["id"] for w in listed["data"]["webhooks"]] == [first["id"]]
    assert listed["pagination"] == {"total": 1, "limit": 20, "offset": 0, "hasMore": False}
    assert (await api.get("/webhooks")).json()["pagination"]["total"] == 2


async def test_update_changes_fields_and_the_mask_keeps_the_secret(
    api: httpx.AsyncClient, sender: httpx.AsyncClient
) -> None:
    """PUT changes the fields it names; sending back '***' keeps the stored secret."""
    auth = {"type": "header", "headerName": "X-Token", "secret": SECRET}
    hook = await hooked(api, authentication=auth)
    hook["name"] = "Renamed"
    updated = await api.put(f"/webhooks/{hook['id']}", json=hook)
    assert updated.status_code == 200
    assert updated.json()["data"]["webhook"]["name"] == "Renamed"
    answer = await sender.post(f"/{hook['path']}", json={"name": "a"}, headers={"X-Token": SECRET})
    assert answer.status_code == 200


async def test_delete_answers_204_and_the_path_stops_working(
    api: httpx.AsyncClient, sender: httpx.AsyncClient
) -> None:
    """DELETE removes the webhook; its path is 404 afterwards."""
    hook = await hooked(api)
    assert (await api.delete(f"/webhooks/{hook['id']}")).status_code == 204
    assert (await api.get(f"/webhooks/{hook['id']}")).status_code == 404
    assert (await sender.post(f"/{hook['path']}", json={})).status_code == 404


async def test_regenerate_gives_a_new_path_and_the_old_one_stops(
    api: httpx.AsyncClient, sender: httpx.AsyncClient
) -> None:
    """POST /regenerate: a new random path; the old path answers 404."""
    hook = await hooked(api, path="old-path")
    fresh = (await api.post(f"/webhooks/{hook['id']}/regenerate")).json()["data"]["webhook"]
    assert fresh["path"] != "old-path"
    assert len(fresh["path"]) == 32
    assert (await sender.post("/old-path", json={"name": "x"})).status_code == 404
    assert (await sender.post(f"/{fresh['path']}", json={"name": "x"})).status_code == 200


async def test_test_runs_the_workflow_with_a_sample_request(
    api: httpx.AsyncClient, engine: Engine
) -> None:
    """POST /test runs the workflow in mode webhook (no auth checks) and answers the run."""
    auth = {"type": "header", "headerName": "X-Token", "secret": SECRET}
    hook = await hooked(api, authentication=auth)
    answer = await api.post(f"/webhooks/{hook['id']}/test", json={"body": {"name": "Test"}})
    assert answer.status_code == 200
    data = answer.json()["data"]
    assert data["status"] == "completed"
    assert data["outputs"] == {"greet": {"greeting": "hi Test"}}
    execution = await engine.get_execution(data["executionId"])
    assert (execution.mode.value, execution.triggered_by) == ("webhook", "usr-hooks")


async def test_logs_keep_the_recent_requests_newest_first(
    api: httpx.AsyncClient, sender: httpx.AsyncClient
) -> None:
    """GET /logs: time, method, status answered, execution id and error of each request;
    triggerCount and lastTriggered count the runs started."""
    hook = await hooked(api, method="PUT")
    ok = await sender.put(f"/{hook['path']}", json={"name": "a"})
    await sender.post(f"/{hook['path']}", json={})
    logs = (await api.get(f"/webhooks/{hook['id']}/logs")).json()["data"]["logs"]
    assert [(e["method"], e["status"]) for e in logs] == [("POST", 405), ("PUT", 200)]
    assert logs[1]["executionId"] == ok.json()["executionId"]
    assert logs[0]["error"].startswith("POST is not allowed")
    assert logs[1]["ip"] == "203.0.113.7"
    stored = (await api.get(f"/webhooks/{hook['id']}")).json()["data"]["webhook"]
    assert stored["triggerCount"] == 1
    assert stored["lastTriggered"] is not None


async def test_a_taken_path_is_409(api: httpx.AsyncClient) -> None:
    """Two webhooks cannot share a path: create and update answer 409 CONFLICT."""
    await hooked(api, path="taken")
    again = await api.post("/webhooks", json={"workflowId": "wf-hook", "path": "taken"})
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "CONFLICT"
    other = (await api.post("/webhooks", json={"workflowId": "wf-hook"})).json()["data"]
    moved = await api.put(f"/webhooks/{other['webhook']['id']}", json={"path": "taken"})
    assert moved.status_code == 409


async def test_a_path_a_node_declares_is_taken_before_any_read(api: httpx.AsyncClient) -> None:
    """Right after an active workflow declaring path "orders" is saved, with no read of the
    webhooks since, creating or moving a webhook to that path answers 409 (it was stored,
    and the node's webhook never served)."""
    await api.post("/workflows", json=workflow("wf-other"))
    created = await api.post("/webhooks", json={"workflowId": "wf-other"})
    await api.post("/workflows", json=workflow("wf-orders", trigger={"path": "orders"}))
    taken = await api.post("/webhooks", json={"workflowId": "wf-other", "path": "orders"})
    assert taken.status_code == 409, taken.text
    await api.post("/workflows", json=workflow("wf-refunds", trigger={"path": "refunds"}))
    hook_id = created.json()["data"]["webhook"]["id"]
    moved = await api.put(f"/webhooks/{hook_id}", json={"path": "refunds"})
    assert moved.status_code == 409, moved.text


async def test_unknown_fields_and_changes_to_read_only_ones_are_422(
    api: httpx.AsyncClient,
) -> None:
    """A misspelt field is refused naming it (it was ignored: "authenticaton" left the webhook
    open), as is a change to id or source; a read-modify-write round trip goes through."""
    await api.post("/workflows", json=workflow())
    guard = {"type": "header", "headerName": "X-Key", "secret": "s3cret"}
    typo = await api.post("/webhooks", json={"workflowId": "wf-hook", "authenticaton": guard})
    assert typo.status_code == 422, typo.text
    assert [d["field"] for d in typo.json()["error"]["details"]] == ["authenticaton"]
    created = await api.post("/webhooks", json={"workflowId": "wf-hook", "authentication": guard})
    hook = created.json()["data"]["webhook"]
    changed = await api.put(
        f"/webhooks/{hook['id']}", json={"rateLimitPerMinute": 1, "id": "other", "source": "node"}
    )
    assert changed.status_code == 422, changed.text
    fields = [d["field"] for d in changed.json()["error"]["details"]]
    assert fields == ["rateLimitPerMinute", "id", "source"]
    round_trip = await api.put(f"/webhooks/{hook['id']}", json={**hook, "name": "renamed"})
    assert round_trip.status_code == 200, round_trip.text
    assert round_trip.json()["data"]["webhook"]["authentication"]["type"] == "header"


async def test_bad_bodies_are_422_with_every_field(api: httpx.AsyncClient) -> None:
    """Invalid settings answer 422 VALIDATION_ERROR naming each field."""
    await api.post("/workflows", json=workflow())
    bad = {
        "workflowId": "wf-hook",
        "path": "no spaces allowed",
        "method": "BREW",
        "responseMode": "later",
        "authentication": {"type": "hmac", "headerName": "X-Sig"},
        "options": {"timeout": 0, "ipWhitelist": ["nope"], "colour": "red"},
    }
    answer = await api.post("/webhooks", json=bad)
    assert answer.status_code == 422
    fields = {d["field"] for d in answer.json()["error"]["details"]}
    assert fields == {
        "path",
        "method",
        "responseMode",
        "authentication.secret",
        "options.timeout",
        "options.ipWhitelist",
        "options.colour",
    }


async def test_unknown_workflows_nodes_and_ids(api: httpx.AsyncClient) -> None:
    """A missing workflow or a node that is no webhook_trigger is 422; unknown ids are 404."""
    missing = await api.post("/webhooks", json={"workflowId": "wf-none"})
    assert missing.status_code == 422
    assert missing.json()["error"]["details"] == [
        {"field": "workflowId", "message": "no workflow 'wf-none'"}
    ]
    await api.post("/workflows", json=workflow())
    wrong = await api.post("/webhooks", json={"workflowId": "wf-hook", "nodeId": "greet"})
    assert wrong.status_code == 422
    assert (await api.post("/webhooks", json=[])).status_code == 400
    for method, path in [
        ("GET", "/webhooks/wh-none"),
        ("PUT", "/webhooks/wh-none"),
        ("DELETE", "/webhooks/wh-none"),
        ("POST", "/webhooks/wh-none/regenerate"),
        ("POST", "/webhooks/wh-none/test"),
        ("GET", "/webhooks/wh-none/logs"),
    ]:
        answer = await api.request(method, path, json={} if method == "PUT" else None)
        assert answer.status_code == 404, (method, path)


async def test_the_api_needs_a_key_but_webhooks_do_not(
    app: object, sender: httpx.AsyncClient, api: httpx.AsyncClient
) -> None:
    """/api/v1/webhooks answers 401 without the key; /webhook/{path} is public."""
    hook = await hooked(api)
    transport = httpx.ASGITransport(app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as anonymous:
        assert (await anonymous.get("/api/v1/webhooks")).status_code == 401
        assert (await anonymous.post(f"/webhook/{hook['path']}", json={})).status_code != 401


async def test_settings_of_the_wrong_type_or_unsendable_are_422(api: httpx.AsyncClient) -> None:
    """An authentication type or methods that are not strings, response headers HTTP cannot
    carry or that the server sets itself (the answer's framing, its execution id) and a status
    code that allows no body answer 422 naming the field, never 500."""
    await api.post("/workflows", json=workflow())
    cases = [
        ({"authentication": {"type": []}}, "authentication.type"),
        ({"options": {"allowedMethods": [{}]}}, "options.allowedMethods"),
        ({"responseMode": "custom", "responseHeaders": {"X-A": "€"}}, "responseHeaders"),
        ({"responseMode": "custom", "responseHeaders": {"X-A": "a\r\nb"}}, "responseHeaders"),
        ({"responseMode": "custom", "responseHeaders": {"X A": "b"}}, "responseHeaders"),
        ({"responseMode": "custom", "responseHeaders": {"Content-Length": "1"}}, "responseHeaders"),
        (
            {"responseMode": "custom", "responseHeaders": {"transfer-encoding": "chunked"}},
            "responseHeaders",
        ),
        (
            {"responseMode": "custom", "responseHeaders": {"x-linkflow-execution-id": "x"}},
            "responseHeaders",
        ),
        ({"responseMode": "custom", "responseCode": 204}, "responseCode"),
        ({"responseMode": "custom", "responseCode": 101}, "responseCode"),
    ]
    for settings, field in cases:
        answer = await api.post("/webhooks", json={"workflowId": "wf-hook", **settings})
        assert answer.status_code == 422, (settings, answer.text)
        assert [d["field"] for d in answer.json()["error"]["details"]] == [field], settings


async def test_one_bad_trigger_config_leaves_the_other_webhooks_working(
    api: httpx.AsyncClient, sender: httpx.AsyncClient
) -> None:
    """A stored workflow whose webhook_trigger config is unusable is not served; every other
    webhook still answers, and the webhook list still loads."""
    good = await hooked(api, path="good")
    bad_trigger = {"path": "bad", "authentication": {"type": []}}
    stored = await api.post("/workflows", json=workflow("wf-bad", trigger=bad_trigger))
    assert stored.status_code == 201
    assert (await sender.post(f"/{good['path']}", json={"name": "a"})).status_code == 200
    assert (await api.get("/webhooks")).status_code == 200
    assert (await sender.post("/bad", json={"name": "a"})).status_code == 404


async def test_a_webhook_whose_node_was_removed_answers_404(
    api: httpx.AsyncClient, sender: httpx.AsyncClient, engine: Engine
) -> None:
    """After its webhook_trigger node is removed from the workflow, the webhook's path answers
    404 (it can start nothing) and no execution is made."""
    hook = await hooked(api)
    changed = {
        "id": "wf-hook",
        "name": "No hook",
        "status": "active",
        "nodes": [{"id": "start", "type": "manual_trigger"}],
        "connections": [],
    }
    assert (await api.put("/workflows/wf-hook", json=changed)).status_code == 200
    answer = await sender.post(f"/{hook['path']}", json={"name": "a"})
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "NOT_FOUND"
    assert (await engine.list_executions())[1] == 0
