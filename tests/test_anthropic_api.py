"""The Anthropic Messages door (/v1/messages), driven by the official `anthropic` Python SDK.

The gateway runs with API keys, so every SDK call here authenticates with `x-api-key`; the
model behind `chat-model` is the fake OpenAI-shaped upstream, so what the SDK reads went through
LiteLLM, the engine and this door's encoder or collector, and what the upstream received shows
the door's conversion.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import anthropic
import pytest
from anthropic.types import Message

from tests.support.configs import config_for, model_entry
from tests.support.fake_upstream import FakeToolCall, FakeUpstream, Fault, Reply
from tests.support.gateways import Gateway

# Every test here runs on both stream readers (tests/conftest.py, stream_reader).
pytestmark = pytest.mark.usefixtures("stream_reader")

KEY = "anthropic-door-key-0123456789"
USER = [{"role": "user", "content": "hi"}]
LOOKUP_TOOL: dict[str, Any] = {
    "name": "lookup_order",
    "description": "Find an order",
    "input_schema": {
        "type": "object",
        "properties": {"order_id": {"type": "string"}},
        "required": ["order_id"],
    },
}
PNG_BASE64 = "iVBORw0KGgo="


@pytest.fixture
def gateway(start_gateway: Callable[..., Gateway], upstream: FakeUpstream) -> Gateway:
    return start_gateway(config_for(upstream), api_keys=f"sdk:{KEY}")


@pytest.fixture
def client(gateway: Gateway) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gateway.url, api_key=KEY, max_retries=0)


def sse_events(body: str) -> list[tuple[str, dict[str, Any]]]:
    """An SSE body as (event name, data) pairs, checking each `event:` names its data's type."""
    events = []
    for frame in body.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in frame.split("\n"))
        data = json.loads(lines["data"])
        assert data["type"] == lines["event"]
        events.append((lines["event"], data))
    return events


# --- text --------------------------------------------------------------------------------------


def test_create_returns_a_message_and_sends_the_parameters(
    client: anthropic.Anthropic, upstream: FakeUpstream
) -> None:
    upstream.script(Reply(chunks=["你好", "，world"], prompt_tokens=9, completion_tokens=3))

    message = client.messages.create(
        model="chat-model",
        max_tokens=300,
        system="be brief",
        messages=[{"role": "user", "content": "hi"}],
        metadata={"user_id": "user-17"},
        # SDK 2.x no longer has these as arguments; older SDKs and other clients still send them.
        extra_body={"temperature": 0.2, "top_p": 0.9, "top_k": 40},
    )

    assert isinstance(message, Message)
    assert message.id.startswith("msg_") and message.model == "chat-model"
    assert [block.type for block in message.content] == ["text"]
    assert message.content[0].text == "你好，world"  # type: ignore[union-attr]
    assert message.stop_reason == "end_turn" and message.stop_sequence is None
    assert (message.usage.input_tokens, message.usage.output_tokens) == (9, 3)
    sent = upstream.requests[-1]
    assert sent["messages"] == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hi"},
    ]
    assert (sent["max_tokens"], sent["temperature"], sent["top_p"], sent["top_k"]) == (
        300,
        0.2,
        0.9,
        40,
    )
    assert "tools" not in sent  # the YAML's tools are never offered on this door


