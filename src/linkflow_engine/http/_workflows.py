"""The Workflows API (list, create, get, update, delete or archive, activate, deactivate,
duplicate, export, import) and ``GET /nodes``.

Every change stores a new version of the document (the storage keeps them all), so an
execution's snapshot and ``GET /workflows/{id}?version=N`` always show what ran.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .._exceptions import ExecutionNotFoundError
from ._envelope import ApiError, Json, guarded, success, validation_status
from ._executions import pagination
from ._requests import field, object_body, query_bool, query_int

if TYPE_CHECKING:
    from ..graph import Workflow
    from ..runtime import Engine

__all__ = ["WorkflowsApi"]

STATUSES = ("draft", "active", "inactive", "archived")
SORTS = ("updatedAt", "-updatedAt", "createdAt", "-createdAt", "name", "-name")
_SORT_KEYS = {"updatedAt": "updated_at", "createdAt": "created_at", "name": "name"}
# What an export leaves out: the storage's bookkeeping, which an import sets afresh.
_STORED_ONLY = ("version", "createdAt", "updatedAt", "status")
_PAGE = 1000


class WorkflowsApi:
    """The handlers of ``/workflows/...`` and ``/nodes`` over one engine."""

    def __init__(self, engine: Engine, *, max_body_bytes: int) -> None:
        self.engine = engine
        self.max_body_bytes = max_body_bytes

    def routes(self) -> list[Route]:
        one = "/workflows/{id}"
        return [
            Route("/workflows", guarded(self.index), methods=["GET"]),
            Route("/workflows", guarded(self.create), methods=["POST"]),
            Route("/workflows/import", guarded(self.import_), methods=["POST"]),
            Route(one, guarded(self.get), methods=["GET"]),
            Route(one, guarded(self.update), methods=["PUT"]),
            Route(one, guarded(self.delete), methods=["DELETE"]),
            Route(one + "/activate", guarded(self.activate), methods=["POST"]),
            Route(one + "/deactivate", guarded(self.deactivate), methods=["POST"]),
            Route(one + "/duplicate", guarded(self.duplicate), methods=["POST"]),
            Route(one + "/export", guarded(self.export), methods=["GET"]),
            Route("/nodes", guarded(self.nodes), methods=["GET"]),
        ]

    # -- reading ---------------------------------------------------------------------------

    async def index(self, request: Request) -> Response:
        status = request.query_params.get("status") or None
        if status is not None and status not in STATUSES:
            raise ApiError.field("status", f"{status!r} is not one of: {', '.join(STATUSES)}")
        sort = request.query_params.get("sort") or "-updatedAt"
        if sort not in SORTS:
            raise ApiError.field("sort", f"{sort!r} is not one of: {', '.join(SORTS)}")
        limit = query_int(request, "limit", default=20, minimum=1, maximum=_PAGE)
        offset = query_int(request, "offset", default=0, minimum=0)
        workflows, total = await self._page(status, sort, limit, offset)
        return success(
            {"workflows": [stored_document(workflow) for workflow in workflows]},
            pagination=pagination(total, limit, offset),
        )

    async def _page(
        self, status: str | None, sort: str, limit: int, offset: int
    ) -> tuple[list[Workflow], int]:
        if sort == "-updatedAt":  # the storage's own order: let it paginate
            return await self.engine.list_workflows(status=status, limit=limit, offset=offset)
        everything = await self._all(status)
        key = _SORT_KEYS[sort.lstrip("-")]
        everything.sort(key=lambda w: (getattr(w, key) or "", w.id or ""))
        if sort.startswith("-"):
            everything.reverse()
        return everything[offset : offset + limit], len(everything)

    async def _all(self, status: str | None) -> list[Workflow]:
        found: list[Workflow] = []
        while True:
            page, total = await self.engine.list_workflows(
                status=status, limit=_PAGE, offset=len(found)
            )
            found.extend(page)
            if not page or len(found) >= total:
                return found

    async def get(self, request: Request) -> Response:
        version = None
        if "version" in request.query_params:
            version = query_int(request, "version", default=1, minimum=1, maximum=2**31)
        workflow = await self.engine.get_workflow(request.path_params["id"], version=version)
        return success({"workflow": stored_document(workflow)})

    async def export(self, request: Request) -> Response:
        workflow = await self.engine.get_workflow(request.path_params["id"])
        document = {k: v for k, v in workflow.to_dict().items() if k not in _STORED_ONLY}
        return success({"workflow": document})

    async def nodes(self, request: Request) -> Response:
        return success({"nodes": self.engine.registry.describe()})

    # -- writing ---------------------------------------------------------------------------

    async def create(self, request: Request) -> Response:
        document = await object_body(request, self.max_body_bytes)
        workflow_id = field(document, "id", str)
        if workflow_id is not None and "/" in workflow_id:
            # It would be stored, and then out of reach of /workflows/{id}. (Only refused here:
            # workflows saved through Python with such an id keep running.)
            raise ApiError.field("id", "must not contain '/': it is a path segment of the API")
        if workflow_id is not None and await self._exists(workflow_id):
            raise ApiError("CONFLICT", f"workflow {workflow_id!r} already exists")
        return success({"workflow": await self._save(document)}, status=201)

    async def import_(self, request: Request) -> Response:
        body = await object_body(request, self.max_body_bytes)
        document = field(body, "workflow", dict, default=body)
        document = {k: v for k, v in document.items() if k not in _STORED_ONLY}
        # An import never overwrites: a taken (or missing) id gets a fresh one, as does one the
        # API could not address.
        workflow_id = field(document, "id", str)
        if workflow_id is None or "/" in workflow_id or await self._exists(workflow_id):
            document["id"] = _new_id()
        return success({"workflow": await self._save(document)}, status=201)

    async def update(self, request: Request) -> Response:
        current = await self.engine.get_workflow(request.path_params["id"])
        document = await object_body(request, self.max_body_bytes)
        document = {**document, "id": current.id}
        document.setdefault("status", current.status)
        return success({"workflow": await self._save(document)})

    async def delete(self, request: Request) -> Response:
        workflow_id = request.path_params["id"]
        if query_bool(request, "archive"):
            return await self._set_status(workflow_id, "archived")
        await self.engine.delete_workflow(workflow_id)
        return Response(status_code=204)

    async def activate(self, request: Request) -> Response:
        return await self._set_status(request.path_params["id"], "active")

    async def deactivate(self, request: Request) -> Response:
        return await self._set_status(request.path_params["id"], "inactive")

    async def duplicate(self, request: Request) -> Response:
        body = await object_body(request, self.max_body_bytes, required=False)
        original = await self.engine.get_workflow(request.path_params["id"])
        document = {k: v for k, v in original.to_dict().items() if k not in _STORED_ONLY}
        document["id"] = _new_id()
        document["name"] = field(body, "name", str, default=f"{original.name} (copy)")
        return success({"workflow": await self._save(document)}, status=201)

    async def _set_status(self, workflow_id: str, status: str) -> Response:
        current = await self.engine.get_workflow(workflow_id)
        document = {**current.to_dict(), "status": status}
        return success({"workflow": await self._save(document)})

    async def _save(self, document: dict[str, Any]) -> Json:
        with validation_status(422):
            stored = await self.engine.save_workflow(document)
        return stored_document(stored)

    async def _exists(self, workflow_id: str) -> bool:
        try:
            await self.engine.get_workflow(workflow_id)
        except ExecutionNotFoundError:
            return False
        return True


def stored_document(workflow: Workflow) -> Json:
    """The document with the bookkeeping it always has once stored (``to_dict`` leaves out
    fields at their defaults, such as version 1 and status draft)."""
    return {**workflow.to_dict(), "status": workflow.status, "version": workflow.version}


def _new_id() -> str:
    return f"wf-{uuid.uuid4().hex[:12]}"
