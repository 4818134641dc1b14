"""Every character a request carries counts against GATEWAY_MAX_TOTAL_CHARS, on every door, and
a `previous_response_id` chain cannot grow past the caps: what a continuation resends counts,
and a stored response is capped in bytes (gateway.chats.max_bytes). Official SDKs as clients,
the in-process store and a real redis-server."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import anthropic
import openai
import pytest
import redis

from tests.support.configs import config_for
from tests.support.fake_upstream import FakeUpstream, Reply
from tests.support.gateways import Gateway
from tests.support.redis_server import RedisServer

UI = "?protocol=ui-message-stream"


@pytest.fixture(params=["memory", "redis"])
def store(request: pytest.FixtureRequest, redis_server: RedisServer) -> dict[str, str]:
    return {"redis_url": redis_server.url} if request.param == "redis" else {}


def sdk(gateway: Gateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="unused", max_retries=0)


def megabyte_turn(n: int) -> list[dict[str, Any]]:
    """About 0.9 MiB of input, none of it message text: a function call's arguments and a
    file's data (a request body may hold 1 MiB)."""
    return [
        {
            "type": "function_call",
            "call_id": f"call_{n}",
            "name": "lookup_order",
            "arguments": '{"blob": "' + "x" * 450_000 + '"}',
        },
        {"type": "function_call_output", "call_id": f"call_{n}", "output": "ok"},
        {
            "role": "user",
            "content": [
                {"type": "input_text", "text": "next"},
                {
                    "type": "input_file",
                    "filename": f"part-{n}.pdf",
                    "file_data": "data:application/pdf;base64," + "A" * 450_000,
                },
            ],
        },
    ]


def stored_bytes(redis_server: RedisServer, response_ids: list[str]) -> list[int]:
    keys = redis.Redis(port=redis_server.port)
    return [int(keys.strlen(f"gateway:response:{{{rid}}}")) for rid in response_ids]


def test_a_chain_of_megabyte_requests_is_refused_once_it_passes_the_cap(
    start_gateway: Callable[..., Gateway],
    upstream: FakeUpstream,
    redis_server: RedisServer,
    store: dict[str, str],
) -> None:
    """The issue's reproduction: 30 chained requests of ~1 MiB were all 200, the last record
    29 MB. Now the first is answered, and every continuation of it (1.8 million characters to
    resend) is a 413 naming the cap: nothing more is stored or sent on."""
    client = sdk(start_gateway(config_for(upstream), **store))
    first = client.responses.create(model="chat-model", input=megabyte_turn(0))  # type: ignore[arg-type]
    for n in range(1, 30):
        with pytest.raises(openai.APIStatusError) as refused:
            client.responses.create(
                model="chat-model",
                input=megabyte_turn(n),  # type: ignore[arg-type]
                previous_response_id=first.id,
            )
        assert refused.value.status_code == 413 and refused.value.code == "request_too_large"
        assert "over the limit of 1000000 (GATEWAY_MAX_TOTAL_CHARS)" in refused.value.message
    assert len(upstream.requests) == 1  # refused before any provider call
    assert client.responses.retrieve(first.id).status == "completed"
    if store:
        (size,) = stored_bytes(redis_server, [first.id])
        assert 900_000 < size < 1024 * 1024


def test_a_stored_response_is_capped_in_bytes_and_redis_stays_bounded(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream, redis_server: RedisServer
) -> None:
    cap = 64 * 1024
    config = config_for(upstream, gateway={"chats": {"max_bytes": cap}})
    client = sdk(start_gateway(config, redis_url=redis_server.url, max_total_chars=10_000_000))
    made: list[str] = []
    refusal = None
    for _ in range(30):
        try:
            made.append(
                client.responses.create(
                    model="chat-model",
                    input="y" * 20_000,
                    previous_response_id=made[-1] if made else None,
                ).id
            )
        except openai.APIStatusError as exc:
            refusal = exc
            break
    assert refusal is not None and refusal.status_code == 413
    assert f"over the limit of {cap} (gateway.chats.max_bytes)" in refusal.message
    found = re.search(r"stored in (\d+) bytes", refusal.message)
    assert found is not None and int(found.group(1)) > cap
    sizes = stored_bytes(redis_server, made)
    assert len(made) >= 2 and sizes == sorted(sizes) and max(sizes) <= cap
    assert len(upstream.requests) == len(made)

    # What is refused with `store` is answered without it: store: false keeps nothing.
    unstored = client.responses.create(
        model="chat-model", input="y" * 20_000, previous_response_id=made[-1], store=False
    )
    assert unstored.status == "completed" and unstored.store is False


def test_an_answer_that_takes_its_record_over_the_cap_is_given_and_not_kept(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream, store: dict[str, str]
) -> None:
    config = config_for(upstream, gateway={"chats": {"max_bytes": 4096}})
    client = sdk(start_gateway(config, **store))
    upstream.script(Reply(chunks=["z" * 5000]), Reply(chunks=["z" * 5000]))

    answered = client.responses.create(model="chat-model", input="say a lot")
    assert answered.output_text == "z" * 5000 and answered.store is False
    events = list(client.responses.create(model="chat-model", input="again", stream=True))
    assert events[0].response.store is True  # type: ignore[union-attr]
    assert events[-1].type == "response.completed" and events[-1].response.store is False
    for response_id in (answered.id, events[-1].response.id):
        with pytest.raises(openai.NotFoundError):
            client.responses.retrieve(response_id)


