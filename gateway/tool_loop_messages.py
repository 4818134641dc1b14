"""The turns the tool loop adds to a conversation, in the OpenAI form LiteLLM translates."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from gateway.events import ToolCall, ToolResult


def split_calls(
    calls: Sequence[ToolCall],
    client_runs_tools: bool,
    client_tools: frozenset[str],
    server_tools: Mapping[str, Any],
) -> tuple[list[ToolCall], list[ToolCall]]:
    """A step's calls the gateway runs, and those the client runs (it was sent them, and the
    answer ends). Where the client runs tools and the gateway runs none, every call is the
    client's, named in its tools or not; where both run some, a call not in the client's tools
    is the gateway's (one the model invented becomes an error result, as on every door)."""
    if not client_runs_tools:
        return list(calls), []
    if not server_tools:
        return [], list(calls)
    theirs = [call for call in calls if call.tool_name in client_tools]
    return [call for call in calls if call.tool_name not in client_tools], theirs


def assistant_message(
    text: str, calls: list[ToolCall], empty_content: str | None
) -> dict[str, Any]:
    """The assistant turn that asked for tools, in the OpenAI form LiteLLM translates."""
    return {
        "role": "assistant",
        "content": text or empty_content,
        "tool_calls": [
            {
                "id": call.tool_call_id,
                "type": "function",
                "function": {
                    "name": call.tool_name,
                    "arguments": json.dumps(call.args if call.args is not None else {}),
                },
            }
            for call in calls
        ],
    }


def fill_empty_content(message: dict[str, Any]) -> dict[str, Any]:
    """An assistant turn that only calls tools, with `content: ""` instead of none at all.

    OpenAI-compatible servers' chat templates (llama.cpp's, for one) fail on a missing content;
    Anthropic's and Gemini's translations, by contrast, turn "" into junk text or an empty part,
    so only OpenAI-shaped deployments get this.
    """
    if message.get("role") == "assistant" and message.get("content") is None:
        return {**message, "content": ""}
    return message


def tool_message(result: ToolResult) -> dict[str, Any]:
    if result.for_model is not None:
        content = result.for_model
    elif isinstance(result.result, str):
        content = result.result
    else:
        content = json.dumps(result.result, default=str)
    return {"role": "tool", "tool_call_id": result.tool_call_id, "content": content}
