"""http_request with credentials: each type applied, OAuth2 tokens, errors, and redaction."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from http_upstream import CLIENT_ID, CLIENT_SECRET, Upstream, serve, workflow

from linkflow_engine import Engine, NodeContext, NodeRegistry
from linkflow_engine.credentials import CredentialCipher, MemoryCredentialStore
from linkflow_engine.credentials.sqlite import SQLiteCredentialStore
from linkflow_engine.runtime._records import Execution
from linkflow_engine.storage.sqlite import SQLiteStorage
from linkflow_engine.testing import capture_events

SECRET = "sk-test-9f8e7d6c5b4a"


@pytest.fixture(scope="module")
def upstream() -> Iterator[Upstream]:
    yield from serve()


async def run_with(
    credential: dict[str, Any], *configs: dict[str, Any], registry: NodeRegistry | None = None
) -> Execution:
    store = MemoryCredentialStore()
    await store.create(id="cred", name="test", **credential)
    async with Engine(registry=registry, allow_outbound=["127.0.0.1"], credentials=store) as engine:
        return await engine.execute(workflow(*configs))


def output(execution: Execution, name: str = "H1") -> Any:
    return next(r for r in execution.node_executions if r.node_name == name).output


@pytest.mark.parametrize(
    ("data", "header", "value"),
    [
        ({"apiKey": SECRET}, "x-api-key", SECRET),
        ({"apiKey": SECRET, "headerName": "X-Token"}, "x-token", SECRET),
    ],
)
async def test_an_api_key_goes_in_a_header(
    upstream: Upstream, data: dict[str, str], header: str, value: str
) -> None:
    """An api_key credential is sent in X-API-Key, or the header its data names."""
    config = {"url": f"{upstream.url}/echo", "credential": "cred"}
    execution = await run_with({"type": "api_key", "data": data}, config)
    assert execution.status.value == "completed"
    # The record is redacted; what the server received is checked through the run itself.
    assert output(execution)["body"]["headers"][header] == "[REDACTED]"


async def test_an_api_key_can_go_in_the_query(upstream: Upstream) -> None:
    """With queryParam the key is sent as that query parameter."""
    data = {"apiKey": SECRET, "queryParam": "key"}
    config = {"url": f"{upstream.url}/echo?x=1", "credential": "cred"}
    execution = await run_with({"type": "api_key", "data": data}, config)
    assert output(execution)["body"]["query"] == {"x": "1", "key": "[REDACTED]"}


async def test_the_server_receives_the_real_secret(upstream: Upstream) -> None:
    """Redaction touches records only: the next node gets the real value."""
    registry = NodeRegistry()
    seen: list[Any] = []

    @registry.register("keep")
    async def keep(ctx: NodeContext) -> Any:
        seen.append(ctx.input["body"]["headers"])
        return None

    document = workflow({"url": f"{upstream.url}/echo", "credential": "cred"})
    document["nodes"].append({"id": "k", "type": "keep", "name": "Keep"})
    document["connections"].append({"source": "h1", "target": "k"})
    store = MemoryCredentialStore()
    await store.create(id="cred", name="t", type="bearer_token", data={"token": SECRET})
    async with Engine(registry=registry, allow_outbound=["127.0.0.1"], credentials=store) as engine:
        await engine.execute(document)
    assert seen[0]["authorization"] == f"Bearer {SECRET}"


async def test_basic_auth_is_applied(upstream: Upstream) -> None:
    """basic_auth sends Authorization: Basic base64(user:password), redacted in the record."""
    data = {"username": "ann", "password": "pa55word!"}
    config = {"url": f"{upstream.url}/echo", "credential": "cred"}
    execution = await run_with({"type": "basic_auth", "data": data}, config)
    assert output(execution)["body"]["headers"]["authorization"] == "Basic [REDACTED]"
    assert base64.b64encode(b"ann:pa55word!").decode() not in json.dumps(output(execution))


async def test_oauth2_fetches_a_token_once_and_caches_it(upstream: Upstream) -> None:
    """oauth2 gets a token from tokenUrl, sends it as a bearer and reuses it until expiry."""
    data = {
        "tokenUrl": f"{upstream.url}/token",
        "clientId": CLIENT_ID,
        "clientSecret": CLIENT_SECRET,
    }
    config = {"url": f"{upstream.url}/protected", "credential": "cred"}
    before = upstream.tokens_issued
    execution = await run_with({"type": "oauth2", "data": data}, config, dict(config))
    assert execution.status.value == "completed"
    assert output(execution, "H2")["body"] == {"authorized": True, "token": "[REDACTED]"}
    assert upstream.tokens_issued == before + 1


async def test_oauth2_with_a_wrong_secret_is_a_credential_error(upstream: Upstream) -> None:
    """A token endpoint refusing the client fails with CREDENTIAL_ERROR, not retried."""
    data = {"tokenUrl": f"{upstream.url}/token", "clientId": CLIENT_ID, "clientSecret": "wrong"}
    config = {"url": f"{upstream.url}/protected", "credential": "cred", "retryOnFail": True}
    execution = await run_with({"type": "oauth2", "data": data}, config)
    assert execution.error is not None and execution.error.code == "CREDENTIAL_ERROR"


async def test_a_missing_credential_is_a_credential_error(upstream: Upstream) -> None:
    """An unknown credential id fails with CREDENTIAL_ERROR and is not retried."""
    config = {"url": f"{upstream.url}/echo", "credential": "nope", "retryOnFail": True}
    execution = await run_with({"type": "custom", "data": {}}, config)
    assert execution.error is not None and execution.error.code == "CREDENTIAL_ERROR"
    assert "'nope' does not exist" in execution.error.message


async def test_an_undecryptable_credential_is_a_credential_error(
    upstream: Upstream, tmp_path: Path
) -> None:
    """A credential stored with another key fails the node with CREDENTIAL_ERROR."""
    path = tmp_path / "db.sqlite"
    writer = SQLiteCredentialStore(path, cipher=CredentialCipher(CredentialCipher.generate_key()))
    await writer.create(id="cred", name="t", type="bearer_token", data={"token": SECRET})
    await writer.aclose()
    reader = SQLiteCredentialStore(path, cipher=CredentialCipher(CredentialCipher.generate_key()))
    async with Engine(allow_outbound=["127.0.0.1"], credentials=reader) as engine:
        execution = await engine.execute(
            workflow({"url": f"{upstream.url}/echo", "credential": "cred"})
        )
    assert execution.error is not None and execution.error.code == "CREDENTIAL_ERROR"
    assert "cannot decrypt" in execution.error.message


async def run_custom(node_type: str, handler: Any) -> Execution:
    registry = NodeRegistry()
    registry.register(node_type, handler)
    store = MemoryCredentialStore()
    await store.create(id="cred", name="t", type="api_key", data={"apiKey": SECRET})
    async with Engine(registry=registry, credentials=store) as engine:
        return await engine.execute(workflow({"credential": "cred"}, node_type=node_type))


async def test_a_node_may_use_only_its_own_credential() -> None:
    """Asking for another credential id than config.credential is CREDENTIAL_ERROR."""

    async def other(ctx: NodeContext) -> Any:
        return await ctx.credentials("someone-elses")

    execution = await run_custom("other", other)
    assert execution.error is not None and execution.error.code == "CREDENTIAL_ERROR"
    assert "only its own" in execution.error.message


async def test_a_credential_of_the_wrong_type_is_refused() -> None:
    """A node asking for types the credential is not of gets CREDENTIAL_ERROR."""

    async def typed(ctx: NodeContext) -> Any:
        return (await ctx.credential(types=["bearer_token"])).id

    execution = await run_custom("typed", typed)
    assert execution.error is not None and execution.error.code == "CREDENTIAL_ERROR"
    assert "needs one of bearer_token" in execution.error.message


async def test_credentials_resolve_only_for_the_nodes_own_credential() -> None:
    """$credentials is the node's own credential data, and {} for a node without one."""
    document = workflow(
        {"credential": "cred", "values": {"mine": "{{ $credentials.apiKey }}"}},
        {"values": {"theirs": "{{ $credentials.apiKey ?? 'none' }}"}},
        node_type="set",
    )
    store = MemoryCredentialStore()
    await store.create(id="cred", name="t", type="api_key", data={"apiKey": SECRET})
    async with Engine(credentials=store) as engine:
        execution = await engine.execute(document)
    assert execution.status.value == "completed", execution.error
    assert output(execution, "H1")["mine"] == "[REDACTED]"
    assert output(execution, "H2")["theirs"] == "none"


