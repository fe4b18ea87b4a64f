"""The engine's HTTP client: one client for every workflow's requests and every callback.

It is made on first use, so an engine whose workflows make no request never imports httpx, and
closed with the engine. Every connection it makes goes through the engine's outbound policy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import httpx

    from ..outbound import OutboundPolicy

__all__ = ["SharedHttpClient"]


class SharedHttpClient:
    """Holds the engine's :class:`httpx.AsyncClient`: :meth:`get` makes it, :meth:`aclose`
    closes it (a later :meth:`get` makes a new one)."""

    def __init__(self, policy: OutboundPolicy) -> None:
        self._policy = policy
        self._client: httpx.AsyncClient | None = None

    def __repr__(self) -> str:
        return f"SharedHttpClient(open={self._client is not None})"

    def get(self) -> httpx.AsyncClient:
        """The client, made now if there is none."""
        if self._client is None:
            from http.cookiejar import CookieJar, DefaultCookiePolicy

            import httpx

            # No cookie jar: one client serves every workflow, and a cookie one workflow's
            # request received must not ride along with another workflow's request.
            from ..outbound import guarded_transport

            jar = CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))
            self._client = httpx.AsyncClient(
                timeout=30.0,
                follow_redirects=False,
                cookies=jar,
                transport=guarded_transport(self._policy),  # the policy holds at connect time
            )
        return self._client

    async def aclose(self) -> None:
        """Close the client, if one was made."""
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()
