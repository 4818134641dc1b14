"""OpenAI's chat-completion shapes: `chat.completion.chunk` SSE and the `chat.completion` object."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from typing import Any, ClassVar

from gateway.doors.common.encoder_base import NO_BUFFERING, dumps
from gateway.doors.common.openai_errors import openai_stream_error
from gateway.events import (
    ErrorEvent,
    Event,
    Finish,
    ReasoningDelta,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    ToolCallStart,
    Usage,
)

# The AI SDK finish reasons the engine speaks, back in OpenAI's words. OpenAI has no word for
# `other` (a provider's own reason, such as vLLM's `abort`): clients get `stop`, the closest.
OPENAI_FINISH_REASONS = {
    "stop": "stop",
    "length": "length",
    "tool-calls": "tool_calls",
    "content-filter": "content_filter",
    "other": "stop",
}


def openai_usage(usage: Usage) -> dict[str, Any]:
    body: dict[str, Any] = {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
    }
    if usage.cached:
        # Answered from the gateway's response cache: OpenAI's field for cached prompt tokens.
        body["prompt_tokens_details"] = {"cached_tokens": usage.prompt_tokens}
    return body


class OpenAIChunkEncoder:
    media_type: ClassVar[str] = "text/event-stream"
    headers: ClassVar[dict[str, str]] = NO_BUFFERING

    def __init__(self, model_id: str, include_usage: bool) -> None:
        self._include_usage = include_usage
        # Everything but the choices is the same in every chunk: render that prefix once.
        completion_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        self._prefix = (
            f'data: {{"id":"{completion_id}","object":"chat.completion.chunk",'
            f'"created":{int(time.time())},"model":{dumps(model_id)},'
        )
        self._tool_index: dict[str, int] = {}
        self._role_sent = False

    def encode(self, event: Event) -> bytes:
        match event:
            case TextDelta(text=text):
                return self._delta({"content": text})
            case ToolCallDelta():
                index = self._tool_index.get(event.tool_call_id, 0)
                return self._delta({"tool_calls": [
                    {"index": index, "function": {"arguments": event.args_text_delta}}
                ]})  # fmt: skip
            case ReasoningDelta(text=text):
                return self._delta({"reasoning_content": text})
            case ToolCallStart():
                return self._tool_start(event.tool_call_id, event.tool_name, "")
            case ToolCall() if event.tool_call_id not in self._tool_index:
                return self._tool_start(event.tool_call_id, event.tool_name, event.args_text)
            case ErrorEvent():
                return f"data: {dumps(openai_stream_error(event))}\n\n".encode()
            case Finish(finish_reason="error"):
                return b""  # already said in the error chunk; OpenAI clients raise on it
            case Finish():
                reason = OPENAI_FINISH_REASONS.get(event.finish_reason, "stop")
                data = self._delta({}, reason)
                if self._include_usage:
                    usage = dumps(openai_usage(event.usage))
                    data += f'{self._prefix}"choices":[],"usage":{usage}}}\n\n'.encode()
                return data
        return b""

    def close(self) -> bytes:
        return b"data: [DONE]\n\n"

    def _tool_start(self, tool_call_id: str, name: str, arguments: str) -> bytes:
        index = self._tool_index.setdefault(tool_call_id, len(self._tool_index))
        return self._delta({"tool_calls": [{
            "index": index,
            "id": tool_call_id,
            "type": "function",
            "function": {"name": name, "arguments": arguments},
        }]})  # fmt: skip

    def _delta(self, delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        if not self._role_sent:
            delta = {"role": "assistant", **delta}
            self._role_sent = True
        choice = {"index": 0, "delta": delta, "finish_reason": finish_reason}
        return f'{self._prefix}"choices":[{dumps(choice)}]}}\n\n'.encode()


async def collect_completion(model_id: str, events: AsyncIterator[Event]) -> dict[str, Any]:
    """The non-streamed `chat.completion` object."""
    text: list[str] = []
    reasoning: list[str] = []
    tool_calls: list[dict[str, Any]] = []
    finish = Finish("stop")
    async for event in events:
        match event:
            case TextDelta():
                text.append(event.text)
            case ReasoningDelta():
                reasoning.append(event.text)
            case ToolCall():
                tool_calls.append({
                    "id": event.tool_call_id,
                    "type": "function",
                    "function": {"name": event.tool_name, "arguments": event.args_text},
                })  # fmt: skip
            case Finish():
                finish = event
    message: dict[str, Any] = {"role": "assistant", "content": "".join(text) or None}
    if reasoning:
        message["reasoning_content"] = "".join(reasoning)
    if tool_calls:
        message["tool_calls"] = tool_calls
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model_id,
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": OPENAI_FINISH_REASONS.get(finish.finish_reason, "stop"),
            }
        ],
        "usage": openai_usage(finish.usage),
    }