async def test_secrets_reach_no_record_log_event_or_callback(
    upstream: Upstream, tmp_path: Path
) -> None:
    """After runs echoing and failing with the secret, neither the SQLite file, the events nor
    the callback body contain it."""
    registry = NodeRegistry()

    @registry.register("leaky")
    async def leaky(ctx: NodeContext) -> Any:
        ctx.log("info", f"using {ctx.config['echo']}", secret=ctx.config["echo"])
        if ctx.config.get("fail"):
            raise RuntimeError(f"boom with {ctx.config['echo']}")
        return {"echo": ctx.config["echo"], "data": await ctx.credentials("cred")}

    path = tmp_path / "linkflow.db"
    store = SQLiteCredentialStore(path, cipher=CredentialCipher(CredentialCipher.generate_key()))
    await store.create(id="cred", name="t", type="api_key", data={"apiKey": SECRET})
    echo = {"credential": "cred", "echo": "{{ $credentials.apiKey }}"}
    document = workflow(
        echo, {**echo, "fail": True, "onError": "continue"}, dict(echo), node_type="leaky"
    )
    document["nodes"].append(
        {
            "id": "http",
            "type": "http_request",
            "name": "Call",
            "config": {"url": f"{upstream.url}/echo", "credential": "cred"},
        }
    )
    document["connections"].append({"source": "h3", "target": "http"})
    engine = Engine(
        SQLiteStorage(path), registry=registry, allow_outbound=["127.0.0.1"], credentials=store
    )
    async with engine:
        with capture_events(engine) as events:
            execution = await engine.execute(document, webhook_url=f"{upstream.url}/hook")
            failing = await engine.execute(
                workflow(
                    {"credential": "cred", "echo": "{{ $credentials.apiKey }}", "fail": True},
                    node_type="leaky",
                )
            )
        with anyio.fail_after(10):
            while not upstream.hooks:
                await anyio.sleep(0.02)
    assert execution.status.value == "completed", execution.error
    assert failing.error is not None and "[REDACTED]" in failing.error.message
    stored = b"".join(
        [await p.read_bytes() async for p in anyio.Path(tmp_path).glob("linkflow.db*")]
    )
    assert b"[REDACTED]" in stored
    for haystack in (stored, json.dumps([e.to_dict() for e in events]).encode(), *upstream.hooks):
        assert SECRET.encode() not in haystack
    assert SECRET not in repr(execution) + repr(failing.error)


