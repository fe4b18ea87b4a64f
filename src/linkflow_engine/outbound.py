"""Outbound safety: which addresses the engine may send requests to.

Callbacks (``webhookUrl``) and node requests go out to URLs that workflow authors and API
clients choose. Without a rule, ``http://169.254.169.254/`` or ``http://localhost:5432/`` would
reach the host's metadata service or private ports (SSRF). So every outgoing request is checked
*after DNS resolution*: a host resolving to a loopback, private, link-local, multicast, reserved
or unspecified address is refused unless an allow-list entry (a host name, an IP address or a
CIDR range) permits it. One policy per engine serves callbacks and nodes alike.

The check that counts is made when connecting: the engine's HTTP client (``ctx.http``,
callbacks, OAuth2 token requests) has a :func:`guarded_transport`, which resolves each host
itself, checks every address and connects to one of those very addresses. A name that resolved
to a public address when a caller checked it and to a private one a moment later (DNS
rebinding) therefore never reaches the private one, and a node that forgets to call
``ctx.outbound.check(url)`` is still held to the policy.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import TYPE_CHECKING

import anyio
import attrs

if TYPE_CHECKING:
    import httpx

from ._exceptions import LinkflowError

__all__ = ["OutboundPolicy", "OutboundRefused", "guarded_transport"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class OutboundRefused(LinkflowError):
    """A request was refused by the outbound policy (or its URL is unusable)."""

    code = "OUTBOUND_REFUSED"

    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        self.reason = reason
        super().__init__(f"refused to send a request to {url!r}: {reason}")


def _is_public(address: IPAddress) -> bool:
    return not (
        address.is_loopback
        or address.is_private
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or (isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None
            and not _is_public(address.ipv4_mapped))
    )  # fmt: skip


@attrs.frozen
class OutboundPolicy:
    """Refuse non-public destinations except the allowed hosts and networks.

    ``OutboundPolicy.from_entries(["127.0.0.1", "10.0.0.0/8", "hooks.internal"])``; entries come
    from ``Engine(allow_outbound=...)``, ``--allow-outbound`` or ``LINKFLOW_ALLOW_OUTBOUND``.
    """

    hosts: frozenset[str] = frozenset()
    networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def from_entries(cls, entries: Iterable[str]) -> OutboundPolicy:
        hosts, networks = set(), []
        for raw in entries:
            entry = raw.strip()
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                hosts.add(entry.lower().rstrip("."))
        return cls(frozenset(hosts), tuple(networks))

    def allows_address(self, address: IPAddress) -> bool:
        return _is_public(address) or any(address in network for network in self.networks)

    async def check(self, url: str) -> list[str]:
        """Resolve the URL's host and return its addresses; raise OutboundRefused when the URL
        is not http(s) or any address it resolves to is not allowed."""
        from urllib.parse import urlsplit  # on use: the engine imports this module at start

        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise OutboundRefused(url, "only http and https URLs with a host are allowed")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        return await self.addresses(parts.hostname, port, url=url)

    async def addresses(self, host: str, port: int, *, url: str | None = None) -> list[str]:
        """The addresses ``host`` resolves to, all allowed; OutboundRefused (naming ``url``,
        or ``host:port``) when it does not resolve or any of them is not allowed."""
        url = url or f"{host}:{port}"
        host = host.lower().rstrip(".")
        addresses = await _resolve(url, host, port)
        if host in self.hosts:
            return addresses
        for text in addresses:
            if not self.allows_address(ipaddress.ip_address(text)):
                raise OutboundRefused(
                    url, f"{host} resolves to {text}, a non-public address (allow it explicitly)"
                )
        return addresses


def guarded_transport(policy: OutboundPolicy) -> httpx.AsyncHTTPTransport:
    """An httpx transport that connects only to addresses ``policy`` allows, checked at
    connect time (see the module's docstring). A refused connection raises OutboundRefused
    from the request."""
    from ._guarded_http import GuardedTransport  # on use: httpx loads only when needed

    return GuardedTransport(policy)


async def _resolve(url: str, host: str, port: int) -> list[str]:
    try:
        return [str(ipaddress.ip_address(host))]
    except ValueError:
        pass
    try:
        import socket

        infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as error:
        raise OutboundRefused(url, f"cannot resolve {host}: {error}") from None
    # In the resolver's order of preference, each once.
    return list(dict.fromkeys(str(info[4][0]).split("%")[0] for info in infos))