def test_stream_is_anthropic_sse_and_the_sdk_accumulates_the_final_message(
    client: anthropic.Anthropic, gateway: Gateway, upstream: FakeUpstream
) -> None:
    upstream.script(Reply(chunks=["你好", "，", "world"], prompt_tokens=9, completion_tokens=3))

    with client.messages.stream(model="chat-model", max_tokens=100, messages=USER) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()

    assert text == "你好，world"
    assert final.content[0].text == "你好，world"  # type: ignore[union-attr]
    assert final.stop_reason == "end_turn"
    assert (final.usage.input_tokens, final.usage.output_tokens) == (9, 3)

    # The wire itself, event by event, as Anthropic sends it.
    upstream.script(Reply(chunks=["a", "b"], prompt_tokens=5, completion_tokens=2))
    body = {"model": "chat-model", "max_tokens": 50, "messages": USER, "stream": True}
    response = gateway.client.post("/v1/messages", json=body, headers={"x-api-key": KEY})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = sse_events(response.text)
    assert [name for name, _ in events] == [
        "message_start",
        "ping",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    start = events[0][1]["message"]
    assert start["role"] == "assistant" and start["content"] == [] and start["stop_reason"] is None
    assert events[2][1]["content_block"] == {"type": "text", "text": ""}
    assert events[3][1]["delta"] == {"type": "text_delta", "text": "a"}
    assert events[6][1]["usage"] == {"input_tokens": 5, "output_tokens": 2}


# --- tools -------------------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "json"])
def test_tool_use_round_trip(
    client: anthropic.Anthropic, upstream: FakeUpstream, stream: bool
) -> None:
    call = FakeToolCall("lookup_order", '{"order_id": "A-17"}', pieces=3)
    upstream.script(Reply(chunks=["Let me look."], tool_calls=[call]))
    question: list[Any] = [{"role": "user", "content": "where is my order A-17?"}]
    request: dict[str, Any] = {
        "model": "chat-model",
        "max_tokens": 200,
        "tools": [LOOKUP_TOOL],
        "tool_choice": {"type": "auto", "disable_parallel_tool_use": True},
    }

    if stream:
        with client.messages.stream(messages=question, **request) as events:
            first = events.get_final_message()
    else:
        first = client.messages.create(messages=question, **request)

    assert [block.type for block in first.content] == ["text", "tool_use"]
    tool_use = first.content[1]
    assert tool_use.type == "tool_use"
    assert (tool_use.id, tool_use.name, tool_use.input) == (
        call.id,
        "lookup_order",
        {"order_id": "A-17"},
    )
    assert first.stop_reason == "tool_use"
    assert len(upstream.requests) == 1  # nothing was executed here
    sent = upstream.requests[0]
    assert sent["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "lookup_order",
                "description": "Find an order",
                "parameters": LOOKUP_TOOL["input_schema"],
            },
        }
    ]
    assert sent["tool_choice"] == "auto" and sent["parallel_tool_calls"] is False

    # The client runs the tool and sends the SDK's own assistant message back with its result.
    upstream.script(Reply(chunks=["It has shipped."]))
    second = client.messages.create(
        messages=[
            *question,
            {"role": "assistant", "content": first.content},
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": call.id,
                        "content": '{"status":"shipped"}',
                    },
                    {"type": "text", "text": "thanks"},
                ],
            },
        ],
        **request,
    )

    assert second.content[0].text == "It has shipped."  # type: ignore[union-attr]
    assert second.stop_reason == "end_turn"
    messages = upstream.requests[-1]["messages"]
    assert messages[1] == {
        "role": "assistant",
        "content": "Let me look.",
        "tool_calls": [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": "lookup_order", "arguments": '{"order_id": "A-17"}'},
            }
        ],
    }
    assert messages[2] == {
        "role": "tool",
        "tool_call_id": call.id,
        "content": '{"status":"shipped"}',
    }
    assert messages[3] == {"role": "user", "content": [{"type": "text", "text": "thanks"}]}


def test_tool_choice_and_tool_results_as_blocks_reach_the_provider(
    client: anthropic.Anthropic, upstream: FakeUpstream
) -> None:
    tool_calls = {"id": "toolu_1", "name": "lookup_order", "input": {"order_id": "A-17"}}
    client.messages.create(
        model="chat-model",
        max_tokens=50,
        tools=[LOOKUP_TOOL],  # type: ignore[list-item]
        tool_choice={"type": "tool", "name": "lookup_order"},
        messages=[
            {"role": "user", "content": "A-17?"},
            {"role": "assistant", "content": [{"type": "tool_use", **tool_calls}]},
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_1",
                        "is_error": True,
                        "content": [
                            {"type": "text", "text": "order service down"},
                            {
                                "type": "image",
                                "source": {
                                    "type": "base64",
                                    "media_type": "image/png",
                                    "data": PNG_BASE64,
                                },
                            },
                        ],
                    }
                ],
            },
        ],
    )

    sent = upstream.requests[-1]
    assert sent["tool_choice"] == {"type": "function", "function": {"name": "lookup_order"}}
    assert sent["messages"][1]["tool_calls"][0]["id"] == "toolu_1"
    # An OpenAI-shaped tool message holds text: the error is said in it, the image follows.
    assert sent["messages"][2] == {
        "role": "tool",
        "tool_call_id": "toolu_1",
        "content": "Error: order service down",
    }
    assert sent["messages"][3] == {
        "role": "user",
        "content": [
            {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG_BASE64}"}}
        ],
    }


