"""The http_request node against a real HTTP server on loopback."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest
from http_upstream import RecordingClock, Upstream, serve, workflow

from linkflow_engine import Engine
from linkflow_engine.runtime._records import Execution


@pytest.fixture(scope="module")
def upstream() -> Iterator[Upstream]:
    yield from serve()


async def run(*configs: dict[str, Any], clock: Any = None, allow: bool = True) -> Execution:
    allowed = ["127.0.0.1"] if allow else []
    async with Engine(allow_outbound=allowed, clock=clock) as engine:
        return await engine.execute(workflow(*configs))


def node(execution: Execution, name: str = "H1") -> Any:
    return next(r for r in execution.node_executions if r.node_name == name)


async def test_a_json_response_is_parsed(upstream: Upstream) -> None:
    """A 200 application/json answer outputs {statusCode, headers, body} with parsed JSON."""
    execution = await run({"url": f"{upstream.url}/json"})
    output = node(execution).output
    assert execution.status.value == "completed"
    assert output["statusCode"] == 200
    assert output["body"] == {"hello": "world", "n": 1}
    assert output["headers"]["content-type"] == "application/json"


async def test_a_text_response_stays_text(upstream: Upstream) -> None:
    """A text/plain answer's body is a string."""
    execution = await run({"url": f"{upstream.url}/text"})
    assert node(execution).output["body"] == "plain text"


async def test_a_404_is_an_http_error_and_not_retried(upstream: Upstream) -> None:
    """A 404 fails with HTTP_ERROR {statusCode, response}; retry.enabled does not retry it."""
    execution = await run({"url": f"{upstream.url}/missing", "retry": {"enabled": True}})
    error = execution.error
    assert error is not None and error.code == "HTTP_ERROR"
    assert error.details == {"statusCode": 404, "response": {"error": "not found"}}
    assert upstream.calls["/missing"] == 1


async def test_a_429_is_rate_limited_and_its_retry_after_is_honoured(upstream: Upstream) -> None:
    """429 fails with RATE_LIMITED; the engine's retry waits the Retry-After seconds."""
    clock = RecordingClock()
    config = {"url": f"{upstream.url}/limited", "retryOnFail": True, "maxRetries": 2}
    execution = await run(config, clock=clock)
    assert execution.error is not None and execution.error.code == "RATE_LIMITED"
    assert execution.error.details["retryAfter"] == 1.0
    assert clock.sleeps.count(1.0) == 2
    assert node(execution).attempts == 3


async def test_a_retry_after_date_is_measured_against_the_server_date(upstream: Upstream) -> None:
    """A Retry-After HTTP date becomes the seconds until then (by the server's Date)."""
    execution = await run({"url": f"{upstream.url}/limited-date"})
    assert execution.error is not None
    assert execution.error.details["retryAfter"] == pytest.approx(120, abs=1)


async def test_the_node_retries_a_500_then_succeeds(upstream: Upstream) -> None:
    """retry.enabled retries a listed status (500) on the engine clock and then succeeds."""
    clock = RecordingClock()
    config = {"url": f"{upstream.url}/flaky?key=a", "retry": {"enabled": True, "retryDelay": 50}}
    execution = await run(config, clock=clock)
    assert node(execution).output["body"] == {"ok": True, "attempt": 2}
    assert len([s for s in clock.sleeps if 0.03 <= s <= 0.07]) == 1
    assert any("retrying" in entry.message for entry in execution.logs)


async def test_statuses_not_in_retry_on_are_not_retried(upstream: Upstream) -> None:
    """With retryOn [503], a 500 fails at once."""
    config = {"url": f"{upstream.url}/flaky?key=b", "retry": {"enabled": True, "retryOn": [503]}}
    execution = await run(config, clock=RecordingClock())
    assert execution.error is not None and execution.error.details["statusCode"] == 500
    assert upstream.calls["/flaky?key=b"] == 1


async def test_the_retry_budget_is_bounded(upstream: Upstream) -> None:
    """maxRetries 2 against a server failing 5 times: three calls, then HTTP_ERROR."""
    clock = RecordingClock()
    config = {
        "url": f"{upstream.url}/flaky?key=c&failures=5",
        "retry": {"enabled": True, "maxRetries": 2, "retryDelay": 10},
    }
    execution = await run(config, clock=clock)
    assert execution.error is not None and execution.error.code == "HTTP_ERROR"
    assert upstream.calls["/flaky?key=c&failures=5"] == 3


async def test_a_slow_server_times_out(upstream: Upstream) -> None:
    """A server slower than config.timeout fails the node with TIMEOUT."""
    execution = await run({"url": f"{upstream.url}/slow", "timeout": 300})
    assert execution.error is not None and execution.error.code == "TIMEOUT"
    assert "timed out after 300 ms" in execution.error.message


