"""The Credentials API through the app: each endpoint, masking, validation, 404, and a credential
created over HTTP used by an http_request node of a workflow executed over HTTP."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from http_documents import API_KEY, USER

from linkflow_engine import Engine
from linkflow_engine.credentials import CredentialCipher
from linkflow_engine.credentials.sqlite import SQLiteCredentialStore
from linkflow_engine.http import create_app

SECRET = "sk-live-4f1c9a7e2b8d"
PASSWORD = "hunter2-correct-horse"


def api_key(**extra: Any) -> dict[str, Any]:
    return {"name": "Stripe", "type": "api_key", "data": {"apiKey": SECRET}, **extra}


async def create(client: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    answer = await client.post("/credentials", json=body or api_key(id="stripe"))
    assert answer.status_code == 201, answer.text
    return dict(answer.json()["data"]["credential"])


def errors(answer: httpx.Response) -> dict[str, str]:
    return {d["field"]: d["message"] for d in answer.json()["error"]["details"]}


async def test_create_answers_201_with_the_data_masked(client: httpx.AsyncClient) -> None:
    """POST /credentials stores the credential and answers it with every data value masked."""
    created = await create(client)
    assert created["id"] == "stripe"
    assert (created["name"], created["type"]) == ("Stripe", "api_key")
    assert created["data"] == {"apiKey": "***"}
    assert created["createdAt"] == created["updatedAt"] is not None


async def test_create_without_an_id_gets_one(client: httpx.AsyncClient) -> None:
    """Without an id the credential gets a fresh cred-<hex> one."""
    created = await create(client, **api_key())
    assert created["id"].startswith("cred-")


async def test_get_answers_masked_but_the_store_keeps_the_secret(
    client: httpx.AsyncClient, engine: Engine
) -> None:
    """GET /credentials/{id} masks every value (not only the secret ones); the store has them."""
    body = {"name": "Intranet", "type": "basic_auth", "id": "intranet"}
    await create(client, **body, data={"username": "ada", "password": PASSWORD})
    answer = await client.get("/credentials/intranet")
    assert answer.status_code == 200
    assert answer.json()["data"]["credential"]["data"] == {"username": "***", "password": "***"}
    stored = await engine.credentials.get("intranet")
    assert stored.data == {"username": "ada", "password": PASSWORD}


async def test_the_secret_appears_in_no_answer_and_no_log(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    """Through create, get, list, update, refusals and delete, no answer or log holds a secret."""
    caplog.set_level(logging.DEBUG)
    answers = [
        await client.post("/credentials", json=api_key(id="stripe")),
        await client.get("/credentials/stripe"),
        await client.get("/credentials"),
        await client.put("/credentials/stripe", json={"data": {"apiKey": PASSWORD}}),
        await client.post("/credentials", json=api_key(id="stripe")),  # 409
        await client.post("/credentials", json=api_key(type="bearer_token")),  # 422
        await client.post("/credentials", json={**api_key(), "data": [SECRET]}),  # 422
        await client.put("/credentials/stripe", json={"type": "custom", "data": {"x": SECRET}}),
        await client.post("/credentials", content=f'{{"data": "{SECRET}"'),  # not JSON
        await client.delete("/credentials/stripe"),
    ]
    assert [a.status_code for a in answers] == [201, 200, 200, 200, 409, 422, 422, 422, 400, 204]
    for answer in answers:
        assert SECRET not in answer.text
        assert PASSWORD not in answer.text
    assert SECRET not in caplog.text
    assert PASSWORD not in caplog.text


async def test_list_omits_data_filters_by_type_and_paginates(client: httpx.AsyncClient) -> None:
    """GET /credentials lists by name without data, ?type filters, limit/offset paginate."""
    await create(client, **api_key(id="b", name="B"))
    await create(client, **api_key(id="a", name="A"))
    await create(client, id="c", name="C", type="bearer_token", data={"token": SECRET})
    listing = (await client.get("/credentials")).json()
    assert [c["id"] for c in listing["data"]["credentials"]] == ["a", "b", "c"]
    assert all("data" not in c for c in listing["data"]["credentials"])
    assert listing["pagination"] == {"total": 3, "limit": 20, "offset": 0, "hasMore": False}
    typed = (await client.get("/credentials", params={"type": "api_key", "limit": 1})).json()
    assert [c["id"] for c in typed["data"]["credentials"]] == ["a"]
    assert typed["pagination"] == {"total": 2, "limit": 1, "offset": 0, "hasMore": True}


@pytest.mark.parametrize(
    ("params", "field"),
    [({"type": "password"}, "type"), ({"limit": "0"}, "limit"), ({"offset": "x"}, "offset")],
)
async def test_list_bad_query_values_are_400(
    client: httpx.AsyncClient, params: dict[str, str], field: str
) -> None:
    """A bad type filter, limit or offset answers 400 naming the parameter."""
    answer = await client.get("/credentials", params=params)
    assert answer.status_code == 400
    assert field in errors(answer)


async def test_create_invalid_is_422_with_every_problem(client: httpx.AsyncClient) -> None:
    """An empty name, an unknown type and missing data fields are all listed in one 422."""
    answer = await client.post("/credentials", json={"name": "", "type": "ssh_key", "data": {}})
    assert answer.status_code == 422
    assert answer.json()["error"]["code"] == "VALIDATION_ERROR"
    assert set(errors(answer)) == {"name", "type"}
    answer = await client.post("/credentials", json={"name": "x", "type": "basic_auth", "data": {}})
    assert set(errors(answer)) == {"data.username", "data.password"}


async def test_create_with_unknown_fields_is_422(client: httpx.AsyncClient) -> None:
    """A field the API does not know (a typo such as 'date') is refused, read-only ones pass."""
    answer = await client.post("/credentials", json={**api_key(), "date": {}})
    assert answer.status_code == 422
    assert errors(answer) == {"date": "is not a credential field"}
    ok = await client.post("/credentials", json={**api_key(), "createdAt": "yesterday"})
    assert ok.status_code == 201


@pytest.mark.parametrize("content", ["[1, 2]", "{nope", ""])
async def test_a_body_that_is_not_an_object_is_400(client: httpx.AsyncClient, content: str) -> None:
    """POST with a non-object, broken or empty body answers 400."""
    answer = await client.post("/credentials", content=content)
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] in {"VALIDATION_ERROR", "INVALID_JSON"}


async def test_create_with_a_taken_id_is_409(client: httpx.AsyncClient) -> None:
    """A second credential with the same id answers 409 CONFLICT."""
    await create(client)
    answer = await client.post("/credentials", json=api_key(id="stripe"))
    assert answer.status_code == 409
    assert answer.json()["error"]["code"] == "CONFLICT"


async def test_update_the_name_keeps_the_data(client: httpx.AsyncClient, engine: Engine) -> None:
    """PUT with only a name renames; the data is untouched and updatedAt moves."""
    created = await create(client)
    answer = await client.put("/credentials/stripe", json={"name": "Stripe live"})
    assert answer.status_code == 200
    updated = answer.json()["data"]["credential"]
    assert (updated["name"], updated["data"]) == ("Stripe live", {"apiKey": "***"})
    assert updated["updatedAt"] >= created["updatedAt"]
    assert (await engine.credentials.get("stripe")).data == {"apiKey": SECRET}


async def test_update_data_replaces_it_and_mask_keeps_a_value(
    client: httpx.AsyncClient, engine: Engine
) -> None:
    """PUT data replaces the whole data; a '***' value keeps that field's stored value."""
    data = {"apiKey": SECRET, "headerName": "X-Old"}
    await create(client, **api_key(id="stripe", data=data))
    answer = await client.put(
        "/credentials/stripe", json={"data": {"apiKey": "***", "queryParam": "key"}}
    )
    assert answer.json()["data"]["credential"]["data"] == {"apiKey": "***", "queryParam": "***"}
    stored = await engine.credentials.get("stripe")
    assert stored.data == {"apiKey": SECRET, "queryParam": "key"}


