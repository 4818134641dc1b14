"""Every answer ends with a finish that tells the truth, with the provider's own (scrubbed) words.

Each test drives the real LiteLLM path against the fake upstream on loopback.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable

import httpx
import openai
import pytest

from tests.support.configs import UPSTREAM_KEY, config_for, model_entry, tool_config
from tests.support.fake_upstream import FakeToolCall, FakeUpstream, Fault, Reply
from tests.support.fake_weather import FakeWeather
from tests.support.gateways import Gateway
from tests.support.wire import parse_lines

# Every test here runs on both stream readers (tests/conftest.py, stream_reader).
pytestmark = pytest.mark.usefixtures("stream_reader")

STREAM_PROTOCOLS = ["typed", "data-stream", "ui-message-stream"]


def stream_error_and_finish(response: httpx.Response, protocol: str) -> tuple[str, str, str]:
    """(error type or text, error message, finish reason) as each protocol says them."""
    body = response.text
    if protocol == "typed":
        parts = parse_lines(body)
        errors = [p for code, p in parts if code == "3"]
        finish = [p for code, p in parts if code == "d"]
        assert parts[-1][0] == "d"
        return errors[0]["error"], errors[0]["error"], finish[-1]["finishReason"]
    if protocol == "data-stream":
        lines = [line for line in body.splitlines() if line]
        errors = [json.loads(line[2:]) for line in lines if line.startswith("3:")]
        finish = json.loads(lines[-1][2:])
        assert lines[-1].startswith("d:")
        return errors[0], errors[0], finish["finishReason"]
    chunks = [
        json.loads(line[6:])
        for line in body.splitlines()
        if line.startswith("data: ") and line != "data: [DONE]"
    ]
    errors = [c for c in chunks if c["type"] == "error"]
    finish = [c for c in chunks if c["type"] == "finish"]
    assert body.rstrip().endswith("data: [DONE]")
    return errors[0]["errorText"], errors[0]["errorText"], finish[-1].get("finishReason", "")


# --- item 1: a stream the provider did not finish is an error, never a silent `stop` -------------


@pytest.mark.parametrize("protocol", STREAM_PROTOCOLS)
@pytest.mark.parametrize(
    "fault",
    [
        Reply(chunks=["Half", " an", " answer"], end_after=3),  # no finish chunk, no [DONE]
        Fault(status=200, body=b"", content_type="text/event-stream"),  # an empty 200
    ],
    ids=["ends-without-finish", "empty-body"],
)
def test_an_unfinished_stream_ends_with_an_error_on_every_protocol(
    gateway_for: Gateway, upstream: FakeUpstream, protocol: str, fault: Reply | Fault
) -> None:
    upstream.script(fault)
    response = gateway_for.client.post(
        f"/api/chat?protocol={protocol}",
        json={"model": "chat-model", "messages": [{"role": "user", "content": "hi"}]},
    )
    assert response.status_code == 200
    _, message, finish = stream_error_and_finish(response, protocol)
    assert "without finishing" in message
    assert finish == "error"


def test_an_unfinished_stream_ends_with_an_error_on_v1(
    gateway_for: Gateway, upstream: FakeUpstream
) -> None:
    upstream.script(Reply(chunks=["Half", " an", " answer"], end_after=3))
    client = openai.OpenAI(base_url=f"{gateway_for.url}/v1", api_key="unused", max_retries=0)
    stream = client.chat.completions.create(
        model="chat-model", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    with pytest.raises(openai.APIError, match="without finishing"):
        for _ in stream:
            pass


@pytest.mark.parametrize("door", ["/api/chat", "/v1/chat/completions"])
def test_an_empty_non_streamed_answer_is_an_error_that_says_so(
    gateway_for: Gateway, upstream: FakeUpstream, door: str
) -> None:
    upstream.script(Fault(status=200, body=b""))
    response = gateway_for.client.post(
        door,
        json={
            "model": "chat-model",
            "messages": [{"role": "user", "content": "hi"}],
            "stream": False,
        },
    )
    assert response.status_code == 502
    error = response.json()["error"]
    # Read as JSON it is unreadable; read from a stream (the lean reader) it never finished.
    assert error.get("code", error.get("type")) == "upstream_incomplete"
    assert re.search("empty or unreadable|without finishing", error["message"])


def test_a_cut_answer_is_never_cached(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream
) -> None:
    gateway = start_gateway(
        config_for(upstream, gateway={"cache": {"ttl": 60, "models": ["chat-model"]}})
    )
    upstream.script(Reply(chunks=["Half"], end_after=2))
    first = gateway.chat()
    assert "without finishing" in first.text
    second = gateway.chat()
    assert second.headers["x-cache"] == "miss"
    assert len(upstream.requests) == 2


# --- item 2 and 12: the provider's own message, scrubbed of every form of the key --------------


@pytest.mark.parametrize("stream", [True, False])
def test_the_providers_message_reaches_the_client_and_the_log(
    gateway_for: Gateway,
    upstream: FakeUpstream,
    stream: bool,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level("INFO", logger="gateway.request")
    upstream.script(Fault(status=500, message="quota exhausted for project zebra-42"))
    response = gateway_for.chat(stream=stream)
    assert response.status_code == 502
    error = response.json()["error"]
    assert error["type"] == "upstream_error"
    assert "quota exhausted for project zebra-42" in error["message"]
    (line,) = [r.fields for r in caplog.records if r.name == "gateway.request"]  # type: ignore[attr-defined]
    assert "quota exhausted for project zebra-42" in line["error"]


def _key_forms(key: str) -> list[str]:
    core = key.removeprefix("sk-")
    basic = base64.b64encode(f"user:{key}".encode()).decode()
    bearer = base64.b64encode(f"Bearer {key}".encode()).decode()
    return [key.upper(), core, basic, bearer, f"{key[:8]}**********{key[-3:]}"]


@pytest.mark.parametrize("content_type", ["application/json", "text/plain"])
def test_a_provider_error_body_never_shows_the_key_in_any_form(
    gateway_for: Gateway, upstream: FakeUpstream, content_type: str
) -> None:
    forms = _key_forms(UPSTREAM_KEY)
    said = "bad request: keys " + " / ".join(forms)
    echoed = {"host": "llm-backend.internal.svc:9000", "authorization": f"Bearer {UPSTREAM_KEY}"}
    if content_type == "application/json":
        body = json.dumps({"error": {"message": said}, "echo": {"headers": echoed}}).encode()
    else:
        body = (said + "\n" + "\n".join(f"{k}: {v}" for k, v in echoed.items())).encode()
    upstream.script(Fault(status=400, body=body, content_type=content_type))
    response = gateway_for.chat(stream=False)
    assert response.status_code == 400
    text = response.text
    assert "bad request: keys" in text
    for form in [*forms, UPSTREAM_KEY, "internal.svc", "llm-backend", "0123456789"]:
        assert form.lower() not in text.lower(), form
    # A partial base64 run of the key, at any alignment, is gone too.
    for offset in range(3):
        encoded = base64.b64encode(b"x" * offset + UPSTREAM_KEY.encode()).decode()
        assert encoded[4:16] not in text


# --- item 4: /v1 never runs the gateway's tools ------------------------------------------------


def test_v1_without_tools_is_offered_no_tools_and_runs_none(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream, weather: FakeWeather
) -> None:
    gateway = start_gateway(tool_config(upstream, weather))
    weather_calls = len(weather.queries)
    upstream.script(
        Reply(chunks=[], tool_calls=[FakeToolCall("get_weather", '{"location": "Oslo"}')])
    )
    client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="unused", max_retries=0)
    completion = client.chat.completions.create(
        model="chat-model", messages=[{"role": "user", "content": "weather in Oslo?"}]
    )
    assert "tools" not in upstream.requests[0]
    assert len(upstream.requests) == 1  # nothing was run and sent back
    assert completion.choices[0].finish_reason == "tool_calls"
    assert len(weather.queries) == weather_calls


# --- item 5: a finish reason OpenAI has no word for still ends a /v1 stream ---------------------


def test_a_provider_finish_reason_outside_openais_set_still_ends_a_v1_stream(
    gateway_for: Gateway, upstream: FakeUpstream
) -> None:
    upstream.script(Reply(chunks=["cut", " by the server"], finish_reason="abort"))
    client = openai.OpenAI(base_url=f"{gateway_for.url}/v1", api_key="unused", max_retries=0)
    chunks = list(
        client.chat.completions.create(
            model="chat-model",
            messages=[{"role": "user", "content": "hi"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    finishes = [
        c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason
    ]
    assert finishes == ["stop"]
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens == 18


# --- item 6: tokens are spent however the answer ends ------------------------------------------


def test_tokens_of_finished_tool_steps_are_spent_when_a_later_step_fails(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream, weather: FakeWeather
) -> None:
    config = tool_config(upstream, weather)
    config["gateway"]["rate_limit"] = {"tokens_per_minute": 10}
    gateway = start_gateway(config)
    upstream.script(
        Reply(chunks=[], tool_calls=[FakeToolCall("add", '{"a": 1, "b": 2}')]),  # 18 tokens
        Fault(status=500, message="second step failed"),
    )
    failed = gateway.chat(messages=[{"role": "user", "content": "add 1 and 2"}])
    assert "second step failed" in failed.text
    refused = gateway.chat()
    assert refused.status_code == 429
    assert refused.json()["error"]["type"] == "token_budget_exceeded"


def test_tokens_are_spent_when_the_client_hangs_up_on_the_finish(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream
) -> None:
    config = config_for(upstream)
    config["gateway"] = {"rate_limit": {"tokens_per_minute": 10}}
    gateway = start_gateway(config)
    body = {"model": "chat-model", "messages": [{"role": "user", "content": "hi"}]}
    with (
        httpx.Client(base_url=gateway.url) as client,
        client.stream("POST", "/api/chat", json=body) as response,
    ):
        for line in response.iter_lines():
            if line.startswith("d:"):
                break  # and hang up
    refused = gateway.chat()
    assert refused.status_code == 429


# --- item 7: the assistant turn sent back after tool calls --------------------------------------


def test_the_tool_calling_turn_sent_back_has_empty_text_content(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream, weather: FakeWeather
) -> None:
    gateway = start_gateway(tool_config(upstream, weather))
    upstream.script(Reply(chunks=[], tool_calls=[FakeToolCall("add", '{"a": 1, "b": 2}')]))
    response = gateway.chat(messages=[{"role": "user", "content": "add 1 and 2"}])
    assert response.status_code == 200
    assistant = upstream.requests[1]["messages"][1]
    assert assistant["role"] == "assistant" and assistant["tool_calls"]
    # llama.cpp's chat templates crash on a missing `content`; an empty string works.
    assert assistant["content"] == ""


def test_non_openai_providers_get_no_empty_text_block(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream
) -> None:
    """Anthropic and Gemini translations turn "" into junk text or an empty part: send None."""
    from litellm.litellm_core_utils.prompt_templates.factory import anthropic_messages_pt
    from litellm.llms.vertex_ai.gemini.transformation import (
        _gemini_convert_messages_with_history,
    )

    from gateway.cache import CacheDirective
    from gateway.chat_call import ChatCall
    from gateway.events import ToolCall
    from gateway.tool_loop_messages import assistant_message

    config = config_for(upstream)
    config["model_list"].append(
        {"model_name": "claude", "litellm_params": {"model": "anthropic/claude-x", "api_key": "k"}}
    )
    config["router_settings"]["fallbacks"] = [{"title-model": ["claude"]}]
    gateway = start_gateway(config)
    engine = gateway.app.runtime.engine
    contents = {
        model: engine.prepare(ChatCall(model, []), CacheDirective()).empty_assistant_content
        for model in ("chat-model", "claude", "title-model")
    }
    # title-model falls back to Anthropic, so it gets what Anthropic needs.
    assert contents == {"chat-model": "", "claude": None, "title-model": None}
    turn = assistant_message("", [ToolCall("call_1", "add", {"a": 1}, '{"a": 1}')], None)
    messages = [
        {"role": "user", "content": "add"},
        turn,
        {"role": "tool", "tool_call_id": "call_1", "content": "3"},
    ]
    anthropic = anthropic_messages_pt(messages, model="claude-x", llm_provider="anthropic")
    assert [block["type"] for block in anthropic[1]["content"]] == ["tool_use"]
    gemini = _gemini_convert_messages_with_history(messages=messages, model="gemini-2.0-flash")
    assert all("text" not in part for part in gemini[1]["parts"])


# --- item 8: a lone deployment is not cooled down; a cooldown is a 503 that says so -------------


def test_one_provider_401_does_not_take_a_lone_deployment_out(
    gateway_for: Gateway, upstream: FakeUpstream
) -> None:
    upstream.script(Fault(status=401, message="Incorrect API key provided"))
    assert gateway_for.chat(stream=False).status_code == 502
    following = [gateway_for.chat(stream=stream).status_code for stream in (True, False)]
    assert following == [200, 200]


def test_a_model_whose_deployments_all_cool_down_is_a_503_that_says_so(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream, upstream_b: FakeUpstream
) -> None:
    config = config_for(upstream)
    config["model_list"] = [
        model_entry("chat-model", upstream),
        model_entry("chat-model", upstream_b),
    ]
    gateway = start_gateway(config)
    for fake in (upstream, upstream_b):
        fake.default = Fault(status=401, message="Incorrect API key provided")  # type: ignore[assignment]
    statuses = [gateway.chat(stream=False) for _ in range(3)]
    cooling = statuses[-1]
    assert cooling.status_code == 503, [r.text for r in statuses]
    assert cooling.json()["error"]["type"] == "model_cooling_down"
    assert "cooling down" in cooling.json()["error"]["message"]
    assert int(cooling.headers["retry-after"]) >= 1


@pytest.mark.parametrize("reason", ["other", "stop", "length"])
def test_the_v1_encoder_ends_every_non_error_finish_with_a_finish_and_usage_chunk(
    reason: str,
) -> None:
    """`other` arrives from cached answers and providers read below LiteLLM's wrapper."""
    from gateway.doors.openai_chat.openai_chat_encoder import OpenAIChunkEncoder
    from gateway.events import Finish, Usage

    encoder = OpenAIChunkEncoder("chat-model", include_usage=True)
    data = encoder.encode(Finish(reason, Usage(3, 4)))
    chunks = [json.loads(line[6:]) for line in data.decode().splitlines() if line]
    assert chunks[0]["choices"][0]["finish_reason"] == {"other": "stop"}.get(reason, reason)
    assert chunks[1]["usage"]["total_tokens"] == 7


def test_tool_calling_turns_in_the_clients_history_get_empty_text_content_too(
    gateway_for: Gateway, upstream: FakeUpstream
) -> None:
    """UI-message history (AI SDK 5+) with a finished tool call, sent to an OpenAI-shaped model."""
    history = [
        {"id": "u1", "role": "user", "parts": [{"type": "text", "text": "add 1 and 2"}]},
        {
            "id": "a1",
            "role": "assistant",
            "parts": [
                {"type": "step-start"},
                {
                    "type": "tool-add",
                    "toolCallId": "call_1",
                    "state": "output-available",
                    "input": {"a": 1, "b": 2},
                    "output": 3,
                },
            ],
        },
        {"id": "u2", "role": "user", "parts": [{"type": "text", "text": "thanks"}]},
    ]
    assert gateway_for.chat(messages=history).status_code == 200
    sent = upstream.requests[0]["messages"]
    assert sent[1]["role"] == "assistant" and sent[1]["tool_calls"]
    assert sent[1]["content"] == ""
