"""The real AI SDK parsers from npm, run by Node against the live gateway.

ai@4's data stream parser reads `?protocol=data-stream`; the current `ai` package's
parseJsonEventStream + uiMessageChunkSchema + readUIMessageStream read
`?protocol=ui-message-stream`. For a plain answer, a tool round and an upstream error, what
the client rebuilds must equal what the fake upstream sent.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.support.ai_sdk import run_data_stream_client, run_ui_message_stream_client
from tests.support.configs import tool_config
from tests.support.fake_upstream import FakeToolCall, FakeUpstream, Reply
from tests.support.gateways import Gateway

# Every test here runs on both stream readers (tests/conftest.py, stream_reader).
pytestmark = pytest.mark.usefixtures("stream_reader")

QUESTION = [{"role": "user", "content": "你好, what is 2+40?"}]


@pytest.fixture
def gateway(start_gateway: Callable[..., Gateway], upstream: FakeUpstream, weather: Any) -> Gateway:
    return start_gateway(tool_config(upstream, weather))


def chat_body(**extra: Any) -> dict[str, Any]:
    return {"model": "chat-model", "messages": QUESTION, **extra}


def ui_body() -> dict[str, Any]:
    """What AI SDK 5+'s default transport posts."""
    return {
        "id": "chat-1",
        "trigger": "submit-message",
        "messageId": None,
        "model": "chat-model",
        "messages": [
            {
                "id": "u1",
                "role": "user",
                "parts": [{"type": "text", "text": QUESTION[0]["content"]}],
            }
        ],
    }


def tool_round(upstream: FakeUpstream) -> FakeToolCall:
    call = FakeToolCall("add", json.dumps({"a": 2, "b": 40}), id="call_add_1", pieces=3)
    upstream.script(
        Reply(chunks=["Let me add. "], tool_calls=[call], prompt_tokens=10, completion_tokens=5),
        Reply(chunks=["2+40 ", "is 42. ", "你好!"], prompt_tokens=30, completion_tokens=6),
    )
    return call


# --- ai@4 data stream ---------------------------------------------------------------------------


def test_data_stream_plain_answer(gateway: Gateway, upstream: FakeUpstream) -> None:
    upstream.script(
        Reply(chunks=["你好", "，", "world ", "🌏"], prompt_tokens=8, completion_tokens=4)
    )

    result = run_data_stream_client(f"{gateway.url}/api/chat?protocol=data-stream", chat_body())

    assert result["thrown"] is None
    assert result["status"] == 200
    assert result["headers"]["x-vercel-ai-data-stream"] == "v1"
    assert result["text"] == "你好，world 🌏"
    assert result["errors"] == []
    assert result["finishMessage"] == {
        "finishReason": "stop",
        "usage": {"promptTokens": 8, "completionTokens": 4},
    }


def test_data_stream_tool_round(gateway: Gateway, upstream: FakeUpstream) -> None:
    call = tool_round(upstream)

    result = run_data_stream_client(f"{gateway.url}/api/chat?protocol=data-stream", chat_body())

    assert result["thrown"] is None
    assert result["text"] == "Let me add. 2+40 is 42. 你好!"
    assert [(c["toolCallId"], c["toolName"], c["args"]) for c in result["toolCalls"]] == [
        (call.id, "add", {"a": 2, "b": 40})
    ]
    assert [(r["toolCallId"], r["result"]) for r in result["toolResults"]] == [(call.id, 42)]
    assert [s["finishReason"] for s in result["finishSteps"]] == ["tool-calls", "stop"]
    assert len(result["startSteps"]) == 2
    assert result["finishMessage"]["usage"] == {"promptTokens": 40, "completionTokens": 11}
    types = [part["type"] for part in result["parts"]]
    assert types.index("tool_call_streaming_start") < types.index("tool_call")


def test_data_stream_upstream_error(gateway: Gateway, upstream: FakeUpstream) -> None:
    upstream.script(Reply(chunks=["partial ", "answer ", "lost"], cut_after=3))

    result = run_data_stream_client(f"{gateway.url}/api/chat?protocol=data-stream", chat_body())

    assert result["thrown"] is None
    assert result["text"] == "partial answer "
    assert len(result["errors"]) == 1 and "chat-model" in result["errors"][0]
    assert result["finishMessage"]["finishReason"] == "error"


# --- ai (current) UI message stream --------------------------------------------------------------


def ui_text(message: dict[str, Any]) -> str:
    return "".join(part["text"] for part in message["parts"] if part["type"] == "text")


def test_ui_message_stream_plain_answer(gateway: Gateway, upstream: FakeUpstream) -> None:
    upstream.script(Reply(chunks=["你好", "，", "world ", "🌏"]))

    result = run_ui_message_stream_client(
        f"{gateway.url}/api/chat?protocol=ui-message-stream", ui_body()
    )

    assert result["thrown"] is None
    assert result["invalidChunks"] == [] and result["errors"] == []
    assert result["headers"]["x-vercel-ai-ui-message-stream"] == "v1"
    message = result["message"]
    assert message["role"] == "assistant"
    assert ui_text(message) == "你好，world 🌏"
    assert upstream.requests[-1]["messages"] == QUESTION


