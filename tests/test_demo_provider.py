"""The offline demo model: served through LiteLLM's custom-provider path, no key, no network."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

import yaml

from gateway.config import load_config
from gateway.engine import build_router
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
