"""``create_app``: the Starlette application over one engine."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from ._auth import ApiKeys, AuthMiddleware
from ._credentials import CredentialsApi
from ._envelope import http_exception, success
from ._executions import ExecutionsApi
from ._openapi import openapi_document
from ._webhooks import WebhooksApi
from ._workflows import WorkflowsApi

if TYPE_CHECKING:
    from ..runtime import Engine
    from ..webhooks import WebhookStore

__all__ = ["create_app"]


def create_app(
    engine: Engine,
    *,
    api_keys: Mapping[str, str] | None = None,
    api_key_hashes: Mapping[str, str] | None = None,
    max_body_bytes: int = 1_000_000,
    webhooks: WebhookStore | None = None,
) -> Starlette:
    """The HTTP API of ``engine`` (which the caller opens and closes).

    :param api_keys: API key -> user id (the user becomes ``triggeredBy``); with neither this
        nor ``api_key_hashes`` every request is accepted.
    :param api_key_hashes: hex SHA-256 digest of a key -> user id, for keys kept only hashed.
    :param max_body_bytes: larger request bodies are refused with 413.
    :param webhooks: where webhooks live (default: the store in the engine storage's database,
        see :func:`~linkflow_engine.webhooks.webhook_store_for`); it is ``app.state.webhooks``,
        which the caller closes (``await app.state.webhooks.aclose()``).
    """
    if max_body_bytes < 1:
        raise ValueError(f"max_body_bytes must be positive, not {max_body_bytes}")
    keys = ApiKeys(api_keys, hashes=api_key_hashes)
    hooks = WebhooksApi(engine, _webhook_store(engine, webhooks), max_body_bytes=max_body_bytes)
    api = [
        *ExecutionsApi(engine, max_body_bytes=max_body_bytes).routes(),
        *WorkflowsApi(engine, max_body_bytes=max_body_bytes).routes(),
        *CredentialsApi(engine, max_body_bytes=max_body_bytes).routes(),
        *hooks.routes(),
        Route("/health", _health, methods=["GET"]),
        Route("/openapi.json", _openapi, methods=["GET"]),
    ]
    routes: list[BaseRoute] = [
        Mount("/api/v1", routes=api),
        Route("/health", _health, methods=["GET"]),
        hooks.trigger_route(),
        *_websocket(engine, keys),
    ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(AuthMiddleware, keys=keys)],
        exception_handlers={HTTPException: http_exception},
    )
    app.state.webhooks = hooks.store
    return app


def _webhook_store(engine: Engine, given: WebhookStore | None) -> WebhookStore:
    from ..webhooks import webhook_store_for

    return given if given is not None else webhook_store_for(engine.storage)


def _websocket(engine: Engine, keys: ApiKeys) -> list[BaseRoute]:
    """``/ws`` when the WebSocket module is installed alongside (it authenticates itself:
    browsers cannot send headers, so a key may come in the first message)."""
    try:
        from ._websocket import websocket_endpoint
    except ImportError:
        return []
    authenticate = keys.authenticate if keys.enabled else _anyone
    return [websocket_endpoint(engine, authenticate)]


def _anyone(token: str) -> str | None:
    return "anonymous"


async def _health(request: Request) -> Response:
    from .. import __version__

    return success({"status": "ok", "version": __version__})


async def _openapi(request: Request) -> Response:
    return JSONResponse(openapi_document())