def test_images_and_system_blocks_reach_the_provider_as_content_parts(
    client: anthropic.Anthropic, upstream: FakeUpstream
) -> None:
    client.messages.create(
        model="chat-model",
        max_tokens=50,
        system=[{"type": "text", "text": "be brief", "cache_control": {"type": "ephemeral"}}],
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "what are these?"},
                    {
                        "type": "image",
                        "source": {"type": "base64", "media_type": "image/png", "data": PNG_BASE64},
                    },
                    {
                        "type": "image",
                        "source": {"type": "url", "url": "https://example.com/a.jpg"},
                    },
                ],
            }
        ],
    )

    assert upstream.requests[-1]["messages"] == [
        {
            "role": "system",
            "content": [
                {"type": "text", "text": "be brief", "cache_control": {"type": "ephemeral"}}
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "what are these?"},
                {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG_BASE64}"}},
                {"type": "image_url", "image_url": {"url": "https://example.com/a.jpg"}},
            ],
        },
    ]


# --- thinking, stop sequences, max tokens ------------------------------------------------------


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "json"])
def test_reasoning_arrives_as_a_thinking_block(
    client: anthropic.Anthropic, upstream: FakeUpstream, stream: bool
) -> None:
    upstream.script(Reply(reasoning=["Six times ", "seven."], chunks=["42"]))
    request: dict[str, Any] = {
        "model": "chat-model",
        "max_tokens": 2048,
        "messages": [{"role": "user", "content": "6*7?"}],
        "thinking": {"type": "enabled", "budget_tokens": 1024},
    }

    if stream:
        with client.messages.stream(**request) as events:
            thinking = "".join(e.thinking for e in events if e.type == "thinking")
            message = events.get_final_message()
        assert thinking == "Six times seven."
    else:
        message = client.messages.create(**request)

    assert [block.type for block in message.content] == ["thinking", "text"]
    assert message.content[0].thinking == "Six times seven."  # type: ignore[union-attr]
    assert message.content[-1].text == "42"  # type: ignore[union-attr]
    # LiteLLM refuses `thinking` for an OpenAI-shaped provider: the door leaves it out there.
    assert "thinking" not in upstream.requests[-1]

    # The SDK's message goes back as history, thinking block and all.
    upstream.script(Reply(chunks=["Yes."]))
    again = client.messages.create(
        model="chat-model",
        max_tokens=2048,
        messages=[
            *request["messages"],
            {"role": "assistant", "content": message.content},
            {"role": "user", "content": "sure?"},
        ],
    )
    assert again.content[0].text == "Yes."  # type: ignore[union-attr]
    assert upstream.requests[-1]["messages"][1] == {"role": "assistant", "content": "42"}


def test_thinking_is_passed_to_litellm_for_a_provider_that_takes_it(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream
) -> None:
    # vLLM behind LiteLLM's hosted_vllm provider: LiteLLM translates `thinking` for it.
    config = config_for(upstream)
    config["model_list"].append(model_entry("vllm-model", upstream, model="hosted_vllm/fake-model"))
    gateway = start_gateway(config, api_keys=f"sdk:{KEY}")
    client = anthropic.Anthropic(base_url=gateway.url, api_key=KEY, max_retries=0)
    upstream.script(Reply(reasoning=["Hm."], chunks=["42"]))

    message = client.messages.create(
        model="vllm-model",
        max_tokens=2048,
        messages=USER,
        thinking={"type": "enabled", "budget_tokens": 1024},
    )

    assert message.content[-1].text == "42"  # type: ignore[union-attr]
    assert upstream.requests[-1]["reasoning_effort"] == "low"  # LiteLLM's form of 1024 tokens


def test_stop_sequences_reach_the_provider_and_a_cut_answer_says_max_tokens(
    client: anthropic.Anthropic, upstream: FakeUpstream
) -> None:
    message = client.messages.create(
        model="chat-model", max_tokens=50, messages=USER, stop_sequences=["END", "STOP"]
    )
    assert upstream.requests[-1]["stop"] == ["END", "STOP"]
    # An OpenAI-shaped finish says `stop` for a stop sequence and a natural end alike.
    assert message.stop_reason == "end_turn"

    upstream.script(Reply(chunks=["cut sh"], finish_reason="length"))
    with client.messages.stream(model="chat-model", max_tokens=2, messages=USER) as stream:
        final = stream.get_final_message()
    assert final.stop_reason == "max_tokens"
    assert final.content[0].text == "cut sh"  # type: ignore[union-attr]


