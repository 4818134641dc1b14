"""One engine, three /api/chat protocols: the same conversation carries the same content."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.support.configs import tool_config
from tests.support.fake_upstream import FakeToolCall, FakeUpstream, Reply
from tests.support.gateways import Gateway
from tests.support.wire import parse_sse, summary_of

# Every test here runs on both stream readers (tests/conftest.py, stream_reader).
pytestmark = pytest.mark.usefixtures("stream_reader")


@pytest.mark.parametrize("protocol", ["typed", "data-stream", "ui-message-stream"])
def test_same_conversation_same_content_in_every_protocol(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream, weather: Any, protocol: str
) -> None:
    gateway = start_gateway(tool_config(upstream, weather))
    call = FakeToolCall("add", '{"a": 2, "b": 40}', id="call_same", pieces=2)
    upstream.script(Reply(chunks=["Adding. "], tool_calls=[call]), Reply(chunks=["It is ", "42."]))

    response = gateway.client.post(
        f"/api/chat?protocol={protocol}",
        json={"model": "chat-model", "messages": [{"role": "user", "content": "2+40?"}]},
    )

    assert response.status_code == 200
    assert summary_of(protocol, response.text) == {
        "text": "Adding. It is 42.",
        "calls": [("call_same", "add", {"a": 2, "b": 40})],
        "results": [("call_same", 42)],
    }


def test_protocol_headers(gateway_for: Gateway) -> None:
    body = {"model": "chat-model", "messages": [{"role": "user", "content": "hi"}]}
    data = gateway_for.client.post(
        "/api/chat", json=body, headers={"x-stream-protocol": "data-stream"}
    )
    assert data.headers["x-vercel-ai-data-stream"] == "v1"
    assert data.headers["content-type"] == "text/plain; charset=utf-8"
    ui = gateway_for.client.post("/api/chat?protocol=ui-message-stream", json=body)
    assert ui.headers["x-vercel-ai-ui-message-stream"] == "v1"
    assert ui.headers["content-type"].startswith("text/event-stream")
    assert ui.text.endswith("data: [DONE]\n\n")


def test_unknown_protocol_is_400_naming_the_valid_ones(
    gateway_for: Gateway, upstream: FakeUpstream
) -> None:
    body = {"model": "chat-model", "messages": [{"role": "user", "content": "hi"}]}
    response = gateway_for.client.post("/api/chat?protocol=grpc", json=body)
    assert response.status_code == 400
    message = response.json()["error"]["message"]
    assert "'grpc'" in message and "typed, data-stream, ui-message-stream" in message
    assert upstream.requests == []


def test_ui_message_history_with_a_tool_round_replays_in_order(
    gateway_for: Gateway, upstream: FakeUpstream
) -> None:
    body = {
        "id": "chat-1",
        "trigger": "submit-message",
        "messageId": "m4",
        "selectedChatModel": "chat-model",
        "messages": [
            {"id": "m1", "role": "user", "parts": [{"type": "text", "text": "Weather in Berlin?"}]},
            {
                "id": "m2",
                "role": "assistant",
                "parts": [
                    {"type": "step-start"},
                    {"type": "text", "text": "Checking."},
                    {
                        "type": "tool-get_weather",
                        "toolCallId": "call_w1",
                        "state": "output-available",
                        "input": {"location": "Berlin"},
                        "output": {"temperature_c": 3.5},
                    },
                    {"type": "step-start"},
                    {"type": "text", "text": "It is 3.5°C."},
                ],
            },
            {
                "id": "m3",
                "role": "user",
                "parts": [
                    {"type": "text", "text": "And this picture?"},
                    {
                        "type": "file",
                        "mediaType": "image/png",
                        "url": "data:image/png;base64,iVBORw0KGgo=",
                    },
                ],
            },
        ],
    }
    response = gateway_for.client.post("/api/chat?protocol=ui-message-stream", json=body)
    assert response.status_code == 200
    assert upstream.requests[-1]["messages"] == [
        {"role": "user", "content": "Weather in Berlin?"},
        {
            "role": "assistant",
            "content": "Checking.",
            "tool_calls": [
                {
                    "id": "call_w1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"location": "Berlin"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_w1", "content": '{"temperature_c": 3.5}'},
        {"role": "assistant", "content": "It is 3.5°C."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "And this picture?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
            ],
        },
    ]


def test_malformed_ui_message_names_the_field(gateway_for: Gateway) -> None:
    body = {"model": "chat-model", "messages": [{"id": "m1", "role": "robot", "parts": []}]}
    response = gateway_for.client.post("/api/chat", json=body)
    assert response.status_code == 422
    assert response.json()["error"]["message"].startswith("messages[0].role:")


def test_ui_stream_error_mid_stream(gateway_for: Gateway, upstream: FakeUpstream) -> None:
    upstream.script(Reply(chunks=["one ", "two ", "three"], cut_after=3))
    body = {"model": "chat-model", "messages": [{"role": "user", "content": "hi"}]}
    chunks = parse_sse(
        gateway_for.client.post("/api/chat?protocol=ui-message-stream", json=body).text
    )
    types = [c["type"] for c in chunks]
    assert types[-3:] == ["text-end", "error", "finish"] or types[-2:] == ["error", "finish"]
    assert chunks[-1]["finishReason"] == "error"
