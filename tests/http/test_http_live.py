"""End to end with real peers: callbacks to a real receiver and the spec's WebSocket flow,
against a real ``linkflow serve``."""

from __future__ import annotations

import hashlib
import hmac
import json
import sys
import time
from pathlib import Path

import anyio
import httpx
import pytest
from http_documents import document
from http_server import serving
from websockets.asyncio.client import connect

sys.path.insert(0, str(Path(__file__).parents[1] / "callbacks"))

from callback_receiver import Receiver, running

pytestmark = pytest.mark.slow

KEY = "live-key"


def test_async_run_calls_back_a_real_receiver_signed(tmp_path: Path) -> None:
    """POST /execute async with webhookUrl: the receiver gets the signed callback body."""
    with running(Receiver()) as receiver, serving(
        tmp_path / "db",
        "--api-key", KEY,
        "--allow-outbound", "127.0.0.1",
        "--callback-secret", "hook-secret",
    ) as server:  # fmt: skip
        answer = httpx.post(
            f"{server.url}/api/v1/execute",
            headers={"Authorization": f"Bearer {KEY}"},
            json={
                "workflow": document(),
                "options": {"inputData": {"name": "Bo"}, "async": True, "webhookUrl": receiver.url},
            },
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["data"]["status"] == "running"
        assert receiver.received.wait(20)
    headers, raw = receiver.requests[0]
    body = json.loads(raw)
    assert body["event"] == "execution.completed"
    assert body["executionId"] == answer.json()["data"]["executionId"]
    expected = "sha256=" + hmac.new(b"hook-secret", raw, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["X-Linkflow-Signature"], expected)


def test_callback_to_loopback_is_refused_without_allow_outbound(tmp_path: Path) -> None:
    """Without --allow-outbound the loopback receiver is never called; the log says why."""
    with running(Receiver()) as receiver, serving(tmp_path / "db", "--api-key", KEY) as server:
        headers = {"Authorization": f"Bearer {KEY}"}
        with httpx.Client(base_url=server.url + "/api/v1", headers=headers) as api:
            body = {"workflow": document(), "options": {"webhookUrl": receiver.url}}
            execution_id = api.post("/execute", json=body).json()["data"]["executionId"]
            for _ in range(200):
                logs = api.get(f"/executions/{execution_id}").json()["data"]["execution"]["logs"]
                if any("refused" in entry["message"] for entry in logs):
                    break
                time.sleep(0.05)
            else:
                raise AssertionError("no refusal logged")
    assert receiver.requests == []


async def test_spec_websocket_flow_against_serve(tmp_path: Path) -> None:
    """The spec's snippet: subscribe to an execution, see node completions and the end."""
    with serving(tmp_path / "db", "--api-key", KEY) as server:
        ws_url = server.url.replace("http://", "ws://") + "/ws"
        slow_doc = document()
        slow_doc["nodes"].insert(
            1, {"id": "nap", "type": "wait", "config": {"duration": 300, "unit": "milliseconds"}}
        )
        slow_doc["connections"] = [
            {"source": "start", "target": "nap"},
            {"source": "nap", "target": "greet"},
        ]
        async with httpx.AsyncClient(headers={"Authorization": f"Bearer {KEY}"}) as client:
            answer = await client.post(
                f"{server.url}/api/v1/execute",
                json={
                    "workflow": slow_doc,
                    "options": {"async": True, "inputData": {"name": "Cy"}},
                },
            )
        execution_id = answer.json()["data"]["executionId"]
        seen: list[dict[str, object]] = []
        async with connect(ws_url, additional_headers={"Authorization": f"Bearer {KEY}"}) as ws:
            await ws.send(
                json.dumps(
                    {"type": "subscribe", "channel": "execution", "executionId": execution_id}
                )
            )
            with anyio.fail_after(20):
                while not seen or seen[-1]["type"] != "execution.completed":
                    message = json.loads(await ws.recv())
                    if message["type"].startswith("execution."):
                        seen.append(message)
    node_done = [m["payload"]["nodeId"] for m in seen if m["type"] == "execution.node.completed"]  # type: ignore[index]
    assert node_done == ["start", "nap", "greet"]
    sequences = [m["sequence"] for m in seen]
    assert sequences == sorted(sequences)


@pytest.mark.parametrize(
    "trigger",
    [
        {"type": "schedule_trigger", "config": {"cron": "* * * * * *"}},
        {"type": "interval_trigger", "config": {"interval": 1, "unit": "seconds"}},
    ],
    ids=["cron-seconds", "interval"],
)
def test_serve_fires_an_active_schedule_in_real_time(
    tmp_path: Path, trigger: dict[str, object]
) -> None:
    """linkflow serve runs the scheduler: an activated timed workflow starts by itself, in
    mode schedule, once per slot."""
    workflow = {
        "id": "wf-tick",
        "name": "tick",
        "nodes": [{"id": "tick", **trigger}, {"id": "done", "type": "noop"}],
        "connections": [{"source": "tick", "target": "done"}],
    }
    headers = {"Authorization": f"Bearer {KEY}"}
    with (
        serving(tmp_path / "db", "--api-key", KEY) as server,
        httpx.Client(base_url=server.url + "/api/v1", headers=headers) as api,
    ):
        assert api.post("/workflows", json=workflow).status_code == 201
        assert api.post("/workflows/wf-tick/activate").status_code == 200
        deadline = time.monotonic() + 20
        executions: list[dict[str, object]] = []
        while time.monotonic() < deadline and len(executions) < 3:
            time.sleep(0.2)
            answer = api.get("/executions", params={"workflowId": "wf-tick", "mode": "schedule"})
            executions = answer.json()["data"]["executions"]
        assert api.post("/workflows/wf-tick/deactivate").status_code == 200
        listed = api.get("/executions", params={"workflowId": "wf-tick", "limit": 100})
        details = [
            api.get(f"/executions/{e['id']}", params={"includeData": "true"}).json()["data"]
            for e in listed.json()["data"]["executions"]
        ]
    assert len(executions) >= 3
    slots = [d["execution"]["nodeExecutions"][0]["output"]["scheduledTime"] for d in details]
    assert len(slots) == len(set(slots))  # each slot fired once