# --- errors ------------------------------------------------------------------------------------


def test_errors_before_the_first_byte_use_anthropic_shapes_and_sdk_classes(
    client: anthropic.Anthropic, gateway: Gateway, upstream: FakeUpstream
) -> None:
    wrong = anthropic.Anthropic(base_url=gateway.url, api_key="wrong-key-0000000000", max_retries=0)
    with pytest.raises(anthropic.AuthenticationError) as refused:
        wrong.messages.create(model="chat-model", max_tokens=10, messages=USER)
    assert refused.value.body == {
        "type": "error",
        "error": {"type": "authentication_error", "message": "the API key is not valid"},
    }

    with pytest.raises(anthropic.NotFoundError) as missing:
        client.messages.create(model="nope", max_tokens=10, messages=USER)
    error = refused_error(missing.value)
    assert error["type"] == "not_found_error" and "chat-model" in error["message"]

    # max_tokens is required, as on Anthropic's API (the SDK's typed call cannot leave it out).
    with pytest.raises(anthropic.BadRequestError) as no_max:
        client.post("/v1/messages", body={"model": "chat-model", "messages": USER}, cast_to=Message)
    error = refused_error(no_max.value)
    assert error == {"type": "invalid_request_error", "message": "max_tokens: field required"}

    with pytest.raises(anthropic.BadRequestError) as bad_block:
        client.messages.create(
            model="chat-model",
            max_tokens=10,
            messages=[
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "image",
                            "source": {"type": "base64", "media_type": "image/bmp", "data": "x"},
                        }
                    ],
                }
            ],
        )
    assert refused_error(bad_block.value)["message"].startswith(
        "messages[0].content[0].source.media_type: Input should be 'image/jpeg'"
    )

    upstream.script(Fault(500, "kaboom"))
    with pytest.raises(anthropic.InternalServerError) as failed:
        client.messages.create(model="chat-model", max_tokens=10, messages=USER)
    assert failed.value.status_code == 502
    assert refused_error(failed.value) == {"type": "api_error", "message": failed_message(failed)}

    upstream.script(Fault(429, "slow down", headers={"retry-after": "7"}))
    with pytest.raises(anthropic.RateLimitError) as limited:
        client.messages.create(model="chat-model", max_tokens=10, messages=USER)
    assert refused_error(limited.value)["type"] == "rate_limit_error"
    assert len(upstream.requests) == 2  # only the two upstream faults reached it


def refused_error(exc: anthropic.APIStatusError) -> dict[str, Any]:
    assert isinstance(exc.body, dict) and exc.body["type"] == "error"
    error: dict[str, Any] = exc.body["error"]
    return error


def failed_message(failed: pytest.ExceptionInfo[anthropic.InternalServerError]) -> str:
    message = refused_error(failed.value)["message"]
    assert "kaboom" in message
    return str(message)


@pytest.mark.parametrize("reader", ["raw", "accumulated"])
def test_an_upstream_failure_after_the_first_byte_is_an_error_event(
    client: anthropic.Anthropic, upstream: FakeUpstream, reader: str
) -> None:
    upstream.script(Reply(chunks=["a", "b", "c", "d"], cut_after=3))

    with pytest.raises(anthropic.APIStatusError) as failed:
        if reader == "raw":
            for _ in client.messages.create(
                model="chat-model", max_tokens=10, messages=USER, stream=True
            ):
                pass
        else:
            with client.messages.stream(model="chat-model", max_tokens=10, messages=USER) as s:
                s.get_final_message()

    body = refused_error(failed.value)
    assert body["type"] == "api_error" and body["message"]
    assert "Traceback" not in body["message"]


def test_a_client_disconnect_closes_the_provider_stream(
    client: anthropic.Anthropic, upstream: FakeUpstream
) -> None:
    upstream.script(Reply(chunks=[f"{i} " for i in range(100)], chunk_delay=0.1))

    with client.messages.stream(model="chat-model", max_tokens=500, messages=USER) as stream:
        next(iter(stream.text_stream))
    # Leaving the block closed the response; ten seconds of stream were left at the upstream.
    assert upstream.wait_for_disconnect(timeout=3), "the gateway kept reading from the upstream"
    assert upstream.completed_streams == 0