async def test_a_response_over_the_size_limit_fails(upstream: Upstream) -> None:
    """A body larger than maxResponseBytes fails with HTTP_ERROR naming the limit."""
    execution = await run({"url": f"{upstream.url}/huge", "maxResponseBytes": 1000})
    assert execution.error is not None and execution.error.code == "HTTP_ERROR"
    assert execution.error.details["limit"] == 1000


async def test_redirects_are_followed(upstream: Upstream) -> None:
    """A 302 to another path is followed; the output is the final answer."""
    execution = await run({"url": f"{upstream.url}/redirect"})
    assert node(execution).output["body"] == {"hello": "world", "n": 1}


async def test_redirects_can_be_left_alone(upstream: Upstream) -> None:
    """With followRedirects false the 302 itself is the output."""
    execution = await run({"url": f"{upstream.url}/redirect", "followRedirects": False})
    output = node(execution).output
    assert output["statusCode"] == 302 and output["headers"]["location"] == "/json"


async def test_a_redirect_loop_is_bounded(upstream: Upstream) -> None:
    """More than maxRedirects hops fail with HTTP_ERROR."""
    execution = await run({"url": f"{upstream.url}/loop", "maxRedirects": 3})
    assert execution.error is not None and "more than 3 redirects" in execution.error.message
    assert upstream.calls["/loop"] == 4


async def test_a_redirect_to_a_private_address_is_refused(upstream: Upstream) -> None:
    """A Location pointing at a private address is checked and refused before any request."""
    execution = await run({"url": f"{upstream.url}/redirect-private"})
    error = execution.error
    assert error is not None and error.code == "HTTP_ERROR"
    assert "10.255.255.1" in error.details["reason"]


async def test_loopback_is_refused_unless_allowed(upstream: Upstream) -> None:
    """Without an allow-list entry, 127.0.0.1 is refused and nothing is sent."""
    before = upstream.calls["/json"]
    execution = await run({"url": f"{upstream.url}/json"}, allow=False)
    assert execution.error is not None and execution.error.code == "HTTP_ERROR"
    assert "non-public" in execution.error.details["reason"]
    assert upstream.calls["/json"] == before


async def test_a_name_resolving_to_loopback_is_refused(upstream: Upstream) -> None:
    """localhost resolves to a loopback address: refused after DNS resolution."""
    url = upstream.url.replace("127.0.0.1", "localhost")
    execution = await run({"url": f"{url}/json"}, allow=False)
    assert execution.error is not None
    assert "localhost resolves to" in execution.error.details["reason"]


async def test_a_refused_connection_is_an_http_error_with_its_cause() -> None:
    """Nothing listening: HTTP_ERROR whose details name the cause."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    execution = await run({"url": f"http://127.0.0.1:{port}/"})
    assert execution.error is not None and execution.error.code == "HTTP_ERROR"
    assert "ConnectError" in execution.error.details["cause"]


async def test_an_unresolvable_host_is_an_http_error() -> None:
    """A name that does not resolve fails with HTTP_ERROR saying so."""
    execution = await run({"url": "http://no-such-host.invalid/"})
    assert execution.error is not None and execution.error.code == "HTTP_ERROR"
    assert "cannot resolve" in execution.error.message


async def test_json_bodies_headers_and_query_are_sent(upstream: Upstream) -> None:
    """method, headers, query and a JSON body reach the server as configured."""
    config = {
        "url": f"{upstream.url}/echo",
        "method": "post",
        "headers": {"X-Trace": "t1"},
        "query": {"page": 2},
        "body": {"a": [1, 2]},
    }
    echoed = node(await run(config)).output["body"]
    assert (echoed["method"], echoed["query"], echoed["body"]) == (
        "POST",
        {"page": "2"},
        '{"a":[1,2]}',
    )
    assert echoed["headers"]["x-trace"] == "t1"
    assert echoed["headers"]["content-type"] == "application/json"


@pytest.mark.parametrize(
    ("body", "body_type", "sent", "content_type"),
    [
        ({"q": "a b", "n": 1}, "form", "q=a+b&n=1", "application/x-www-form-urlencoded"),
        ("raw words", None, "raw words", "text/plain; charset=utf-8"),
    ],
)
async def test_form_and_text_bodies(
    upstream: Upstream, body: Any, body_type: str | None, sent: str, content_type: str
) -> None:
    """bodyType form sends urlencoded fields; a string body is sent as text."""
    config = {"url": f"{upstream.url}/echo", "method": "POST", "body": body}
    if body_type:
        config["bodyType"] = body_type
    echoed = node(await run(config)).output["body"]
    assert echoed["body"] == sent and echoed["headers"]["content-type"] == content_type


async def test_an_invalid_config_is_a_validation_error(upstream: Upstream) -> None:
    """A bad method fails with VALIDATION_ERROR at run time (when set by an expression)."""
    execution = await run({"url": f"{upstream.url}/json", "method": "{{ 'FETCH' }}"})
    assert execution.error is not None and execution.error.code == "VALIDATION_ERROR"
