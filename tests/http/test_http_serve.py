"""End to end: a real ``linkflow serve`` process on a temp SQLite db, driven with httpx."""

from __future__ import annotations

import os
import signal
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from http_documents import document, failing, slow
from http_server import Server, serving

pytestmark = pytest.mark.slow

KEY = "e2e-key"


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "linkflow.db"


@pytest.fixture
def server(db: Path) -> Iterator[Server]:
    with serving(db, "--api-key", f"{KEY}:usr-e2e") as running:
        yield running


@pytest.fixture
def api(server: Server) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {KEY}"}
    with httpx.Client(base_url=server.url + "/api/v1", headers=headers, timeout=30) as client:
        yield client


def data(answer: httpx.Response) -> Any:
    assert answer.status_code in (200, 201), answer.text
    return answer.json()["data"]


def wait_for(api: httpx.Client, execution_id: str, *statuses: str) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        execution = data(api.get(f"/executions/{execution_id}"))["execution"]
        if execution["status"] in statuses:
            return dict(execution)
        time.sleep(0.05)
    raise AssertionError(f"{execution_id} never became {statuses}")


def test_execute_sync_and_async(api: httpx.Client) -> None:
    """A sync run answers its outputs; an async one answers running and then completes."""
    body = {"workflow": document(), "options": {"inputData": {"name": "Ada"}}}
    done = data(api.post("/execute", json=body))
    assert done["outputs"]["greet"]["greeting"] == "Hello, Ada!"
    started = data(api.post("/execute", json={**body, "options": {"async": True}}))
    assert started["status"] == "running"
    finished = wait_for(api, started["executionId"], "completed")
    assert finished["triggeredBy"] == "usr-e2e"


def test_list_with_every_filter_and_stats(api: httpx.Client) -> None:
    """GET /executions honours each filter; stats count what ran."""
    data(api.post("/execute", json={"workflow": document()}))
    data(api.post("/execute", json={"workflow": failing()}))
    for params, total in [
        ({"workflowId": "wf-fail"}, 1),
        ({"status": "completed"}, 1),
        ({"mode": "api"}, 2),
        ({"mode": "manual"}, 0),
        ({"startedAfter": "2000-01-01T00:00:00Z"}, 2),
        ({"startedBefore": "2000-01-01T00:00:00Z"}, 0),
        ({"limit": 1, "offset": 1}, 2),
    ]:
        answer = api.get("/executions", params=params).json()
        assert answer["pagination"]["total"] == total, params
    stats = data(api.get("/executions/stats"))["stats"]
    assert (stats["total"], stats["completed"], stats["failed"]) == (2, 1, 1)


def test_cancel_a_long_run(api: httpx.Client) -> None:
    """A 60 s wait is cancelled at once and stays cancelled."""
    started = data(api.post("/execute", json={"workflow": slow(60), "options": {"async": True}}))
    cancelled = data(api.post(f"/executions/{started['executionId']}/cancel"))["execution"]
    assert cancelled["status"] == "cancelled"
    assert wait_for(api, started["executionId"], "cancelled")["cancelledAt"]


def test_retry_from_a_node_with_overrides(api: httpx.Client) -> None:
    """Retry reruns fromNode with inputOverrides as a replay of the original."""
    body = {"workflow": document(), "options": {"inputData": {"name": "Ada"}}}
    original = data(api.post("/execute", json=body))["executionId"]
    retry = {"fromNode": "greet", "inputOverrides": {"name": "Grace"}}
    replay = data(api.post(f"/executions/{original}/retry", json=retry))
    assert replay["originalExecutionId"] == original
    wait_for(api, replay["executionId"], "completed")
    full = data(api.get(f"/executions/{replay['executionId']}", params={"includeData": "true"}))
    assert full["execution"]["mode"] == "replay"
    assert full["execution"]["outputs"]["greet"]["greeting"] == "Hello, Grace!"


def test_auth_failures_are_401(server: Server) -> None:
    """No key or a wrong key answers 401; /health needs none."""
    assert httpx.get(server.url + "/api/v1/executions").status_code == 401
    wrong = {"Authorization": "Bearer nope"}
    assert httpx.get(server.url + "/api/v1/executions", headers=wrong).status_code == 401
    assert httpx.get(server.url + "/health").status_code == 200


def test_sigterm_leaves_runs_resumable(db: Path) -> None:
    """SIGTERM stops the server cleanly, the run stays running, a restart finishes it."""
    headers = {"Authorization": f"Bearer {KEY}"}
    with serving(db, "--api-key", KEY) as first:
        body = {"workflow": slow(2), "options": {"async": True}}
        answer = httpx.post(first.url + "/api/v1/execute", json=body, headers=headers)
        execution_id = answer.json()["data"]["executionId"]
        code, _ = first.stop(signal.SIGTERM)
    assert code == 0
    with (
        serving(db, "--api-key", KEY) as second,
        httpx.Client(base_url=second.url + "/api/v1", headers=headers) as api,
    ):
        status = data(api.get(f"/executions/{execution_id}"))["execution"]["status"]
        assert status == "running"
        wait_for(api, execution_id, "completed")


def test_generated_key_is_printed_once_and_kept_hashed(db: Path) -> None:
    """Without keys the first start prints one; the next start accepts it from the hash."""
    env = {"LINKFLOW_API_KEYS": ""}
    with serving(db, env=env) as first:
        _, err = first.stop()
    key = err.split("generated API key")[1].splitlines()[1].strip()
    keys_file = Path(f"{db}.keys")
    assert stat.S_IMODE(os.stat(keys_file).st_mode) == 0o600
    assert key not in keys_file.read_text()
    with serving(db, env=env) as second:
        answer = httpx.get(second.url + "/api/v1/nodes", headers={"Authorization": f"Bearer {key}"})
        assert answer.status_code == 200
        _, err = second.stop()
    assert key not in err


def test_keys_from_the_environment(db: Path) -> None:
    """LINKFLOW_API_KEYS gives comma-separated KEY:USER entries."""
    with serving(db, env={"LINKFLOW_API_KEYS": "k1:alice, k2:bob"}) as server:
        headers = {"Authorization": "Bearer k2"}
        body = {"workflow": document()}
        answer = httpx.post(server.url + "/api/v1/execute", json=body, headers=headers)
        execution_id = answer.json()["data"]["executionId"]
        stored = httpx.get(server.url + f"/api/v1/executions/{execution_id}", headers=headers)
    assert stored.json()["data"]["execution"]["triggeredBy"] == "bob"
