"""The outbound policy: non-public destinations refused after DNS resolution unless allowed."""

from __future__ import annotations

import pytest

from linkflow_engine.outbound import OutboundPolicy, OutboundRefused


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/x",
        "http://localhost/x",
        "http://10.1.2.3/",
        "http://192.168.0.10/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/",
        "http://0.0.0.0/",
        "http://[::ffff:127.0.0.1]/",
    ],
)
async def test_non_public_addresses_are_refused(url: str) -> None:
    """Loopback, private, link-local (metadata) and unspecified addresses are refused."""
    with pytest.raises(OutboundRefused):
        await OutboundPolicy().check(url)


async def test_a_name_resolving_to_loopback_is_refused() -> None:
    """The check happens after DNS resolution: a name for 127.0.0.1 is refused too."""
    with pytest.raises(OutboundRefused, match=r"resolves to 127\.0\.0\.1"):
        await OutboundPolicy().check("http://localhost:9/")


async def test_allow_list_by_address_network_and_host() -> None:
    """Allowed addresses, CIDR ranges and host names pass."""
    policy = OutboundPolicy.from_entries(["127.0.0.1", "10.0.0.0/8", "localhost"])
    assert await policy.check("http://127.0.0.1:1/") == ["127.0.0.1"]
    assert await policy.check("http://10.9.8.7/") == ["10.9.8.7"]
    await policy.check("http://localhost/")
    with pytest.raises(OutboundRefused):
        await policy.check("http://192.168.1.1/")


async def test_public_addresses_pass_and_bad_urls_are_refused() -> None:
    """A public IP passes; non-http schemes and hostless URLs are refused."""
    assert await OutboundPolicy().check("https://93.184.216.34/") == ["93.184.216.34"]
    for url in ("file:///etc/passwd", "gopher://x/", "http:///nohost"):
        with pytest.raises(OutboundRefused):
            await OutboundPolicy().check(url)
