"""The HTTP adapter: the documented REST API (and the WebSocket) over an :class:`Engine`.

Needs the ``http`` extra (``pip install 'linkflow-engine[http]'``); the core never imports it.

>>> from linkflow_engine.http import create_app
>>> app = create_app(engine, api_keys={"secret-key": "usr-1"})
"""

from __future__ import annotations

from ._app import create_app

__all__ = ["create_app"]
