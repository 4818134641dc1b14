"""/api/chat through the real LiteLLM HTTP path against the fake upstream, bytes on the wire."""

from __future__ import annotations

import httpx
import pytest

from tests.support.configs import UPSTREAM_KEY
from tests.support.fake_upstream import FakeUpstream, Fault, Reply
from tests.support.gateways import Gateway
from tests.support.wire import parse_lines

# Every test here runs on both stream readers (tests/conftest.py, stream_reader).
pytestmark = pytest.mark.usefixtures("stream_reader")

USER = [{"role": "user", "content": "你好，天气怎么样？"}]


def test_stream_sends_upstream_text_in_order_then_one_finish_with_usage(
    gateway_for: Gateway, upstream: FakeUpstream
) -> None:
    upstream.script(
        Reply(chunks=["你", "好", "，世界", " 🌏"], prompt_tokens=21, completion_tokens=4)
    )

    response = gateway_for.chat(messages=USER, stream=True)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["x-accel-buffering"] == "no"
    parts = parse_lines(response.text)
    assert parts == [
        ("0", {"type": "text-delta", "textDelta": "你"}),
        ("0", {"type": "text-delta", "textDelta": "好"}),
        ("0", {"type": "text-delta", "textDelta": "，世界"}),
        ("0", {"type": "text-delta", "textDelta": " 🌏"}),
        (
            "d",
            {
                "type": "finish",
                "finishReason": "stop",
                "usage": {"promptTokens": 21, "completionTokens": 4},
            },
        ),
    ]
    # UTF-8 passes through unescaped, byte for byte.
    assert "，世界".encode() in response.content
    assert b"\\u" not in response.content


def test_request_reaches_upstream_with_messages_and_sampling_parameters(
    gateway_for: Gateway, upstream: FakeUpstream
) -> None:
    messages = [{"role": "system", "content": "be brief"}, *USER]
    response = gateway_for.chat(
        messages=messages, temperature=0.3, top_p=0.9, max_tokens=55, stop=["END"], seed=7
    )
    assert response.status_code == 200
    sent = upstream.requests[-1]
    assert sent["messages"] == messages
    assert sent["temperature"] == 0.3
    assert sent["top_p"] == 0.9
    assert sent["max_tokens"] == 55
    assert sent["stop"] == ["END"]
    assert sent["seed"] == 7
    assert sent["stream"] is True
    assert upstream.headers[-1]["authorization"] == f"Bearer {UPSTREAM_KEY}"


def test_non_streamed_answer_carries_the_same_text_as_json(
    gateway_for: Gateway, upstream: FakeUpstream, stream_reader: str
) -> None:
    upstream.script(Reply(chunks=["你好", "，世界"], prompt_tokens=5, completion_tokens=2))

    response = gateway_for.chat(messages=USER, stream=False)

    assert response.status_code == 200
    body = response.json()
    assert body["text"] == "你好，世界"
    assert body["finishReason"] == "stop"
    assert body["usage"] == {"promptTokens": 5, "completionTokens": 2, "totalTokens": 7}
    assert body["model"] == "chat-model"
    assert body["toolCalls"] == [] and body["toolResults"] == []
    # The lean reader reads even a JSON answer from the provider's stream (cheaper than
    # LiteLLM's non-streamed path); LiteLLM's own reader asks for one JSON body.
    assert bool(upstream.requests[-1].get("stream")) is (stream_reader == "lean")


def test_parts_are_flushed_as_they_arrive(gateway_for: Gateway, upstream: FakeUpstream) -> None:
    # One answer first: LiteLLM imports parts of its stream path on first use, which on a busy
    # machine can take longer than the whole delayed answer below.
    assert gateway_for.chat(messages=USER).status_code == 200
    completed = upstream.completed_streams
    upstream.script(Reply(chunks=[f"w{i} " for i in range(8)], chunk_delay=0.15))
    payload = {"model": "chat-model", "messages": USER}
    with gateway_for.client.stream("POST", "/api/chat", json=payload) as response:
        lines = response.iter_lines()
        first = next(lines)
        # The upstream is still sending (about a second to go) when the first part is here.
        assert upstream.completed_streams == completed
        assert first == '0:{"type":"text-delta","textDelta":"w0 "}'
        rest = list(lines)
    assert rest[-1].startswith("d:")
    assert len(rest) == 8  # seven more text parts and the finish


def test_fault_mid_stream_sends_error_part_then_finish(
    gateway_for: Gateway, upstream: FakeUpstream
) -> None:
    upstream.script(Reply(chunks=["one ", "two ", "three ", "four"], cut_after=3))

    response = gateway_for.chat(messages=USER)

    assert response.status_code == 200
    parts = parse_lines(response.text)
    codes = [code for code, _ in parts]
    assert codes[:2] == ["0", "0"]
    assert codes[-2:] == ["3", "d"]
    error = parts[-2][1]
    assert error["type"] == "error" and error["error"]
    assert parts[-1][1]["finishReason"] == "error"
    assert "Traceback" not in response.text


