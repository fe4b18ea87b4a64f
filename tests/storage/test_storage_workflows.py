"""Contract: versioned workflows, on every backend."""

from __future__ import annotations

import pytest
from storage_records import make_workflow

from linkflow_engine import ExecutionNotFoundError
from linkflow_engine.storage.base import Storage


async def test_saving_an_existing_id_stores_the_next_version(storage: Storage) -> None:
    """Version 1, then 2 (whatever the workflow says); every version stays readable."""
    first = await storage.save_workflow(make_workflow(name="One"))
    second = await storage.save_workflow(make_workflow(name="Two", version=7))
    assert (first.version, second.version) == (1, 2)
    assert second.created_at == first.created_at
    assert (await storage.get_workflow("wf-1")).name == "Two"
    assert await storage.get_workflow("wf-1", version=1) == first
    assert await storage.get_workflow("wf-1") == second


async def test_workflow_without_id_gets_one(storage: Storage) -> None:
    """A workflow saved without id gets a fresh wf- id."""
    stored = await storage.save_workflow(make_workflow(None))
    assert stored.id is not None and stored.id.startswith("wf-")
    assert (await storage.get_workflow(stored.id)).to_dict() == stored.to_dict()


async def test_unknown_workflow_or_version_raises_not_found(storage: Storage) -> None:
    """get_workflow and delete_workflow of unknown ids (or versions) raise NOT_FOUND."""
    await storage.save_workflow(make_workflow())
    for call in (
        storage.get_workflow("nope"),
        storage.get_workflow("wf-1", version=2),
        storage.delete_workflow("nope"),
    ):
        with pytest.raises(ExecutionNotFoundError) as caught:
            await call
        assert caught.value.kind == "workflow"


async def test_list_gives_latest_versions_with_status_filter(storage: Storage) -> None:
    """list_workflows lists each workflow once (latest version), filtered, with the total."""
    await storage.save_workflow(make_workflow("wf-a", status="draft"))
    await storage.save_workflow(make_workflow("wf-b", status="active"))
    await storage.save_workflow(make_workflow("wf-a", status="active", name="A2"))
    workflows, total = await storage.list_workflows(status="active")
    assert total == 2
    assert sorted((w.id, w.version, w.name) for w in workflows) == [
        ("wf-a", 2, "A2"),
        ("wf-b", 1, "Two steps"),
    ]
    assert (await storage.list_workflows(status="draft"))[1] == 0
    page, total = await storage.list_workflows(limit=1, offset=1)
    assert (len(page), total) == (1, 2)


async def test_delete_removes_every_version(storage: Storage) -> None:
    """delete_workflow removes all versions."""
    await storage.save_workflow(make_workflow())
    await storage.save_workflow(make_workflow())
    await storage.delete_workflow("wf-1")
    with pytest.raises(ExecutionNotFoundError):
        await storage.get_workflow("wf-1", version=1)
    assert await storage.list_workflows() == ([], 0)
