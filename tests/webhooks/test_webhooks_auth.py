"""Webhook authentication (none, header, hmac, basic, jwt) and the request options (allowed
methods, IP whitelist, rate limit): every refusal answers before anything runs."""

from __future__ import annotations

import json

import httpx
import pytest
from hook_docs import JWT_SECRET, SECRET, basic, signed, slow, token
from hook_setup import hooked

from linkflow_engine import Engine


async def executions(engine: Engine) -> int:
    return (await engine.list_executions())[1]


async def test_no_authentication_accepts_anyone(
    api: httpx.AsyncClient, sender: httpx.AsyncClient
) -> None:
    """authentication none (the default) needs nothing."""
    hook = await hooked(api, authentication="none")
    assert (await sender.post(f"/{hook['path']}", json={})).status_code == 200


async def test_header_authentication(
    api: httpx.AsyncClient, sender: httpx.AsyncClient, engine: Engine
) -> None:
    """header: the named header must carry the secret; it is masked in the stored input."""
    auth = {"type": "header", "headerName": "X-Token", "secret": SECRET}
    hook = await hooked(api, authentication=auth)
    url = f"/{hook['path']}"
    assert (await sender.post(url, json={}, headers={"X-Token": "wrong"})).status_code == 401
    assert (await sender.post(url, json={})).status_code == 401
    assert await executions(engine) == 0
    good = await sender.post(url, json={}, headers={"X-Token": SECRET})
    assert good.status_code == 200
    execution = await engine.get_execution(good.json()["executionId"], include_data=True)
    assert execution.node("hook").output["headers"]["x-token"] == "***"


async def test_hmac_authentication_over_the_raw_body(
    api: httpx.AsyncClient, sender: httpx.AsyncClient, engine: Engine
) -> None:
    """hmac: sha256 of the exact bytes sent, hex, with or without the ``sha256=`` prefix."""
    auth = {"type": "hmac", "headerName": "X-Signature", "secret": SECRET, "algorithm": "sha256"}
    hook = await hooked(api, authentication=auth)
    url = f"/{hook['path']}"
    body = json.dumps({"name": "Signed"}).encode()
    good = await sender.post(url, content=body, headers=signed(body))
    assert good.json()["data"] == {"greeting": "hi Signed"}
    bare = signed(body)
    bare["X-Signature"] = bare["X-Signature"].removeprefix("sha256=")
    assert (await sender.post(url, content=body, headers=bare)).status_code == 200
    tampered = body.replace(b"Signed", b"Forged")
    assert (await sender.post(url, content=tampered, headers=signed(body))).status_code == 401
    wrong_key = signed(body, "other")
    assert (await sender.post(url, content=body, headers=wrong_key)).status_code == 401
    assert (await sender.post(url, content=body)).status_code == 401
    assert await executions(engine) == 2


async def test_basic_authentication(api: httpx.AsyncClient, sender: httpx.AsyncClient) -> None:
    """basic: username and password both right; a refusal carries a Basic challenge."""
    hook = await hooked(api, authentication={"type": "basic", "username": "u", "password": "p"})
    url = f"/{hook['path']}"
    assert (await sender.post(url, json={}, headers=basic("u", "p"))).status_code == 200
    for headers in (basic("u", "x"), basic("x", "p"), {"Authorization": "Basic !!"}, {}):
        refused = await sender.post(url, json={}, headers=headers)
        assert refused.status_code == 401
        assert refused.headers["WWW-Authenticate"].startswith("Basic")
        assert refused.json()["error"]["code"] == "UNAUTHORIZED"


async def test_jwt_authentication_checks_signature_and_expiry(
    api: httpx.AsyncClient, sender: httpx.AsyncClient
) -> None:
    """jwt: an HS256 token signed with the secret and not expired, bare or as a Bearer."""
    auth = {"type": "jwt", "headerName": "Authorization", "secret": JWT_SECRET}
    hook = await hooked(api, authentication=auth)
    url = f"/{hook['path']}"
    good = {"Authorization": f"Bearer {token()}"}
    assert (await sender.post(url, json={}, headers=good)).status_code == 200
    assert (await sender.post(url, json={}, headers={"Authorization": token()})).status_code == 200
    for bad in (token("another-jwt-secret-of-32-bytes-or-more"), token(expires_in=-120), "x.y"):
        headers = {"Authorization": f"Bearer {bad}"}
        assert (await sender.post(url, json={}, headers=headers)).status_code == 401


async def test_the_log_says_why_authentication_failed(
    api: httpx.AsyncClient, sender: httpx.AsyncClient
) -> None:
    """The client gets a generic 401; the webhook's log keeps the reason."""
    auth = {"type": "header", "headerName": "X-Token", "secret": SECRET}
    hook = await hooked(api, authentication=auth)
    answer = await sender.post(f"/{hook['path']}", json={})
    assert answer.json()["error"]["message"] == "authentication failed"
    logs = (await api.get(f"/webhooks/{hook['id']}/logs")).json()["data"]["logs"]
    assert logs[0]["status"] == 401
    assert logs[0]["error"] == "missing header X-Token"
    assert logs[0]["executionId"] is None


async def test_wrong_method_is_405_with_allow(
    api: httpx.AsyncClient, sender: httpx.AsyncClient
) -> None:
    """Only the webhook's method is served; allowedMethods widens it."""
    hook = await hooked(api, method="PUT", after=slow(1))
    refused = await sender.post(f"/{hook['path']}", json={})
    assert refused.status_code == 405
    assert refused.headers["Allow"] == "PUT"
    assert (await sender.put(f"/{hook['path']}", json={})).status_code == 200
    await api.put(f"/webhooks/{hook['id']}", json={"options": {"allowedMethods": ["GET", "POST"]}})
    assert (await sender.get(f"/{hook['path']}")).status_code == 200
    assert (await sender.put(f"/{hook['path']}", json={})).headers["Allow"] == "GET, POST"


@pytest.mark.parametrize(
    ("whitelist", "status"),
    [(["203.0.113.7"], 200), (["203.0.113.0/24"], 200), (["10.0.0.0/8", "::1"], 403)],
)
async def test_ip_whitelist(
    api: httpx.AsyncClient, sender: httpx.AsyncClient, whitelist: list[str], status: int
) -> None:
    """ipWhitelist: the client address (203.0.113.7 here) must be listed or in a range."""
    hook = await hooked(api, options={"ipWhitelist": whitelist})
    answer = await sender.post(f"/{hook['path']}", json={})
    assert answer.status_code == status
    if status == 403:
        assert answer.json()["error"]["code"] == "FORBIDDEN"


async def test_rate_limit_answers_429_with_retry_after(
    api: httpx.AsyncClient, sender: httpx.AsyncClient, engine: Engine
) -> None:
    """rateLimitPerMinute: requests beyond it in 60 s get 429 and Retry-After; none runs."""
    hook = await hooked(api, options={"rateLimitPerMinute": 2})
    url = f"/{hook['path']}"
    assert [(await sender.post(url, json={})).status_code for _ in range(2)] == [200, 200]
    limited = await sender.post(url, json={})
    assert limited.status_code == 429
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert limited.json()["error"]["code"] == "RATE_LIMITED"
    assert await executions(engine) == 2
