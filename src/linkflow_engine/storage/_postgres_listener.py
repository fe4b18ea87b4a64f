"""PostgreSQL LISTEN/NOTIFY for status changes: how a cancel or a resume said in one process
reaches the process running the execution at once instead of at its next poll.

The writer calls ``pg_notify(channel, execution_id)`` in the statement that changes the status, so
the notification goes out when the change commits, and never for a change that did not happen.
Each storage listens on a connection of its own, outside the pool (a pooled connection would stop
listening when handed back). The channel is named after the schema, so stores sharing a database
never hear each other.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import Awaitable, Callable

import anyio
import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

__all__ = ["listen", "status_channel"]

logger = logging.getLogger("linkflow_engine.storage")

_PREFIX = "linkflow_status_"
# A channel name is an identifier, at most 63 bytes: pg_notify refuses a longer one.
_MAX_CHANNEL = 63
# Wait this long before listening again after a drop; doubled after each failed attempt.
_FIRST_DELAY = 0.1
_MAX_DELAY = 10.0
# An idle listener never writes: TCP keepalives make a connection whose server vanished fail
# within about a minute instead of waiting forever (libpq ignores them on Unix sockets).
_CONNECTION_PARAMETERS: dict[str, str | int] = {
    "application_name": "linkflow status listener",
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,
}


def status_channel(schema: str) -> str:
    """The channel of a schema's status changes (a digest of the schema when it is too long)."""
    channel = _PREFIX + schema
    if len(channel) > _MAX_CHANNEL:
        channel = _PREFIX + hashlib.sha256(schema.encode()).hexdigest()[:32]
    return channel


async def listen(
    dsn: str,
    channel: str,
    changed: Callable[[str], Awaitable[object]],
    connected: Callable[[], Awaitable[object]],
) -> None:
    """Run until cancelled: the loop behind :meth:`StatusFeed.watch_status_changes`, listening
    again after every failure (soon after a drop, less often while the server stays away)."""
    delay = _FIRST_DELAY
    while True:
        listened = await _listen_once(dsn, channel, changed, connected)
        delay = _FIRST_DELAY if listened else min(delay * 2, _MAX_DELAY)
        await anyio.sleep(delay)


async def _listen_once(
    dsn: str,
    channel: str,
    changed: Callable[[str], Awaitable[object]],
    connected: Callable[[], Awaitable[object]],
) -> bool:
    """Listen until the connection fails, then log why; True when it got as far as listening."""
    listening = False
    try:
        conninfo = make_conninfo(dsn, **_CONNECTION_PARAMETERS)
        connection = await psycopg.AsyncConnection.connect(conninfo, autocommit=True)
        try:
            await connection.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
            listening = True
            await connected()
            async with contextlib.aclosing(connection.notifies()) as notifies:
                async for notify in notifies:
                    await changed(notify.payload)
        finally:
            await connection.close()
    except psycopg.Error as error:
        state = "lost the connection" if listening else "cannot listen"
        logger.warning(
            "status changes on channel %s: %s (%s); polling covers until it listens again",
            channel,
            state,
            str(error).partition("\n")[0],
        )
    return listening
