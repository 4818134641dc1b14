"""The OpenAI-compatible door, driven by the official `openai` Python package."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest

from tests.support.fake_upstream import FakeToolCall, FakeUpstream, Fault, Reply
from tests.support.gateways import Gateway

# Every test here runs on both stream readers (tests/conftest.py, stream_reader).
pytestmark = pytest.mark.usefixtures("stream_reader")

CLIENT_TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "lookup_order",
            "description": "Find an order",
            "parameters": {
                "type": "object",
                "properties": {"order_id": {"type": "string"}},
                "required": ["order_id"],
            },
        },
    }
]


@pytest.fixture
def client(gateway_for: Gateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway_for.url}/v1", api_key="unused", max_retries=0)


def test_streams_text_and_usage(client: openai.OpenAI, upstream: FakeUpstream) -> None:
    upstream.script(Reply(chunks=["你好", "，", "world"], prompt_tokens=9, completion_tokens=3))

    stream = client.chat.completions.create(
        model="chat-model",
        messages=[{"role": "user", "content": "hi"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)

    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "你好，world"
    assert chunks[0].choices[0].delta.role == "assistant"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (9, 3)
    assert {c.id for c in chunks} == {chunks[0].id}
    assert all(c.object == "chat.completion.chunk" and c.model == "chat-model" for c in chunks)


def test_stream_without_include_usage_has_no_usage_chunk(
    client: openai.OpenAI, upstream: FakeUpstream
) -> None:
    chunks = list(
        client.chat.completions.create(
            model="chat-model", messages=[{"role": "user", "content": "hi"}], stream=True
        )
    )
    assert all(c.choices for c in chunks)


def test_non_streamed_completion(client: openai.OpenAI, upstream: FakeUpstream) -> None:
    upstream.script(Reply(chunks=["Hello", " there"], prompt_tokens=4, completion_tokens=2))

    completion = client.chat.completions.create(
        model="chat-model", messages=[{"role": "user", "content": "hi"}], temperature=0.2
    )

    assert completion.object == "chat.completion"
    assert completion.choices[0].message.content == "Hello there"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None and completion.usage.total_tokens == 6
    assert upstream.requests[-1]["temperature"] == 0.2


@pytest.mark.parametrize("stream", [True, False])
def test_client_tools_come_back_as_tool_calls_and_are_not_executed(
    client: openai.OpenAI, upstream: FakeUpstream, stream: bool
) -> None:
    call = FakeToolCall("lookup_order", '{"order_id": "A-17"}', pieces=3)
    upstream.script(Reply(chunks=[], tool_calls=[call]))

    response = client.chat.completions.create(
        model="chat-model",
        messages=[{"role": "user", "content": "where is my order A-17?"}],
        tools=CLIENT_TOOLS,  # type: ignore[arg-type]
        tool_choice="auto",
        stream=stream,
    )

    if stream:
        chunks = list(response)  # type: ignore[arg-type]
        deltas = [tc for c in chunks if c.choices for tc in c.choices[0].delta.tool_calls or []]
        assert deltas[0].id == call.id and deltas[0].function.name == "lookup_order"
        arguments = "".join(d.function.arguments or "" for d in deltas)
        finish = [c.choices[0].finish_reason for c in chunks if c.choices][-1]
    else:
        message = response.choices[0].message  # type: ignore[union-attr]
        assert message.tool_calls is not None and message.tool_calls[0].id == call.id
        arguments = message.tool_calls[0].function.arguments
        finish = response.choices[0].finish_reason  # type: ignore[union-attr]
    assert json.loads(arguments) == {"order_id": "A-17"}
    assert finish == "tool_calls"
    assert len(upstream.requests) == 1  # nothing was executed, no second round
    sent = upstream.requests[0]
    assert sent["tools"] == CLIENT_TOOLS
    assert sent["tool_choice"] == "auto"


def test_models_lists_the_yaml_ids(client: openai.OpenAI) -> None:
    assert [m.id for m in client.models.list()] == ["chat-model", "title-model"]


def test_errors_use_openai_shapes_and_statuses(
    client: openai.OpenAI, upstream: FakeUpstream
) -> None:
    with pytest.raises(openai.NotFoundError) as missing:
        client.chat.completions.create(model="nope", messages=[{"role": "user", "content": "x"}])
    assert missing.value.code == "unknown_model"
    assert "chat-model" in missing.value.message

    with pytest.raises(openai.BadRequestError) as bad:
        client.chat.completions.create(model="chat-model", messages=[])
    assert bad.value.code == "invalid_request"
    assert isinstance(bad.value.body, dict) and bad.value.body["type"] == "invalid_request_error"

    upstream.script(Fault(500, "kaboom"))
    with pytest.raises(openai.APIStatusError) as failed:
        client.chat.completions.create(
            model="chat-model", messages=[{"role": "user", "content": "x"}]
        )
    assert failed.value.status_code == 502


def test_mid_stream_failure_is_an_error_chunk(
    client: openai.OpenAI, upstream: FakeUpstream
) -> None:
    upstream.script(Reply(chunks=["a", "b", "c", "d"], cut_after=3))
    stream = client.chat.completions.create(
        model="chat-model", messages=[{"role": "user", "content": "x"}], stream=True
    )
    with pytest.raises(openai.APIError):
        list(stream)


# --- what real clients send is accepted, and reaches the provider as sent ---------------------

PNG = "data:image/png;base64,iVBORw0KGgo="
LOOKUP_CALL = {
    "id": "call_1",
    "type": "function",
    "function": {"name": "lookup_order", "arguments": '{"order_id":"A-17"}'},
}
# @ai-sdk/openai-compatible: a text-only user turn is a string, assistant text is "" beside
# tool calls, provider options (`cache_control`) are spread into messages and parts.
OPENAI_COMPATIBLE_BODY: dict[str, Any] = {
    "model": "chat-model",
    "user": "user-17",
    "max_tokens": 100,
    "temperature": 0.5,
    "top_p": 0.9,
    "frequency_penalty": 0.1,
    "presence_penalty": -0.1,
    "response_format": {
        "type": "json_schema",
        "json_schema": {"schema": {"type": "object"}, "strict": True, "name": "response"},
    },
    "stop": ["END"],
    "seed": 7,
    "messages": [
        {"role": "system", "content": "be brief", "cache_control": {"type": "ephemeral"}},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "what is this?"},
                {"type": "image_url", "image_url": {"url": PNG}},
            ],
        },
        {"role": "assistant", "content": "", "tool_calls": [LOOKUP_CALL]},
        {"role": "tool", "tool_call_id": "call_1", "content": '{"status":"shipped"}'},
    ],
    "tools": [{**CLIENT_TOOLS[0], "function": {**CLIENT_TOOLS[0]["function"], "strict": True}}],
    "tool_choice": {"type": "function", "function": {"name": "lookup_order"}},
    "stream": True,
    "stream_options": {"include_usage": True},
}
# @ai-sdk/openai `.chat()`: developer role for reasoning models, audio and PDF parts, OpenAI's
# own options (store, metadata, service_tier, … are accepted and not sent on).
OPENAI_CHAT_BODY: dict[str, Any] = {
    "model": "chat-model",
    "logit_bias": {"50256": -100},
    "logprobs": True,
    "top_logprobs": 2,
    "parallel_tool_calls": False,
    "max_completion_tokens": 200,
    "store": False,
    "metadata": {"k": "v"},
    "service_tier": "auto",
    "verbosity": "low",
    "prompt_cache_key": "pk",
    "response_format": {"type": "json_object"},
    "messages": [
        {"role": "developer", "content": "answer in JSON"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "listen and read"},
                {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}},
                {
                    "type": "file",
                    "file": {"filename": "a.pdf", "file_data": "data:application/pdf;base64,JVBE"},
                },
                {"type": "file", "file": {"file_id": "file-abc"}},
                {"type": "image_url", "image_url": {"url": PNG, "detail": "low"}},
            ],
        },
    ],
}


@pytest.mark.parametrize(
    "body", [OPENAI_COMPATIBLE_BODY, OPENAI_CHAT_BODY], ids=["openai-compatible", "openai-chat"]
)
def test_ai_sdk_request_bodies_are_accepted_and_sent_on(
    gateway_for: Gateway, upstream: FakeUpstream, body: dict[str, Any]
) -> None:
    response = gateway_for.client.post("/v1/chat/completions", json=body)

    assert response.status_code == 200, response.text
    sent = upstream.requests[-1]
    # LiteLLM itself sends a developer message as system to providers that are not OpenAI.
    assert sent["messages"] == [
        {**m, "role": "system"} if m["role"] == "developer" else m for m in body["messages"]
    ]
    for name in ("tools", "tool_choice", "response_format", "logit_bias", "stop", "seed"):
        if name in body:
            assert sent[name] == body[name], name
    assert "store" not in sent and "metadata" not in sent and "service_tier" not in sent


def test_openai_sdk_replays_its_own_assistant_message(
    client: openai.OpenAI, upstream: FakeUpstream
) -> None:
    upstream.script(
        Reply(chunks=[], tool_calls=[FakeToolCall("lookup_order", '{"order_id": "A-17"}')])
    )
    question: list[Any] = [
        {"role": "system", "content": [{"type": "text", "text": "be brief"}]},
        {"role": "user", "content": "where is A-17?", "name": "ann"},
    ]
    first = client.chat.completions.create(
        model="chat-model",
        messages=question,
        tools=CLIENT_TOOLS,  # type: ignore[arg-type]
    )
    message = first.choices[0].message  # content None, refusal None, annotations, tool_calls
    call = message.tool_calls[0]  # type: ignore[index]

    second = client.chat.completions.create(
        model="chat-model",
        messages=[
            *question,
            message,  # type: ignore[list-item]
            {"role": "tool", "tool_call_id": call.id, "content": "shipped"},
        ],
        tools=CLIENT_TOOLS,  # type: ignore[arg-type]
        stop="END",
        seed=3,
        logprobs=False,
        user="ann",
    )

    assert second.choices[0].message.content
    sent = upstream.requests[-1]["messages"]
    assert sent[1] == {"role": "user", "content": "where is A-17?", "name": "ann"}
    assert sent[2]["role"] == "assistant" and sent[2]["tool_calls"][0]["id"] == call.id
    assert sent[3] == {"role": "tool", "tool_call_id": call.id, "content": "shipped"}
