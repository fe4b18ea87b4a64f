"""The engine's HTTP transport: every connection checked against the outbound policy.

httpx takes no network backend, so :class:`GuardedTransport` rebuilds its connection pool with
httpx's default limits and :class:`GuardedBackend`, which resolves the host itself, checks every
address with the policy and connects to one of those very addresses. TLS still verifies (and
sends SNI for) the URL's host name: httpcore takes it from the request, not from the socket.
"""

from __future__ import annotations

from collections.abc import Iterable

import httpcore
import httpx

from .outbound import OutboundPolicy, OutboundRefused

__all__ = ["GuardedBackend", "GuardedTransport"]

SocketOption = (
    tuple[int, int, int] | tuple[int, int, bytes | bytearray] | tuple[int, int, None, int]
)
_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20, keepalive_expiry=5.0)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport, connecting only where ``policy`` allows."""

    def __init__(self, policy: OutboundPolicy) -> None:
        ssl_context = httpx.create_ssl_context()  # one (loading the CA store costs ~25 ms)
        super().__init__(verify=ssl_context, limits=_LIMITS)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context,
            max_connections=_LIMITS.max_connections,
            max_keepalive_connections=_LIMITS.max_keepalive_connections,
            keepalive_expiry=_LIMITS.keepalive_expiry,
            network_backend=GuardedBackend(policy, httpcore.AnyIOBackend()),
        )


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """Resolves and checks each host, then connects to an address it checked."""

    def __init__(self, policy: OutboundPolicy, inner: httpcore.AsyncNetworkBackend) -> None:
        self.policy = policy
        self.inner = inner

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's signature
        local_address: str | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        failure: httpcore.ConnectError | httpcore.ConnectTimeout | None = None
        for address in await self.policy.addresses(host, port):
            try:
                return await self.inner.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as error:  # try the next
                failure = error
        assert failure is not None  # addresses() never returns an empty list
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's signature
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise OutboundRefused(path, "a unix socket is not an outbound destination")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)
