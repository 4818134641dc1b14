"""The offline demo model: served through LiteLLM's custom-provider path, no key, no network."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

import httpx
import yaml

from gateway.config import load_config
from gateway.engine import build_router
from tests.ai_sdk import run_data_stream_client, run_ui_message_stream_client
from tests.conftest import Gateway, parse_lines

REPO = Path(__file__).resolve().parent.parent


def test_shipped_config_streams_a_demo_answer(start_gateway: Callable[..., Gateway]) -> None:
    shipped = yaml.safe_load((REPO / "litellm_config.yaml").read_text())
    gateway = start_gateway(shipped)
    response = gateway.chat(messages=[{"role": "user", "content": "你好"}])
    parts = parse_lines(response.text)
    text = "".join(p["textDelta"] for code, p in parts if code == "0")
    assert text.startswith("You said: 你好")
    assert sum(1 for code, _ in parts if code == "0") > 5  # streamed word by word
    assert parts[-1][0] == "d" and parts[-1][1]["usage"]["completionTokens"] > 0


def test_demo_model_emits_a_tool_call_through_litellm() -> None:
    router = build_router(load_config(REPO / "litellm_config.yaml"))
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "parameters": {"type": "object", "properties": {"location": {"type": "string"}}},
            },
        }
    ]

    async def call() -> tuple[list[str], str | None]:
        stream = await router.acompletion(
            model="chat-model",
            messages=[{"role": "user", "content": "weather in Paris?"}],
            tools=tools,
            stream=True,
        )
        arguments, finish = [], None
        async for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.tool_calls:
                arguments += [c.function.arguments for c in chunk.choices[0].delta.tool_calls]
            if chunk.choices and chunk.choices[0].finish_reason:
                finish = chunk.choices[0].finish_reason
        return arguments, finish

    arguments, finish = asyncio.run(call())
    assert json.loads("".join(arguments)) == {"location": "Paris"}
    assert finish == "tool_calls"


def shipped(start_gateway: Callable[..., Gateway]) -> tuple[Gateway, httpx.Client]:
    """A gateway on the shipped config and default settings, and its client."""
    gateway = start_gateway(yaml.safe_load((REPO / "litellm_config.yaml").read_text()))
    assert gateway.client is not None
    return gateway, gateway.client


def test_default_cors_allows_the_dev_server_by_either_name(
    start_gateway: Callable[..., Gateway],
) -> None:
    # `next dev` is reached as localhost:3000 or 127.0.0.1:3000; a browser sees two origins.
    _, client = shipped(start_gateway)
    for origin in ("http://localhost:3000", "http://127.0.0.1:3000"):
        preflight = client.options(
            "/api/chat", headers={"Origin": origin, "Access-Control-Request-Method": "POST"}
        )
        assert preflight.status_code == 200, origin
        assert preflight.headers["access-control-allow-origin"] == origin


REASONING_QUESTION = [{"role": "user", "content": "你好 there"}]


def test_demo_reasoning_model_streams_its_reasoning_before_its_text(
    start_gateway: Callable[..., Gateway],
) -> None:
    _, client = shipped(start_gateway)
    body = {"model": "chat-model-reasoning", "messages": REASONING_QUESTION}

    data = client.post("/api/chat?protocol=data-stream", json=body)
    codes = [line.partition(":")[0] for line in data.text.splitlines()]
    reasoning = "".join(
        json.loads(line[2:]) for line in data.text.splitlines() if line.startswith("g:")
    )
    assert codes.count("g") > 3  # streamed piece by piece
    assert max(i for i, c in enumerate(codes) if c == "g") < codes.index("0")
    assert "你好 there" in reasoning

    ui = client.post("/api/chat?protocol=ui-message-stream", json=body)
    chunks = [json.loads(line[6:]) for line in ui.text.splitlines() if line.startswith("data: {")]
    types = [chunk["type"] for chunk in chunks]
    assert types.index("reasoning-start") < types.index("reasoning-delta")
    assert types.index("reasoning-end") < types.index("text-start")
    ui_reasoning = "".join(c["delta"] for c in chunks if c["type"] == "reasoning-delta")
    assert ui_reasoning == reasoning

    answer = client.post("/api/chat", json={**body, "stream": False}).json()
    assert answer["reasoning"] == reasoning and answer["text"].startswith("You said: 你好")
    plain = client.post("/api/chat", json={**body, "model": "chat-model", "stream": False}).json()
    assert "reasoning" not in plain  # only the reasoning model reasons


def test_demo_reasoning_through_litellm_streamed_and_not() -> None:
    router = build_router(load_config(REPO / "litellm_config.yaml"))

    async def call() -> tuple[str, str, str, str | None]:
        stream = await router.acompletion(
            model="chat-model-reasoning", messages=REASONING_QUESTION, stream=True
        )
        reasoning, text = "", ""
        async for chunk in stream:
            delta = chunk.choices[0].delta if chunk.choices else None
            if delta is not None:
                assert not (text and getattr(delta, "reasoning_content", None))  # reasoning first
                reasoning += getattr(delta, "reasoning_content", None) or ""
                text += delta.content or ""
        whole = await router.acompletion(model="chat-model-reasoning", messages=REASONING_QUESTION)
        message = whole.choices[0].message
        return reasoning, text, message.content, getattr(message, "reasoning_content", None)

    reasoning, text, whole_text, whole_reasoning = asyncio.run(call())
    assert reasoning and whole_reasoning == reasoning
    assert text.startswith("You said: 你好 there") and whole_text == text


def test_the_ai_sdk_reads_the_demo_reasoning(start_gateway: Callable[..., Gateway]) -> None:
    gateway, _ = shipped(start_gateway)
    ui = run_ui_message_stream_client(
        f"{gateway.url}/api/chat?protocol=ui-message-stream",
        {
            "id": "chat-1",
            "trigger": "submit-message",
            "model": "chat-model-reasoning",
            "messages": [
                {"id": "u1", "role": "user", "parts": [{"type": "text", "text": "你好 there"}]}
            ],
        },
    )
    data = run_data_stream_client(
        f"{gateway.url}/api/chat?protocol=data-stream",
        {"model": "chat-model-reasoning", "messages": REASONING_QUESTION},
    )

    assert ui["thrown"] is None and ui["errors"] == [] and ui["invalidChunks"] == []
    kinds = [part["type"] for part in ui["message"]["parts"] if part["type"] != "step-start"]
    assert kinds == ["reasoning", "text"]
    (thought,) = [p["text"] for p in ui["message"]["parts"] if p["type"] == "reasoning"]
    assert "你好 there" in thought
    assert data["thrown"] is None
    assert "".join(p["value"] for p in data["parts"] if p["type"] == "reasoning") == thought