def test_ui_message_stream_tool_round(gateway: Gateway, upstream: FakeUpstream) -> None:
    call = tool_round(upstream)

    result = run_ui_message_stream_client(
        f"{gateway.url}/api/chat?protocol=ui-message-stream", ui_body()
    )

    assert result["thrown"] is None
    assert result["invalidChunks"] == [] and result["errors"] == []
    message = result["message"]
    tool_parts = [part for part in message["parts"] if part["type"] == "tool-add"]
    assert len(tool_parts) == 1
    assert tool_parts[0]["toolCallId"] == call.id
    assert tool_parts[0]["state"] == "output-available"
    assert tool_parts[0]["input"] == {"a": 2, "b": 40}
    assert tool_parts[0]["output"] == 42
    texts = [part["text"] for part in message["parts"] if part["type"] == "text"]
    assert texts == ["Let me add. ", "2+40 is 42. 你好!"]
    assert sum(1 for part in message["parts"] if part["type"] == "step-start") == 2


def test_ui_message_stream_upstream_error(gateway: Gateway, upstream: FakeUpstream) -> None:
    upstream.script(Reply(chunks=["partial ", "answer ", "lost"], cut_after=3))

    result = run_ui_message_stream_client(
        f"{gateway.url}/api/chat?protocol=ui-message-stream", ui_body()
    )

    assert result["thrown"] is None and result["invalidChunks"] == []
    errors = [chunk for chunk in result["chunks"] if chunk["type"] == "error"]
    assert len(errors) == 1 and "chat-model" in errors[0]["errorText"]
    assert result["errors"] == [errors[0]["errorText"]]  # the client surfaced it, nothing else
    assert result["chunks"][-1] == {
        "type": "finish",
        "finishReason": "error",
        "messageMetadata": {"usage": {"promptTokens": 0, "completionTokens": 0}},
    }
    assert ui_text(result["message"]) == "partial answer "


def test_ui_history_with_tool_output_round_trips(gateway: Gateway, upstream: FakeUpstream) -> None:
    """A message the client rebuilt goes back as history and reaches the upstream intact."""
    call = tool_round(upstream)
    first = run_ui_message_stream_client(
        f"{gateway.url}/api/chat?protocol=ui-message-stream", ui_body()
    )
    follow_up = ui_body()
    follow_up["messages"] += [
        first["message"],
        {"id": "u2", "role": "user", "parts": [{"type": "text", "text": "thanks"}]},
    ]

    second = run_ui_message_stream_client(
        f"{gateway.url}/api/chat?protocol=ui-message-stream", follow_up
    )

    assert second["thrown"] is None and second["errors"] == []
    sent = upstream.requests[-1]["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "tool", "assistant", "user"]
    assert sent[1]["tool_calls"][0]["id"] == call.id
    assert json.loads(sent[2]["content"]) == 42
    assert sent[3]["content"] == "2+40 is 42. 你好!"


# --- the harness can fail ------------------------------------------------------------------------


def test_ai4_parser_rejects_the_typed_dialect(gateway: Gateway) -> None:
    """The CONTRACT's finding, reproduced: ai@4 cannot read the frontend's own line format."""
    result = run_data_stream_client(f"{gateway.url}/api/chat?protocol=typed", chat_body())
    assert result["thrown"] is not None
    assert '"text" parts expect a string value' in result["thrown"]


def test_ui_client_reports_a_delta_without_its_start(background_loop: Any) -> None:
    from tests.support.serving import ServedApp, serve_lifespan

    broken = (
        b'data: {"type":"start"}\n\ndata: {"type":"start-step"}\n\n'
        b'data: {"type":"text-delta","id":"t1","delta":"orphan"}\n\n'
        b'data: {"type":"finish-step"}\n\ndata: {"type":"finish"}\n\ndata: [DONE]\n\n'
    )

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await serve_lifespan(receive, send)
            return
        while (await receive()).get("more_body"):
            pass
        headers = [
            (b"content-type", b"text/event-stream"),
            (b"x-vercel-ai-ui-message-stream", b"v1"),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": broken})

    served = ServedApp(background_loop, app)
    served.start()
    try:
        result = run_ui_message_stream_client(f"{served.url}/", ui_body())
    finally:
        served.stop()
    assert result["invalidChunks"] == []  # each chunk matches the schema on its own...
    assert result["errors"] or result["thrown"]  # ...but the client refuses the sequence


def test_reasoning_streams_as_reasoning_parts(gateway: Gateway, upstream: FakeUpstream) -> None:
    upstream.script(Reply(reasoning=["Two plus ", "forty..."], chunks=["42"]))

    ui = run_ui_message_stream_client(
        f"{gateway.url}/api/chat?protocol=ui-message-stream", ui_body()
    )
    upstream.script(Reply(reasoning=["Two plus ", "forty..."], chunks=["42"]))
    data = run_data_stream_client(f"{gateway.url}/api/chat?protocol=data-stream", chat_body())

    assert ui["errors"] == [] and ui["invalidChunks"] == []
    reasoning = [part for part in ui["message"]["parts"] if part["type"] == "reasoning"]
    assert [part["text"] for part in reasoning] == ["Two plus forty..."]
    assert ui_text(ui["message"]) == "42"
    assert data["thrown"] is None
    assert [p["value"] for p in data["parts"] if p["type"] == "reasoning"] == [
        "Two plus ",
        "forty...",
    ]