async def test_a_read_sent_back_changes_nothing_secret(
    client: httpx.AsyncClient, engine: Engine
) -> None:
    """GET then PUT of the same body (masked data, read-only fields) keeps every value."""
    await create(client)
    read = (await client.get("/credentials/stripe")).json()["data"]["credential"]
    answer = await client.put("/credentials/stripe", json=read)
    assert answer.status_code == 200
    assert (await engine.credentials.get("stripe")).data == {"apiKey": SECRET}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"data": {"apiKey": "***", "extra": "***"}}, "data.extra"),
        ({"data": {"headerName": "X-Key"}}, "data.apiKey"),
        ({"data": "a string"}, "data"),
        ({"name": ""}, "name"),
        ({"type": "bearer_token"}, "type"),
        ({"id": "other"}, "id"),
        ({"secret": "x"}, "secret"),
    ],
)
async def test_update_invalid_is_422(
    client: httpx.AsyncClient, body: dict[str, Any], field: str
) -> None:
    """An update that would leave bad data, or change the type or id, answers 422."""
    await create(client)
    answer = await client.put("/credentials/stripe", json=body)
    assert answer.status_code == 422, answer.text
    assert field in errors(answer)


async def test_delete_answers_204_then_it_is_gone(client: httpx.AsyncClient) -> None:
    """DELETE answers 204 with no body; the credential is then 404."""
    await create(client)
    answer = await client.delete("/credentials/stripe")
    assert (answer.status_code, answer.content) == (204, b"")
    assert (await client.get("/credentials/stripe")).status_code == 404