def test_the_request_log_names_the_protocol_and_the_key(
    gateway: Gateway, upstream: FakeUpstream, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="gateway.request")
    for stream in (True, False):
        upstream.script(Reply(chunks=["ok"], prompt_tokens=4, completion_tokens=1))
        body = {"model": "chat-model", "max_tokens": 10, "messages": USER, "stream": stream}
        response = gateway.client.post("/v1/messages", json=body, headers={"x-api-key": KEY})
        assert response.status_code == 200
    lines = [r.fields for r in caplog.records if r.name == "gateway.request"]  # type: ignore[attr-defined]
    assert [(line["protocol"], line["stream"]) for line in lines] == [
        ("anthropic-sse", True),
        ("anthropic-json", False),
    ]
    assert all(line["key"] == "sdk" and line["finish_reason"] == "stop" for line in lines)
    assert all((line["prompt_tokens"], line["completion_tokens"]) == (4, 1) for line in lines)


def _body(**fields: Any) -> dict[str, Any]:
    return {"model": "chat-model", "max_tokens": 10, "messages": USER, **fields}


def _user_blocks(*blocks: dict[str, Any]) -> dict[str, Any]:
    return _body(messages=[{"role": "user", "content": list(blocks)}])


# A client's mistake, and what the 400's message says about it.
CLIENT_MISTAKES: list[tuple[Any, str]] = [
    ([], "body: must be a JSON object, not an array"),
    (_body(messages=[]), "messages: List should have at least 1 item"),
    (_body(max_tokens=0), "max_tokens: Input should be greater than or equal to 1"),
    (_body(messages=[{"role": "system", "content": "x"}]), "messages[0].role: Input should be"),
    (_body(temperature=1.5), "temperature: Input should be less than or equal to 1"),
    (_body(tools=[{"name": "x"}]), "tools[0].input_schema: field required"),
    (
        _body(tools=[{"type": "web_search_20250305", "name": "web_search"}]),
        "tools[0].input_schema: field required",
    ),
    (
        _body(
            tools=[{"type": "bash_20250124", "name": "bash", "input_schema": {"type": "object"}}]
        ),
        "tools[0].type: Input should be 'custom'",
    ),
    (
        _body(tool_choice={"type": "tool", "name": "absent"}),
        "tool_choice.name: 'absent' is not one of the request's tools (none)",
    ),
    (_body(tool_choice={"type": "tool"}), "tool_choice: Field required: name (for type 'tool')"),
    (
        _body(thinking={"type": "enabled"}),
        "thinking: Field required: budget_tokens (for type 'enabled')",
    ),
    (
        _body(thinking={"type": "enabled", "budget_tokens": 100}),
        "thinking.budget_tokens: Input should be greater than or equal to 1024",
    ),
    (
        _user_blocks({"type": "tool_use", "id": "t", "name": "n", "input": {}}),
        "messages[0]: a user message cannot hold a 'tool_use' block",
    ),
    (
        _user_blocks({"type": "document", "source": {}}),
        "messages[0].content[0].type: Input should be 'text', 'image',",
    ),
    (_user_blocks({"type": "image"}), "messages[0].content[0]: Field required: source"),
    (
        _user_blocks({"type": "image", "source": {"type": "base64", "data": "x"}}),
        "messages[0].content[0].source: Field required: media_type (for type 'base64')",
    ),
    (
        _user_blocks({"type": "tool_result", "tool_use_id": "t", "content": [{"type": "x"}]}),
        "messages[0].content[0].content[0].type: Input should be 'text' or 'image'",
    ),
    (_body(system={"text": "x"}), "system: Input should be a string or a list of text blocks"),
]


@pytest.mark.parametrize(("body", "needle"), CLIENT_MISTAKES)
def test_a_client_mistake_is_a_400_naming_the_field(
    gateway: Gateway, upstream: FakeUpstream, body: Any, needle: str
) -> None:
    response = gateway.client.post("/v1/messages", json=body, headers={"x-api-key": KEY})

    assert response.status_code == 400, response.text
    error = response.json()
    assert error["type"] == "error" and error["error"]["type"] == "invalid_request_error"
    assert needle in error["error"]["message"]
    assert upstream.requests == []


def test_a_body_that_is_not_json_is_a_400(gateway: Gateway) -> None:
    garbled = gateway.client.post(
        "/v1/messages",
        content=b"{not json",
        headers={"x-api-key": KEY, "content-type": "application/json"},
    )
    assert garbled.status_code == 400
    assert garbled.json()["error"]["type"] == "invalid_request_error"
