"""The Workflows API, GET /nodes and /health through the app."""

from __future__ import annotations

import httpx
from http_documents import document


async def create(client: httpx.AsyncClient, **extra: object) -> dict[str, object]:
    answer = await client.post("/workflows", json=document(**extra))
    assert answer.status_code == 201, answer.text
    return dict(answer.json()["data"]["workflow"])


async def test_create_and_get(client: httpx.AsyncClient) -> None:
    """POST /workflows answers 201 with version 1; GET returns it."""
    created = await create(client)
    assert created["version"] == 1
    fetched = (await client.get("/workflows/wf-greet")).json()["data"]["workflow"]
    assert fetched["name"] == "Greet"


async def test_create_with_a_taken_id_is_409(client: httpx.AsyncClient) -> None:
    """Creating twice with one id answers 409 (PUT makes versions)."""
    await create(client)
    answer = await client.post("/workflows", json=document())
    assert answer.status_code == 409


async def test_create_invalid_is_422(client: httpx.AsyncClient) -> None:
    """An invalid document is refused with 422 and its details."""
    answer = await client.post("/workflows", json={"nodes": [{"id": "a", "type": "nope"}]})
    assert answer.status_code == 422
    assert answer.json()["error"]["details"][0]["field"] == "nodes[0].type"


async def test_update_stores_a_new_version(client: httpx.AsyncClient) -> None:
    """PUT increments the version; ?version=1 still gives the first."""
    await create(client)
    answer = await client.put("/workflows/wf-greet", json=document(name="Renamed"))
    assert answer.json()["data"]["workflow"]["version"] == 2
    first = await client.get("/workflows/wf-greet", params={"version": 1})
    assert first.json()["data"]["workflow"]["name"] == "Greet"


async def test_update_unknown_is_404(client: httpx.AsyncClient) -> None:
    """PUT on an unknown id answers 404."""
    assert (await client.put("/workflows/wf-none", json=document())).status_code == 404


async def test_list_filters_sorts_and_paginates(client: httpx.AsyncClient) -> None:
    """GET /workflows filters by status, sorts by name, pages with hasMore."""
    await create(client, id="wf-b", name="B")
    await create(client, id="wf-a", name="A")
    await client.post("/workflows/wf-b/activate")
    by_name = (await client.get("/workflows", params={"sort": "name", "limit": 1})).json()
    assert [w["name"] for w in by_name["data"]["workflows"]] == ["A"]
    assert by_name["pagination"] == {"total": 2, "limit": 1, "offset": 0, "hasMore": True}
    active = (await client.get("/workflows", params={"status": "active"})).json()
    assert [w["id"] for w in active["data"]["workflows"]] == ["wf-b"]


async def test_list_bad_values_are_400(client: httpx.AsyncClient) -> None:
    """Unknown status or sort, and a bad limit, answer 400."""
    for params in ({"status": "x"}, {"sort": "size"}, {"limit": "0"}, {"offset": "x"}):
        assert (await client.get("/workflows", params=params)).status_code == 400


async def test_activate_and_deactivate(client: httpx.AsyncClient) -> None:
    """activate and deactivate set the status (as a new version)."""
    await create(client)
    active = (await client.post("/workflows/wf-greet/activate")).json()["data"]["workflow"]
    inactive = (await client.post("/workflows/wf-greet/deactivate")).json()["data"]["workflow"]
    assert (active["status"], inactive["status"]) == ("active", "inactive")
    assert inactive["version"] == 3


async def test_delete_answers_204(client: httpx.AsyncClient) -> None:
    """DELETE removes every version and answers 204 with no body."""
    await create(client)
    answer = await client.delete("/workflows/wf-greet")
    assert (answer.status_code, answer.content) == (204, b"")
    assert (await client.get("/workflows/wf-greet")).status_code == 404


async def test_delete_with_archive_keeps_it_archived(client: httpx.AsyncClient) -> None:
    """DELETE ?archive=true sets status archived and answers the workflow."""
    await create(client)
    answer = await client.delete("/workflows/wf-greet", params={"archive": "true"})
    assert answer.json()["data"]["workflow"]["status"] == "archived"


async def test_duplicate_makes_a_new_draft(client: httpx.AsyncClient) -> None:
    """duplicate answers 201 with a new id, version 1 and '(copy)' in the name."""
    await create(client)
    await client.post("/workflows/wf-greet/activate")
    copy = (await client.post("/workflows/wf-greet/duplicate")).json()["data"]["workflow"]
    assert copy["id"] != "wf-greet"
    assert (copy["name"], copy["version"], copy.get("status", "draft")) == (
        "Greet (copy)",
        1,
        "draft",
    )


async def test_export_then_import_round_trips(client: httpx.AsyncClient) -> None:
    """export leaves out stored bookkeeping; import stores it as a new workflow."""
    await create(client)
    exported = (await client.get("/workflows/wf-greet/export")).json()["data"]["workflow"]
    assert "version" not in exported
    imported = await client.post("/workflows/import", json={"workflow": exported})
    assert imported.status_code == 201
    workflow = imported.json()["data"]["workflow"]
    assert workflow["id"] != "wf-greet"
    assert workflow["nodes"] == exported["nodes"]


async def test_nodes_lists_the_registry(client: httpx.AsyncClient) -> None:
    """GET /nodes answers the registry's descriptions."""
    nodes = (await client.get("/nodes")).json()["data"]["nodes"]
    assert "manual_trigger" in {n["type"] for n in nodes}