class SteppedClock:
    """A clock the test moves by hand (sleeping is instant)."""

    def __init__(self) -> None:
        self.current = 1_800_000_000.0

    def now(self) -> float:
        return self.current

    async def sleep(self, seconds: float) -> None:
        self.current += seconds


def oauth2_data(upstream: Upstream) -> dict[str, str]:
    return {
        "tokenUrl": f"{upstream.url}/token",
        "clientId": CLIENT_ID,
        "clientSecret": CLIENT_SECRET,
    }


async def test_oauth2_token_is_fetched_again_once_it_expires(upstream: Upstream) -> None:
    """The cached token serves runs until shortly before expires_in; then a new one is fetched."""
    store = MemoryCredentialStore()
    await store.create(id="cred", name="t", type="oauth2", data=oauth2_data(upstream))
    clock = SteppedClock()
    config = {"url": f"{upstream.url}/protected", "credential": "cred"}
    before = upstream.tokens_issued
    async with Engine(allow_outbound=["127.0.0.1"], credentials=store, clock=clock) as engine:
        first = await engine.execute(workflow(config))
        clock.current += 3000  # still valid (3600 s minus the 30 s margin)
        second = await engine.execute(workflow(config))
        clock.current += 600  # past expiry
        third = await engine.execute(workflow(config))
    assert [e.status.value for e in (first, second, third)] == ["completed"] * 3
    assert upstream.tokens_issued == before + 2


async def test_oauth2_token_rejected_with_401_is_replaced_once(upstream: Upstream) -> None:
    """A cached token the API answers 401 to (revoked) is dropped, a new one fetched, the
    request sent again once."""
    store = MemoryCredentialStore()
    await store.create(id="cred", name="t", type="oauth2", data=oauth2_data(upstream))
    config = {"url": f"{upstream.url}/protected", "credential": "cred"}
    before = upstream.tokens_issued
    async with Engine(allow_outbound=["127.0.0.1"], credentials=store) as engine:
        await engine.execute(workflow(config))
        upstream.revoked.add(f"access-token-{upstream.tokens_issued}-abcdef")
        again = await engine.execute(workflow(config))
    assert again.status.value == "completed"
    assert upstream.tokens_issued == before + 2


async def test_a_401_with_a_fresh_token_still_fails(upstream: Upstream) -> None:
    """When even the new token is refused the node fails with HTTP_ERROR 401 (no loop)."""
    store = MemoryCredentialStore()
    await store.create(id="cred", name="t", type="oauth2", data=oauth2_data(upstream))
    config = {"url": f"{upstream.url}/protected", "credential": "cred"}
    upstream.revoked.update(f"access-token-{n}-abcdef" for n in range(1, 100))
    before = upstream.tokens_issued
    async with Engine(allow_outbound=["127.0.0.1"], credentials=store) as engine:
        failed = await engine.execute(workflow(config))
    assert failed.error is not None
    assert failed.error.code == "HTTP_ERROR"
    assert failed.error.details["statusCode"] == 401
    assert upstream.tokens_issued == before + 2


async def test_replayed_node_events_are_redacted_as_they_were_heard(tmp_path: Path) -> None:
    """Once a run has used a secret, its node events are heard redacted, even where the
    secret sits in a node's name; the replay from storage says exactly what was heard."""
    document = workflow(
        {"credential": "cred", "values": {"mine": "{{ $credentials.apiKey }}"}},
        {"values": {"n": 1}},
        node_type="set",
    )
    document["nodes"][2]["name"] = f"Step {SECRET}"
    store = MemoryCredentialStore()
    await store.create(id="cred", name="t", type="api_key", data={"apiKey": SECRET})
    async with Engine(SQLiteStorage(tmp_path / "linkflow.db"), credentials=store) as engine:
        with capture_events(engine) as heard:
            execution = await engine.execute(document)
        replayed = [e.data for e in await engine.storage.list_events(execution.id)]
    assert execution.status.value == "completed", execution.error
    assert replayed == [event.to_dict() for event in heard]
    named = [e for e in replayed if e["payload"].get("nodeId") == "h2"]
    assert [e["payload"]["nodeName"] for e in named] == ["Step [REDACTED]"] * 2
