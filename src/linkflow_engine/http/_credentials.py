"""The Credentials API: list, create, get, update, delete.

``data`` never leaves the server in clear: reads answer :meth:`Credential.masked` (every value
``***``) and listings leave ``data`` out (the store lists without decrypting, so a listing works
even with a wrong key). A ``PUT`` replaces ``data`` as a whole, except that a value given as
``***`` keeps the stored one: a client can send back what it read with one field changed.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .._exceptions import CredentialError, WorkflowValidationError
from ..credentials.base import CREDENTIAL_TYPES, MASK, validate_credential
from ._envelope import ApiError, Json, guarded, success, validation_status
from ._executions import pagination
from ._requests import object_body, query_int

if TYPE_CHECKING:
    from ..credentials import Credential, CredentialStore
    from ..runtime import Engine

__all__ = ["CredentialsApi"]

_PAGE = 1000
_CREATE_FIELDS = frozenset({"id", "name", "type", "data"})
# What a read answers besides those: accepted back in a body (a GET then PUT) and ignored.
_READ_ONLY = frozenset({"createdAt", "updatedAt"})


class CredentialsApi:
    """The handlers of ``/credentials/...`` over one engine's credential store."""

    def __init__(self, engine: Engine, *, max_body_bytes: int) -> None:
        self.engine = engine
        self.max_body_bytes = max_body_bytes

    @property
    def store(self) -> CredentialStore:
        return self.engine.credentials

    def routes(self) -> list[Route]:
        one = "/credentials/{id}"
        return [
            Route("/credentials", guarded(self.index), methods=["GET"]),
            Route("/credentials", guarded(self.create), methods=["POST"]),
            Route(one, guarded(self.get), methods=["GET"]),
            Route(one, guarded(self.update), methods=["PUT"]),
            Route(one, guarded(self.delete), methods=["DELETE"]),
        ]

    async def index(self, request: Request) -> Response:
        kind = request.query_params.get("type") or None
        if kind is not None and kind not in CREDENTIAL_TYPES:
            raise ApiError.field("type", f"{kind!r} is not one of: {', '.join(CREDENTIAL_TYPES)}")
        limit = query_int(request, "limit", default=20, minimum=1, maximum=_PAGE)
        offset = query_int(request, "offset", default=0, minimum=0)
        found = [c for c in await self.store.list() if kind is None or c.type == kind]
        page = found[offset : offset + limit]
        return success(
            {"credentials": [c.masked() for c in page]},
            pagination=pagination(len(found), limit, offset),
        )

    async def create(self, request: Request) -> Response:
        body = await object_body(request, self.max_body_bytes)
        _check_fields(body, _CREATE_FIELDS)
        values: dict[str, Any] = {k: body.get(k) for k in ("name", "type", "data", "id")}
        with validation_status(422):
            validate_credential(**values)
        try:
            created = await self.store.create(**values)
        except WorkflowValidationError:
            # The content was valid just above: the store refused the id as taken.
            raise ApiError("CONFLICT", f"credential {values['id']!r} already exists") from None
        return success({"credential": created.masked()}, status=201)

    async def get(self, request: Request) -> Response:
        with _readable():
            credential = await self.store.get(request.path_params["id"])
        return success({"credential": credential.masked()})

    async def update(self, request: Request) -> Response:
        credential_id = request.path_params["id"]
        body = await object_body(request, self.max_body_bytes)
        with _readable():
            current = await self.store.get(credential_id)
        _check_update(body, current)
        name = body.get("name")
        data = None if body.get("data") is None else _merged(body["data"], current)
        with validation_status(422):
            validate_credential(
                current.name if name is None else name,
                current.type,
                current.data if data is None else data,
            )
        with _readable():
            updated = await self.store.update(credential_id, name=name, data=data)
        return success({"credential": updated.masked()})

    async def delete(self, request: Request) -> Response:
        await self.store.delete(request.path_params["id"])
        return Response(status_code=204)


@contextmanager
def _readable() -> Iterator[None]:
    """A credential the server's key cannot decrypt is the server's problem, not the client's:
    500 with the cause (which names the key's source, never a secret)."""
    try:
        yield
    except CredentialError as error:
        raise ApiError.of(error, status=500) from None


def _check_fields(body: Mapping[str, Any], allowed: frozenset[str]) -> None:
    unknown = sorted(set(body) - allowed - _READ_ONLY)
    if unknown:
        problems = [{"field": name, "message": "is not a credential field"} for name in unknown]
        _invalid(problems)


def _check_update(body: Mapping[str, Any], current: Credential) -> None:
    """422 for fields an update cannot change (``id``, ``type``) or does not know."""
    _check_fields(body, _CREATE_FIELDS)
    problems = []
    if body.get("id") not in (None, current.id):
        problems.append({"field": "id", "message": f"must be {current.id!r} (the path's id)"})
    if body.get("type") not in (None, current.type):
        message = f"cannot change (it is {current.type!r}): create a new credential instead"
        problems.append({"field": "type", "message": message})
    if problems:
        _invalid(problems)


def _merged(data: Any, current: Credential) -> Any:
    """``data`` with every ``***`` value replaced by the stored value of that field."""
    if not isinstance(data, dict):
        return data  # validate_credential names the problem
    stored = current.data or {}
    missing = [k for k, v in data.items() if v == MASK and k not in stored]
    if missing:
        message = f"{MASK!r} keeps the stored value, but there is none"
        _invalid([{"field": f"data.{key}", "message": message} for key in missing])
    return {k: stored[k] if v == MASK else v for k, v in data.items()}


def _invalid(problems: list[Json]) -> None:
    shown = "; ".join(f"{p['field']}: {p['message']}" for p in problems)
    raise ApiError("VALIDATION_ERROR", f"invalid credential: {shown}", problems, status=422)