def test_client_disconnect_cancels_the_upstream_request(
    gateway_for: Gateway, upstream: FakeUpstream
) -> None:
    upstream.script(Reply(chunks=[f"{i} " for i in range(100)], chunk_delay=0.1))
    payload = {"model": "chat-model", "messages": USER}
    with gateway_for.client.stream("POST", "/api/chat", json=payload) as response:
        next(response.iter_lines())
    # Closing the response hung up; ten seconds of stream were left at the upstream.
    assert upstream.wait_for_disconnect(timeout=3), "the gateway kept reading from the upstream"
    assert upstream.completed_streams == 0


def test_upstream_500_before_first_byte_is_a_502_with_a_clean_message(
    gateway_for: Gateway, upstream: FakeUpstream
) -> None:
    upstream.script(Fault(500, "database on fire"))

    response = gateway_for.chat(messages=USER)

    assert response.status_code == 502
    error = response.json()["error"]
    assert error["type"] == "upstream_error"
    assert "chat-model" in error["message"]


def test_upstream_rate_limit_passes_retry_after(
    gateway_for: Gateway, upstream: FakeUpstream
) -> None:
    upstream.script(Fault(429, "slow down", headers={"Retry-After": "7"}))

    response = gateway_for.chat(messages=USER)

    assert response.status_code == 429
    assert response.json()["error"]["type"] == "upstream_rate_limited"
    assert response.headers["retry-after"] == "7"


def test_upstream_timeout_before_first_byte_is_a_504(
    start_gateway: ..., upstream: FakeUpstream
) -> None:
    from tests.support.configs import config_for

    config = config_for(upstream)
    config["router_settings"]["timeout"] = 0.5
    gateway = start_gateway(config)
    upstream.script(Reply(first_byte_delay=3))

    response = gateway.chat(messages=USER)

    assert response.status_code == 504
    assert response.json()["error"]["type"] == "upstream_timeout"


def test_provider_error_text_never_shows_the_key(
    gateway_for: Gateway, upstream: FakeUpstream
) -> None:
    upstream.script(
        Fault(
            401,
            f"Incorrect API key provided: {UPSTREAM_KEY}. See https://admin:hunter2@example.test/x",
        ),
        Fault(500, f"internal: key={UPSTREAM_KEY} url=https://admin:hunter2@example.test/"),
    )
    for _ in range(2):
        response = gateway_for.chat(messages=USER)
        assert response.status_code == 502
        assert UPSTREAM_KEY not in response.text
        assert "hunter2" not in response.text
        assert UPSTREAM_KEY[:12] not in response.text


def test_stream_false_upstream_error_is_json(gateway_for: Gateway, upstream: FakeUpstream) -> None:
    upstream.script(Fault(503, "overloaded"))
    response = gateway_for.chat(messages=USER, stream=False)
    assert response.status_code == 502
    assert response.json()["error"]["type"] == "upstream_error"


def test_cors_allows_the_configured_frontend_origin(gateway_for: Gateway) -> None:
    preflight = gateway_for.client.options(
        "/api/chat",
        headers={"Origin": "http://localhost:3000", "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "http://localhost:3000"
    other = gateway_for.client.options(
        "/api/chat",
        headers={"Origin": "http://evil.test", "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in other.headers
    # A browser may read the gateway's own headers from the answer.
    answer = gateway_for.client.post(
        "/api/chat",
        json={"model": "chat-model", "messages": [{"role": "user", "content": "hi"}]},
        headers={"Origin": "http://localhost:3000"},
    )
    exposed = {h.strip() for h in answer.headers["access-control-expose-headers"].split(",")}
    assert {"x-request-id", "x-gateway-deployment", "x-cache", "retry-after"} <= exposed
    assert {"x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"} <= exposed


def test_requests_are_independent_under_concurrency(
    gateway_for: Gateway, upstream: FakeUpstream
) -> None:
    import concurrent.futures

    upstream.default = Reply(chunks=["same ", "answer"], chunk_delay=0.05)
    url = f"{gateway_for.url}/api/chat"

    def one(i: int) -> str:
        body = {"model": "chat-model", "messages": [{"role": "user", "content": f"q{i}"}]}
        return httpx.post(url, json=body, timeout=15).text

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        bodies = list(pool.map(one, range(8)))
    for body in bodies:
        assert "".join(p["textDelta"] for c, p in parse_lines(body) if c == "0") == "same answer"
    assert sorted(r["messages"][0]["content"] for r in upstream.requests) == [
        f"q{i}" for i in range(8)
    ]
