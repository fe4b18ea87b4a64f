"""Workflow documents and request helpers the webhook tests share."""

from __future__ import annotations

import base64
import itertools
import time
from typing import Any

import jwt

from linkflow_engine.webhooks import hmac_signature

API_KEY = "hook-key"
USER = "usr-hooks"
SECRET = "s3cret-value"
JWT_SECRET = "a-jwt-secret-of-at-least-32-bytes!"


def workflow(
    workflow_id: str = "wf-hook",
    *,
    status: str = "active",
    trigger: dict[str, Any] | None = None,
    after: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A webhook_trigger ("hook", config ``trigger``) followed by ``after`` (default: a set
    node echoing the request body's ``name``)."""
    nodes = after or [
        {
            "id": "greet",
            "type": "set",
            "config": {
                "values": {"greeting": "{{ 'hi ' + $input.body.name }}"},
                "keepOnlySet": True,
            },
        }
    ]
    connections = [{"source": "hook", "target": nodes[0]["id"]}]
    connections += [{"source": a["id"], "target": b["id"]} for a, b in itertools.pairwise(nodes)]
    return {
        "id": workflow_id,
        "name": f"Workflow {workflow_id}",
        "status": status,
        "nodes": [{"id": "hook", "type": "webhook_trigger", "config": trigger or {}}, *nodes],
        "connections": connections,
    }


def slow(milliseconds: int) -> list[dict[str, Any]]:
    """Nodes that wait, then answer ``{"done": true}``."""
    return [
        {
            "id": "pause",
            "type": "wait",
            "config": {"duration": milliseconds, "unit": "milliseconds"},
        },
        {"id": "end", "type": "set", "config": {"values": {"done": True}, "keepOnlySet": True}},
    ]


FAILING = [{"id": "boom", "type": "stop_and_error", "config": {"message": "it broke"}}]


def signed(body: bytes, secret: str = SECRET) -> dict[str, str]:
    """Headers of a JSON request signed the way an hmac webhook expects."""
    return {
        "X-Signature": "sha256=" + hmac_signature(secret, body),
        "Content-Type": "application/json",
    }


def basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def token(secret: str = JWT_SECRET, *, expires_in: float = 60) -> str:
    """An HS256 JWT that expires ``expires_in`` seconds from now (negative: already expired)."""
    return jwt.encode({"sub": "sender", "exp": int(time.time() + expires_in)}, secret, "HS256")