ARGS = '{"note": "' + "n" * 1500 + '"}'
DATA_URL = "data:application/pdf;base64," + "A" * 1500
IMAGE_URL = "data:image/png;base64," + "i" * 1500


def tool_history_chat_completions() -> list[dict[str, Any]]:
    return [
        {"role": "user", "content": "go"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "note", "arguments": ARGS}}
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "ok"},
        {"role": "user", "content": "and?"},
    ]


@pytest.fixture
def capped(start_gateway: Callable[..., Gateway], upstream: FakeUpstream) -> Gateway:
    return start_gateway(config_for(upstream), max_total_chars=1000)


def assert_names_the_cap(message: str) -> None:
    assert "over the limit of 1000 (GATEWAY_MAX_TOTAL_CHARS)" in message, message


@pytest.mark.parametrize(
    "messages",
    [
        tool_history_chat_completions(),
        [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": IMAGE_URL}}]}],
        [
            {
                "role": "user",
                "content": [{"type": "file", "file": {"filename": "a.pdf", "file_data": DATA_URL}}],
            }
        ],
    ],
    ids=["tool_calls arguments", "image data URL", "file data"],
)
def test_chat_completions_count_tool_arguments_and_file_data(
    capped: Gateway, upstream: FakeUpstream, messages: list[dict[str, Any]]
) -> None:
    with pytest.raises(openai.APIStatusError) as refused:
        sdk(capped).chat.completions.create(model="chat-model", messages=messages)  # type: ignore[arg-type]
    assert refused.value.status_code == 413 and refused.value.code == "request_too_large"
    assert_names_the_cap(refused.value.message)
    assert upstream.requests == []


@pytest.mark.parametrize(
    "items",
    [
        [
            {"type": "function_call", "call_id": "c1", "name": "note", "arguments": ARGS},
            {"type": "function_call_output", "call_id": "c1", "output": "ok"},
        ],
        [{"role": "user", "content": [{"type": "input_file", "file_data": DATA_URL}]}],
        [{"role": "user", "content": [{"type": "input_image", "image_url": IMAGE_URL}]}],
    ],
    ids=["function_call arguments", "input_file data", "input_image data URL"],
)
def test_responses_count_function_call_arguments_and_file_data(
    capped: Gateway, upstream: FakeUpstream, items: list[dict[str, Any]]
) -> None:
    with pytest.raises(openai.APIStatusError) as refused:
        sdk(capped).responses.create(model="chat-model", input=items)  # type: ignore[arg-type]
    assert refused.value.status_code == 413 and refused.value.code == "request_too_large"
    assert_names_the_cap(refused.value.message)
    assert upstream.requests == []


def test_messages_count_tool_use_input(capped: Gateway, upstream: FakeUpstream) -> None:
    client = anthropic.Anthropic(base_url=capped.url, api_key="unused", max_retries=0)
    with pytest.raises(anthropic.APIStatusError) as refused:
        client.messages.create(
            model="chat-model",
            max_tokens=50,
            messages=[
                {"role": "user", "content": "go"},
                {
                    "role": "assistant",
                    "content": [
                        {"type": "tool_use", "id": "t1", "name": "note", "input": {"n": "n" * 1500}}
                    ],
                },
                {
                    "role": "user",
                    "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "ok"}],
                },
            ],
        )
    assert refused.value.status_code == 413
    assert refused.value.body["error"]["type"] == "request_too_large"  # type: ignore[index]
    assert_names_the_cap(refused.value.message)
    assert upstream.requests == []


@pytest.mark.parametrize(
    "parts",
    [
        [
            {
                "type": "tool-note",
                "toolCallId": "t1",
                "state": "output-available",
                "input": {"n": "n" * 1500},
                "output": "ok",
            },
            {"type": "text", "text": "noted"},
        ],
        [{"type": "file", "mediaType": "application/pdf", "url": DATA_URL}],
    ],
    ids=["tool part input", "file part data URL"],
)
def test_ui_messages_count_tool_parts_and_file_parts(
    capped: Gateway, upstream: FakeUpstream, parts: list[dict[str, Any]]
) -> None:
    role = "assistant" if parts[0]["type"].startswith("tool-") else "user"
    messages = [
        {"id": "u1", "role": "user", "parts": [{"type": "text", "text": "go"}]},
        {"id": "m1", "role": role, "parts": parts},
        {"id": "u2", "role": "user", "parts": [{"type": "text", "text": "and?"}]},
    ]
    for body in (
        {"model": "chat-model", "messages": messages},  # the whole history, no id
        {"id": "capped-chat", "model": "chat-model", "messages": messages},  # a chat by id
    ):
        refused = capped.client.post("/api/chat" + UI, json=body)
        assert refused.status_code == 413, refused.text
        assert refused.json()["error"]["type"] == "request_too_large"
        assert_names_the_cap(refused.json()["error"]["message"])
    assert upstream.requests == []
