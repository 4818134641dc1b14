"""Where a request's time went: the standard Server-Timing header on every door's response
(`gateway` its own time, `provider` the first model call's time to the provider's first byte,
`tools` the tool rounds of a JSON answer), the same split in the request log and in metrics."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.support.configs import embedding_config, tool_config
from tests.support.fake_upstream import FakeUpstream, Reply
from tests.support.fake_weather import FakeWeather
from tests.support.gateways import Gateway
from tests.support.mcp_gateways import call
from tests.support.prometheus import sample

HI = [{"role": "user", "content": "hi"}]
DELAY = 0.2  # the fake provider's wait before its first byte


def timings(response: Any) -> dict[str, float]:
    """Server-Timing's metrics as name -> milliseconds, checked against the header's grammar."""
    header = response.headers["server-timing"]
    found = {}
    for metric in header.split(", "):
        matched = re.fullmatch(r'([a-z]+);dur=(\d+\.\d{2})(;desc="[a-z ]+")?', metric)
        assert matched, header
        found[matched.group(1)] = float(matched.group(2))
    return found


def timed(send: Callable[[], Any]) -> tuple[Any, float]:
    started = time.perf_counter()
    response = send()
    return response, (time.perf_counter() - started) * 1000


DOORS: dict[str, tuple[str, dict[str, Any]]] = {
    "ui-message-stream": ("/api/chat?protocol=ui-message-stream", {"messages": HI}),
    "typed": ("/api/chat", {"messages": HI}),
    "typed-json": ("/api/chat", {"messages": HI, "stream": False}),
    "chat-completions": ("/v1/chat/completions", {"messages": HI, "stream": True}),
    "chat-completions-json": ("/v1/chat/completions", {"messages": HI}),
    "responses": ("/v1/responses", {"input": "hi", "stream": True}),
    "responses-json": ("/v1/responses", {"input": "hi"}),
    "messages": ("/v1/messages", {"messages": HI, "max_tokens": 9, "stream": True}),
    "messages-json": ("/v1/messages", {"messages": HI, "max_tokens": 9}),
}


@pytest.mark.parametrize("door", DOORS)
def test_every_chat_door_says_its_own_time_and_the_providers(
    gateway_for: Gateway, upstream: FakeUpstream, door: str
) -> None:
    path, body = DOORS[door]
    upstream.script(Reply(chunks=["Hello", " there"], first_byte_delay=DELAY))
    response, client_ms = timed(
        lambda: gateway_for.client.post(path, json={"model": "chat-model", **body})
    )
    assert response.status_code == 200, response.text
    split = timings(response)
    assert set(split) == {"gateway", "provider"}
    # The provider's first byte waited for the fake's delay; the two parts are disjoint spans
    # inside the request the client timed.
    assert split["provider"] >= DELAY * 1000
    assert split["gateway"] + split["provider"] <= client_ms


def test_requests_without_a_model_call_say_the_gateways_time_only(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream
) -> None:
    gateway = start_gateway(embedding_config(upstream))
    listed = gateway.client.get("/v1/models")
    refused = gateway.client.post("/v1/chat/completions", json={"model": "nope", "messages": HI})
    malformed = gateway.client.post(
        "/api/chat", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert (listed.status_code, refused.status_code, malformed.status_code) == (200, 404, 422)
    for response in (listed, refused, malformed):
        assert set(timings(response)) == {"gateway"}
    embedded = gateway.client.post("/v1/embeddings", json={"model": "embed-model", "input": "hi"})
    assert embedded.status_code == 200
    assert set(timings(embedded)) == {"gateway", "provider"}


def test_the_request_log_and_metrics_carry_the_same_split(
    start_gateway: Callable[..., Gateway],
    upstream: FakeUpstream,
    weather: FakeWeather,
    caplog: pytest.LogCaptureFixture,
) -> None:
    gateway = start_gateway(tool_config(upstream, weather))

    def scrape() -> str:
        return gateway.client.get("/metrics").text

    before = scrape()
    caplog.set_level(logging.INFO, logger="gateway.request")
    upstream.script(
        Reply(tool_calls=[call("current_time")], first_byte_delay=DELAY),
        Reply(chunks=["It is noon."]),
    )
    response = gateway.client.post(
        "/api/chat",
        json={"model": "chat-model", "messages": HI, "stream": False, "tools": ["current_time"]},
    )
    assert response.status_code == 200, response.text
    after = scrape()
    split = timings(response)
    assert set(split) == {"gateway", "provider", "tools"}
    (line,) = [r.fields for r in caplog.records if r.name == "gateway.request"]  # type: ignore[attr-defined]
    assert line["provider_ttfb_ms"] >= DELAY * 1000
    # Two model calls, each counted from sent to last byte: more than the first's first byte.
    assert line["provider_ms"] >= line["provider_ttfb_ms"]
    parts = line["gateway_ms"] + line["provider_ms"] + line["tools_ms"]
    assert parts <= line["latency_ms"] + 0.2  # each field is rounded to 0.1 ms
    assert line["gateway_ms"] > 0

    def delta(name: str, **labels: str) -> float:
        return sample(after, name, **labels) - sample(before, name, **labels)

    assert delta("gateway_provider_ttfb_seconds_count", model="chat-model") == 1
    assert delta("gateway_own_time_seconds_count", route="/api/chat") == 1
