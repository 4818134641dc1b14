"""Provider registry: LiteLLM's built-in providers plus the gateway's offline demo model.

The demo provider is registered through LiteLLM's own custom-provider mechanism, so a request to
`demo/...` still runs through `Router.acompletion` and LiteLLM's stream wrapper: the first run of
the gateway exercises the real path with no key and no network.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from functools import cache
from typing import Any

import litellm
from litellm.llms.custom_llm import CustomLLM
from litellm.types.utils import Choices, GenericStreamingChunk, Message, ModelResponse, Usage

DEMO_PROVIDER = "demo"

_CJK_OR_WORD = re.compile(r"[\u3000-\u9fff\uff00-\uffef]|\s*[^\s\u3000-\u9fff\uff00-\uffef]+\s*")
_LOCATION = re.compile(r"\b(?:in|at|for)\s+([A-Za-z][A-Za-z .'-]{1,40})", re.IGNORECASE)


@dataclass(frozen=True)
class DemoTurn:
    text: str = ""
    tool_name: str | None = None
    tool_args: dict[str, Any] | None = None


def demo_turn(messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> DemoTurn:
    """What the demo model says: deterministic, and able to call a tool when one fits."""
    last = messages[-1] if messages else {"role": "user", "content": ""}
    if last.get("role") == "tool":
        results = [str(m.get("content", "")) for m in _trailing_tool_messages(messages)]
        return DemoTurn(text="The tools returned: " + "; ".join(results))
    user_text = _text_of(last)
    offered = {t.get("function", {}).get("name") for t in tools or []}
    if "get_weather" in offered and "weather" in user_text.lower():
        match = _LOCATION.search(user_text)
        location = match.group(1).strip(" .") if match else "Berlin"
        return DemoTurn(tool_name="get_weather", tool_args={"location": location})
    if "current_time" in offered and "time" in user_text.lower():
        return DemoTurn(tool_name="current_time", tool_args={})
    return DemoTurn(
        text=f"You said: {user_text}\n\nThis answer comes from the offline demo model. "
        "Map chat-model to a real provider in litellm_config.yaml to talk to an LLM."
    )


def _trailing_tool_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    trailing = []
    for message in reversed(messages):
        if message.get("role") != "tool":
            break
        trailing.append(message)
    return list(reversed(trailing))


def _text_of(message: dict[str, Any]) -> str:
    content = message.get("content") or ""
    if isinstance(content, list):
        return " ".join(part.get("text", "") for part in content if isinstance(part, dict))
    return str(content)


def _usage(messages: list[dict[str, Any]], completion_pieces: int) -> dict[str, int]:
    prompt = sum(len(_CJK_OR_WORD.findall(_text_of(m))) for m in messages)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion_pieces,
        "total_tokens": prompt + completion_pieces,
    }


class DemoLLM(CustomLLM):
    """An offline, deterministic model that streams text word by word and can call tools."""

    async def acompletion(self, *args: Any, **kwargs: Any) -> ModelResponse:  # type: ignore[override]
        messages, tools = kwargs["messages"], kwargs["optional_params"].get("tools")
        turn = demo_turn(messages, tools)
        message = Message(content=turn.text or None, role="assistant")
        finish_reason = "stop"
        if turn.tool_name:
            message = Message(
                content=None,
                role="assistant",
                tool_calls=[
                    {
                        "id": f"call_{uuid.uuid4().hex[:12]}",
                        "type": "function",
                        "function": {
                            "name": turn.tool_name,
                            "arguments": json.dumps(turn.tool_args),
                        },
                    }
                ],
            )
            finish_reason = "tool_calls"
        pieces = len(_CJK_OR_WORD.findall(turn.text)) if turn.text else 1
        return ModelResponse(
            model=kwargs.get("model", "demo"),
            created=int(time.time()),
            choices=[Choices(index=0, message=message, finish_reason=finish_reason)],
            usage=Usage(**_usage(messages, pieces)),
        )

    async def astreaming(self, *args: Any, **kwargs: Any) -> AsyncIterator[GenericStreamingChunk]:  # type: ignore[override]
        messages, tools = kwargs["messages"], kwargs["optional_params"].get("tools")
        turn = demo_turn(messages, tools)
        if turn.tool_name:
            yield {
                "text": "",
                "tool_use": {
                    "id": f"call_{uuid.uuid4().hex[:12]}",
                    "type": "function",
                    "function": {"name": turn.tool_name, "arguments": json.dumps(turn.tool_args)},
                    "index": 0,
                },
                "is_finished": True,
                "finish_reason": "tool_calls",
                "usage": _usage(messages, 1),  # type: ignore[typeddict-item]
                "index": 0,
            }
            return
        pieces = _CJK_OR_WORD.findall(turn.text)
        for piece in pieces:
            yield {
                "text": piece,
                "tool_use": None,
                "is_finished": False,
                "finish_reason": "",
                "usage": None,
                "index": 0,
            }
        yield {
            "text": "",
            "tool_use": None,
            "is_finished": True,
            "finish_reason": "stop",
            "usage": _usage(messages, len(pieces)),  # type: ignore[typeddict-item]
            "index": 0,
        }


def register_providers() -> None:
    """Make the demo provider known to LiteLLM (idempotent)."""
    if not any(item["provider"] == DEMO_PROVIDER for item in litellm.custom_provider_map):
        litellm.custom_provider_map.append({"provider": DEMO_PROVIDER, "custom_handler": DemoLLM()})
    litellm.utils.custom_llm_setup()


@cache
def _builtin_providers() -> frozenset[str]:
    return frozenset(str(getattr(p, "value", p)) for p in litellm.provider_list)


def known_providers() -> frozenset[str]:
    return (
        _builtin_providers()
        | {item["provider"] for item in litellm.custom_provider_map}
        | {DEMO_PROVIDER}
    )
