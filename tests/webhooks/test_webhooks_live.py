"""End to end: a real ``linkflow serve`` answers an HMAC-signed webhook with the run, and the
execution is stored in mode webhook; the webhook's secret never reaches the database."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from hook_docs import SECRET, signed, workflow

CLI = "import sys; from linkflow_engine.cli import main; sys.exit(main())"
KEY = "live-key"
HEADERS = {"Authorization": f"Bearer {KEY}"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextlib.contextmanager
def serving(db: Path) -> Iterator[str]:
    """A ``linkflow serve`` on a free port; its base URL."""
    port = free_port()
    command = [sys.executable, "-c", CLI, "serve", "--db", str(db), "--port", str(port)]
    env = {**os.environ, "LINKFLOW_KEY_FILE": str(db.parent / "encryption.key")}
    process = subprocess.Popen(
        [*command, "--api-key", f"{KEY}:usr-live", "--log-level", "warning"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and process.poll() is None:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(url + "/health", timeout=1).status_code == 200:
                    break
            time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        process.communicate(timeout=30)


@pytest.mark.slow
def test_an_hmac_signed_webhook_runs_on_a_real_server(tmp_path: Path) -> None:
    """POST /webhook/{path} with a good signature answers the run; a bad one 401."""
    db = tmp_path / "linkflow.db"
    with serving(db) as url:
        api = url + "/api/v1"
        httpx.post(api + "/workflows", json=workflow("wf-live"), headers=HEADERS)
        auth = {"type": "hmac", "headerName": "X-Signature", "secret": SECRET}
        created = httpx.post(
            api + "/webhooks",
            json={"workflowId": "wf-live", "path": "live", "authentication": auth},
            headers=HEADERS,
        ).json()["data"]["webhook"]
        assert created["url"] == f"{url}/webhook/live"
        body = json.dumps({"name": "Live"}).encode()
        answer = httpx.post(created["url"], content=body, headers=signed(body))
        assert answer.status_code == 200, answer.text
        assert answer.json()["data"] == {"greeting": "hi Live"}
        refused = httpx.post(created["url"], content=body, headers=signed(body, "wrong"))
        assert refused.status_code == 401
        execution_id = answer.json()["executionId"]
        execution = httpx.get(f"{api}/executions/{execution_id}", headers=HEADERS).json()
        assert execution["data"]["execution"]["mode"] == "webhook"
        listed = httpx.get(api + "/executions", params={"mode": "webhook"}, headers=HEADERS)
        assert listed.json()["pagination"]["total"] == 1
    with sqlite3.connect(db) as connection:
        assert SECRET not in "\n".join(connection.iterdump())
    connection.close()
