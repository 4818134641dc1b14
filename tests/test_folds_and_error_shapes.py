"""Pure units, no sockets: each door's collected answer is the fold of the wire events its
encoder streams (streamed and collected agree on text, tool calls, reasoning, usage and
finish), and each door's error shape says an error alike before and after the first byte."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from gateway.doors.anthropic.anthropic_encoder import AnthropicSSEEncoder, collect_message
from gateway.doors.anthropic.anthropic_errors import anthropic_error, anthropic_stream_error
from gateway.doors.common.body_limit import BodySizeLimit
from gateway.doors.common.error_responses import register_error_shape
from gateway.doors.common.openai_errors import openai_error, openai_stream_error
from gateway.doors.door_list import ERROR_SHAPES
from gateway.doors.frontend.frontend_collect import collect
from gateway.doors.frontend.ui_message_stream_encoder import UIMessageStreamEncoder
from gateway.doors.openai_chat.openai_chat_encoder import OpenAIChunkEncoder, collect_completion
from gateway.doors.openai_responses.responses_builder import ResponseBuilder
from gateway.doors.openai_responses.responses_encoder import ResponseCollector, ResponsesEncoder
from gateway.errors import ChatStoreUnavailable, ModelCoolingDown, UpstreamRateLimited
from gateway.events import (
    ErrorEvent,
    Event,
    Finish,
    ReasoningDelta,
    StepFinish,
    StepStart,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    ToolCallStart,
    Usage,
)

ANSWER: list[Event] = [
    StepStart(0, "msg-abc"),
    ReasoningDelta("think "),
    ReasoningDelta("hard"),
    TextDelta("Hello, "),
    TextDelta("世界"),
    ToolCallStart("call_1", "get_weather"),
    ToolCallDelta("call_1", '{"city":'),
    ToolCallDelta("call_1", '"Paris"}'),
    ToolCall("call_1", "get_weather", {"city": "Paris"}, '{"city":"Paris"}'),
    ToolCall("call_2", "get_time", {}, "{}"),  # one that arrived whole
    StepFinish("tool-calls", Usage(9, 12)),
    Finish("tool-calls", Usage(9, 12)),
]
TEXT, REASONING = "Hello, 世界", "think hard"
CALLS = [("call_1", "get_weather", {"city": "Paris"}), ("call_2", "get_time", {})]


async def _events(events: list[Event]) -> AsyncIterator[Event]:
    for event in events:
        yield event


def _collected(collector: Any, events: list[Event]) -> dict[str, Any]:
    return asyncio.run(collector("chat-model", _events(events)))


def _sse_data(raw: bytes) -> list[Any]:
    """Every `data:` line of an SSE stream, parsed (but [DONE])."""
    lines = raw.decode().splitlines()
    return [
        json.loads(line[6:])
        for line in lines
        if line.startswith("data: ") and line != "data: [DONE]"
    ]


def _streamed(encoder: Any, events: list[Event]) -> bytes:
    return b"".join(encoder.encode(event) for event in events) + encoder.close()


def test_openai_chat_streamed_and_collected_agree() -> None:
    chunks = _sse_data(_streamed(OpenAIChunkEncoder("chat-model", include_usage=True), ANSWER))
    # What a client accumulates from the stream.
    text, reasoning, calls, finish, usage = "", "", {}, None, None
    for chunk in chunks:
        usage = chunk.get("usage") or usage
        for choice in chunk["choices"]:
            delta = choice["delta"]
            text += delta.get("content", "")
            reasoning += delta.get("reasoning_content", "")
            for call in delta.get("tool_calls", ()):
                entry = calls.setdefault(call["index"], {"id": call.get("id"), "args": ""})
                entry["name"] = call["function"].get("name", entry.get("name"))
                entry["args"] += call["function"]["arguments"]
            finish = choice["finish_reason"] or finish
    completion = _collected(collect_completion, ANSWER)
    message = completion["choices"][0]["message"]
    assert message["content"] == text == TEXT
    assert message["reasoning_content"] == reasoning == REASONING
    collected_calls = [
        (call["id"], call["function"]["name"], json.loads(call["function"]["arguments"]))
        for call in message["tool_calls"]
    ]
    streamed_calls = [(c["id"], c["name"], json.loads(c["args"])) for c in calls.values()]
    assert collected_calls == streamed_calls == CALLS
    assert completion["choices"][0]["finish_reason"] == finish == "tool_calls"
    assert (
        completion["usage"]
        == usage
        == {
            "prompt_tokens": 9,
            "completion_tokens": 12,
            "total_tokens": 21,
        }
    )


def _shell() -> dict[str, Any]:
    return {"id": "resp_k", "object": "response", "created_at": 1, "model": "chat-model"}


def _without_times(response: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in response.items() if key != "completed_at"}


@pytest.mark.parametrize("ending", [Finish("stop", Usage(3, 4)), Finish("length"), Finish("error")])
def test_responses_streamed_and_collected_agree(ending: Finish) -> None:
    events = [*ANSWER[:-1], ending]
    if ending.finish_reason == "error":
        events.insert(-1, ErrorEvent("the provider failed", "upstream_error"))
    streamed = _sse_data(_streamed(ResponsesEncoder(ResponseBuilder(_shell())), events))
    assert [data["sequence_number"] for data in streamed] == list(range(len(streamed)))
    collected = _collected(ResponseCollector(ResponseBuilder(_shell())), events)
    assert _without_times(streamed[-1]["response"]) == _without_times(collected)
    output = collected["output"]
    assert [item["type"] for item in output] == ["reasoning", "message", "function_call"] * 1 + [
        "function_call"
    ]
    assert output[0]["summary"][0]["text"] == REASONING
    assert output[1]["content"][0]["text"] == TEXT
    assert [
        (item["call_id"], item["name"], json.loads(item["arguments"])) for item in output[2:]
    ] == CALLS


def test_a_concluded_response_changes_the_builder_only_when_its_finish_is_fed() -> None:
    plain, concluding = ResponseBuilder(_shell()), ResponseBuilder(_shell())
    for event in ANSWER[:-1]:
        assert plain.feed(event) == concluding.feed(event)
    finish = ANSWER[-1]
    concluded = concluding.conclude(finish)
    assert concluding.response()["status"] == "in_progress"  # unchanged by conclude
    ended, expected = concluding.feed(finish), plain.feed(finish)
    assert ended[-1]["response"] is concluded is concluding.response()
    assert [_without_times(e.get("response", e)) for e in ended] == [
        _without_times(e.get("response", e)) for e in expected
    ]


def test_a_failure_after_conclude_is_fed_as_if_nothing_was_concluded() -> None:
    builder = ResponseBuilder(_shell())
    for event in ANSWER[:5]:
        builder.feed(event)
    builder.conclude(Finish("stop"))
    builder.feed(ErrorEvent("cut", "upstream_error"))
    failed = builder.feed(Finish("error"))[-1]["response"]
    assert failed["status"] == "failed"
    assert failed["error"] == {"code": "server_error", "message": "cut"}
    assert [item.get("status") for item in failed["output"]] == [None, "incomplete"]


def test_anthropic_streamed_and_collected_agree() -> None:
    raw = _streamed(AnthropicSSEEncoder("chat-model"), ANSWER)
    blocks: dict[int, dict[str, Any]] = {}
    stop, usage = None, None
    for data in _sse_data(raw):
        if data["type"] == "content_block_start":
            blocks[data["index"]] = {**data["content_block"], "json": ""}
        elif data["type"] == "content_block_delta":
            block, delta = blocks[data["index"]], data["delta"]
            block["text"] = block.get("text", "") + delta.get("text", "")
            block["thinking"] = block.get("thinking", "") + delta.get("thinking", "")
            block["json"] += delta.get("partial_json", "")
        elif data["type"] == "message_delta":
            stop, usage = data["delta"]["stop_reason"], data["usage"]
    message = _collected(collect_message, ANSWER)
    content = message["content"]
    assert [block["type"] for block in content] == ["thinking", "text", "tool_use", "tool_use"]
    assert content[0]["thinking"] == blocks[0]["thinking"] == REASONING
    assert content[1]["text"] == blocks[1]["text"] == TEXT
    assert [(b["id"], b["name"], b["input"]) for b in content[2:]] == CALLS
    assert [
        (b["id"], b["name"], json.loads(b["json"] or "{}")) for b in list(blocks.values())[2:]
    ] == CALLS
    assert message["stop_reason"] == stop == "tool_use"
    assert message["usage"] == usage == {"input_tokens": 9, "output_tokens": 12}


def test_frontend_json_is_the_fold_of_the_ui_message_stream() -> None:
    chunks = _sse_data(_streamed(UIMessageStreamEncoder(), ANSWER))
    answer = _collected(collect, ANSWER)
    assert answer["id"] == chunks[0]["messageId"] == "msg-abc"
    assert (
        answer["text"] == "".join(c["delta"] for c in chunks if c["type"] == "text-delta") == TEXT
    )
    assert answer["reasoning"] == REASONING
    streamed_calls = [
        (c["toolCallId"], c["toolName"], c["input"])
        for c in chunks
        if c["type"] == "tool-input-available"
    ]
    assert (
        [(c["toolCallId"], c["toolName"], c["args"]) for c in answer["toolCalls"]]
        == streamed_calls
        == CALLS
    )
    finish = chunks[-1]
    assert answer["finishReason"] == finish["finishReason"] == "tool-calls"
    assert answer["usage"] == {**finish["messageMetadata"]["usage"], "totalTokens": 21}


# --- error shapes ---------------------------------------------------------------------------


def test_an_error_event_carries_its_catalogue_status() -> None:
    assert UpstreamRateLimited("slow down").as_event() == ErrorEvent(
        "slow down", "upstream_rate_limited", 429
    )
    assert ChatStoreUnavailable("gone").as_event().status == 503


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (UpstreamRateLimited("slow down"), "rate_limit_error"),
        (ChatStoreUnavailable("gone"), "api_error"),
        (ModelCoolingDown("cooling"), "overloaded_error"),
    ],
)
def test_anthropic_says_an_error_alike_before_and_after_the_first_byte(
    error: Any, kind: str
) -> None:
    status, body = anthropic_error(error.status, error.error_type, error.message)
    assert status == error.status
    assert body == anthropic_stream_error(error.as_event())
    assert body == {"type": "error", "error": {"type": kind, "message": error.message}}


def test_openai_names_the_gateways_type_in_code_in_both_phases() -> None:
    error = UpstreamRateLimited("slow down")
    status, body = openai_error(error.status, error.error_type, error.message)
    streamed = openai_stream_error(error.as_event())
    assert status == 429
    assert body["error"]["type"] == "rate_limit_error"
    assert body["error"]["code"] == streamed["error"]["code"] == "upstream_rate_limited"
    assert streamed["error"]["type"] == "api_error"  # the answer was under way: status 200
    assert openai_error(422, "invalid_request", "x: bad", "x")[0] == 400


def _refused(path: str) -> tuple[int, dict[str, Any]]:
    for door, shape in ERROR_SHAPES.items():
        register_error_shape(door, shape)  # what app.py does
    sent: list[dict[str, Any]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        raise AssertionError("a body over the limit reached the app")

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": path,
        "headers": [(b"content-length", b"99")],
    }
    asyncio.run(BodySizeLimit(app, max_bytes=10)(scope, receive, send))
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return sent[0]["status"], json.loads(body)


MESSAGE = "the request body is larger than the limit of 10 bytes"


def test_a_body_over_the_limit_is_refused_in_anthropics_shape_on_the_messages_door() -> None:
    assert _refused("/v1/messages") == (
        413,
        {"type": "error", "error": {"type": "request_too_large", "message": MESSAGE}},
    )


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/responses"])
def test_a_body_over_the_limit_is_refused_in_openais_shape_on_the_v1_doors(path: str) -> None:
    error = {
        "message": MESSAGE,
        "type": "invalid_request_error",
        "param": "body",
        "code": "request_too_large",
    }
    assert _refused(path) == (413, {"error": error})


def test_a_body_over_the_limit_is_refused_in_the_gateways_shape_on_the_frontend_door() -> None:
    assert _refused("/api/chat") == (
        413,
        {"error": {"type": "request_too_large", "message": MESSAGE}},
    )