@pytest.mark.parametrize(
    ("method", "body"), [("GET", None), ("PUT", {"name": "x"}), ("DELETE", None)]
)
async def test_an_unknown_id_is_404(client: httpx.AsyncClient, method: str, body: Any) -> None:
    """GET, PUT and DELETE of an unknown id answer 404 NOT_FOUND."""
    answer = await client.request(method, "/credentials/nope", json=body)
    assert answer.status_code == 404
    assert answer.json()["error"] == {
        "code": "NOT_FOUND",
        "message": "credential 'nope' not found",
        "details": [],
    }


@pytest.mark.parametrize(("method", "path"), [("GET", "/credentials"), ("GET", "/credentials/x")])
async def test_a_request_without_the_key_is_401(
    client: httpx.AsyncClient, method: str, path: str
) -> None:
    """The credentials endpoints need the API key like the rest of the API."""
    answer = await client.request(method, path, headers={"Authorization": "Bearer wrong"})
    assert answer.status_code == 401


async def test_a_wrong_server_key_is_500_but_listing_works(tmp_path: Path) -> None:
    """Data the server's key cannot decrypt answers 500 CREDENTIAL_ERROR; the list still works."""
    db = tmp_path / "linkflow.db"
    writer = SQLiteCredentialStore(db, cipher=CredentialCipher(CredentialCipher.generate_key()))
    await writer.create(id="old", name="Old", type="bearer_token", data={"token": SECRET})
    await writer.aclose()
    reader = SQLiteCredentialStore(db, cipher=CredentialCipher(CredentialCipher.generate_key()))
    async with Engine(credentials=reader) as engine, api_client(engine) as client:
        answer = await client.get("/credentials/old")
        assert answer.status_code == 500
        assert answer.json()["error"]["code"] == "CREDENTIAL_ERROR"
        assert SECRET not in answer.text
        listing = await client.get("/credentials")
        assert [c["id"] for c in listing.json()["data"]["credentials"]] == ["old"]


async def test_the_openapi_document_has_the_credential_operations(
    client: httpx.AsyncClient,
) -> None:
    """/openapi.json documents every credentials operation."""
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert set(paths["/credentials"]) == {"get", "post"}
    assert set(paths["/credentials/{id}"]) == {"get", "put", "delete"}
    assert "204" in paths["/credentials/{id}"]["delete"]["responses"]


# -- end to end: a credential created over HTTP used by a workflow run over HTTP --------------


class Upstream:
    """A loopback HTTP server that answers 200 and keeps the Authorization headers it got."""

    def __init__(self) -> None:
        self.authorizations: list[str | None] = []
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                upstream.authorizations.append(self.headers.get("authorization"))
                body = json.dumps({"ok": True}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    running = Upstream()
    thread = threading.Thread(target=running.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield running
    finally:
        running.server.shutdown()
        running.server.server_close()


def api_client(engine: Engine) -> httpx.AsyncClient:
    app = create_app(engine, api_keys={API_KEY: USER})
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app),
        base_url="http://test/api/v1",
        headers={"Authorization": f"Bearer {API_KEY}"},
    )


@pytest.fixture
async def outbound_client() -> AsyncIterator[httpx.AsyncClient]:
    async with Engine(allow_outbound=["127.0.0.1"]) as engine, api_client(engine) as client:
        yield client


def calling(url: str, credential: str) -> dict[str, Any]:
    return {
        "name": "Call",
        "nodes": [
            {"id": "start", "type": "manual_trigger", "name": "Start"},
            {
                "id": "call",
                "type": "http_request",
                "config": {"url": url, "credential": credential},
            },
        ],
        "connections": [{"source": "start", "target": "call"}],
    }


async def test_a_credential_created_over_http_authenticates_a_run(
    outbound_client: httpx.AsyncClient, upstream: Upstream
) -> None:
    """http_request sends the bearer token stored over HTTP; no answer shows it."""
    await create(outbound_client, id="up", name="Up", type="bearer_token", data={"token": SECRET})
    workflow = calling(f"{upstream.url}/whoami", "up")
    run = await outbound_client.post("/execute", json={"workflow": workflow})
    assert run.status_code == 200, run.text
    assert run.json()["data"]["status"] == "completed"
    assert upstream.authorizations == [f"Bearer {SECRET}"]
    execution_id = run.json()["data"]["executionId"]
    record = await outbound_client.get(f"/executions/{execution_id}", params={"includeData": 1})
    assert record.json()["data"]["execution"]["outputs"]["call"]["statusCode"] == 200
    assert SECRET not in run.text
    assert SECRET not in record.text
