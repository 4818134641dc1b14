"""`openai/` deployments go through LiteLLM's own HTTP handler (gateway/upstream/openai_route.py),
on both stream readers, and what that route brings with it is handled: a raw U+2028 inside a
chunk, and a parse error that quotes the provider's raw body."""

from __future__ import annotations

import json
from collections.abc import Callable

import openai
import pytest

from tests.support.configs import config_for
from tests.support.fake_upstream import FakeUpstream, Fault, Reply
from tests.support.gateways import Gateway

pytestmark = pytest.mark.usefixtures("stream_reader")

HI = [{"role": "user", "content": "hi"}]


def _sdk_headers(headers: dict[str, str]) -> set[str]:
    return {name for name in headers if name.startswith("x-stainless")}


def test_openai_calls_take_litellms_http_handler(
    gateway_for: Gateway, upstream: FakeUpstream
) -> None:
    for stream in (True, False):
        response = gateway_for.client.post(
            "/v1/chat/completions", json={"model": "chat-model", "messages": HI, "stream": stream}
        )
        assert response.status_code == 200, response.text
    assert len(upstream.headers) == 2
    for headers in upstream.headers:
        assert not _sdk_headers(headers), headers  # the openai SDK would have sent them
        assert headers["authorization"].startswith("Bearer sk-fake-upstream-key")


def test_an_operator_can_keep_the_openai_sdk(
    gateway_for: Gateway, upstream: FakeUpstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EXPERIMENTAL_OPENAI_BASE_LLM_HTTP_HANDLER", "false")  # read per call
    response = gateway_for.chat()
    assert response.status_code == 200, response.text
    assert _sdk_headers(upstream.headers[-1])


def test_a_raw_line_separator_inside_a_chunk_arrives_whole(
    gateway_for: Gateway, upstream: FakeUpstream
) -> None:
    # Unescaped in the upstream's JSON (the fake writes ensure_ascii=False); a reader that
    # split lines at every Unicode line break would cut the chunk in two.
    chunks = ["one\u2028two", " \u2029three\x85"]
    upstream.script(Reply(chunks=chunks))
    client = openai.OpenAI(base_url=f"{gateway_for.url}/v1", api_key="unused", max_retries=0)
    stream = client.chat.completions.create(model="chat-model", messages=HI, stream=True)
    text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    assert text == "".join(chunks)


def test_an_unreadable_body_is_said_without_quoting_it(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream
) -> None:
    gateway = start_gateway(config_for(upstream))
    upstream.script(Fault(status=200, body=b"<html>internal page sk-proxy-secret</html>"))
    response = gateway.client.post(
        "/v1/chat/completions", json={"model": "chat-model", "messages": HI, "stream": False}
    )
    assert response.status_code == 502
    error = response.json()["error"]
    assert error["code"] == "upstream_incomplete"
    assert "internal page" not in json.dumps(error) and "sk-proxy" not in response.text
