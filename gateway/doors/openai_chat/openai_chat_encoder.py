"""OpenAI's chat-completion shapes: `chat.completion.chunk` SSE and the `chat.completion` object."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from typing import Any, ClassVar, Literal

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


# A chunk's part: a choice delta, the usage-only chunk, or the error chunk.
Part = tuple[Literal["choice", "usage", "error"], dict[str, Any]]


class CompletionChunks:
    """One answer's events as the parts of `chat.completion.chunk`s. The stream encoder writes
    them; collect_completion folds them into the `chat.completion` object, as OpenAI's SDK
    accumulates a stream, so a streamed and a non-streamed answer cannot disagree."""

    def __init__(self, include_usage: bool) -> None:
        self.completion_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        self.created = int(time.time())
        self._include_usage = include_usage
        self._tool_index: dict[str, int] = {}
        self._role_sent = False

    def translate(self, event: Event) -> list[Part]:
        match event:
            case TextDelta(text=text):
                return [self._delta({"content": text})]
            case ToolCallDelta():
                index = self._tool_index.get(event.tool_call_id, 0)
                return [self._delta({"tool_calls": [
                    {"index": index, "function": {"arguments": event.args_text_delta}}
                ]})]  # fmt: skip
            case ReasoningDelta(text=text):
                return [self._delta({"reasoning_content": text})]
            case ToolCallStart():
                return [self._tool_start(event.tool_call_id, event.tool_name, "")]
            case ToolCall() if event.tool_call_id not in self._tool_index:
                return [self._tool_start(event.tool_call_id, event.tool_name, event.args_text)]
            case ErrorEvent():
                return [("error", openai_stream_error(event))]
            case Finish(finish_reason="error"):
                return []  # already said in the error chunk; OpenAI clients raise on it
            case Finish():
                reason = OPENAI_FINISH_REASONS.get(event.finish_reason, "stop")
                parts = [self._delta({}, reason)]
                if self._include_usage:
                    parts.append(("usage", openai_usage(event.usage)))
                return parts
        return []

    def _tool_start(self, tool_call_id: str, name: str, arguments: str) -> Part:
        index = self._tool_index.setdefault(tool_call_id, len(self._tool_index))
        return self._delta({"tool_calls": [{
            "index": index,
            "id": tool_call_id,
            "type": "function",
            "function": {"name": name, "arguments": arguments},
        }]})  # fmt: skip

    def _delta(self, delta: dict[str, Any], finish_reason: str | None = None) -> Part:
        if not self._role_sent:
            delta = {"role": "assistant", **delta}
            self._role_sent = True
        return ("choice", {"index": 0, "delta": delta, "finish_reason": finish_reason})


class OpenAIChunkEncoder:
    media_type: ClassVar[str] = "text/event-stream"
    headers: ClassVar[dict[str, str]] = NO_BUFFERING

    def __init__(self, model_id: str, include_usage: bool) -> None:
        self._chunks = CompletionChunks(include_usage)
        # Everything but the choices is the same in every chunk: render that prefix once.
        self._prefix = (
            f'data: {{"id":"{self._chunks.completion_id}","object":"chat.completion.chunk",'
            f'"created":{self._chunks.created},"model":{dumps(model_id)},'
        )

    def encode(self, event: Event) -> bytes:
        parts = self._chunks.translate(event)
        if not parts:
            return b""
        return "".join(map(self._line, parts)).encode()

    def close(self) -> bytes:
        return b"data: [DONE]\n\n"

    def _line(self, part: Part) -> str:
        kind, data = part
        if kind == "choice":
            return f'{self._prefix}"choices":[{dumps(data)}]}}\n\n'
        if kind == "usage":
            return f'{self._prefix}"choices":[],"usage":{dumps(data)}}}\n\n'
        return f"data: {dumps(data)}\n\n"


class _Completion:
    """The `chat.completion` a client would assemble from the chunks' parts."""

    def __init__(self) -> None:
        self.text: list[str] = []
        self.reasoning: list[str] = []
        self.tool_calls: list[dict[str, Any]] = []
        self.finish_reason = "stop"
        self.usage = openai_usage(Usage())

    def fold(self, part: Part) -> None:
        kind, data = part
        if kind == "usage":
            self.usage = data
        if kind != "choice":
            return  # an error chunk: a collected answer that fails is an error status instead
        delta = data["delta"]
        if "content" in delta:
            self.text.append(delta["content"])
        if "reasoning_content" in delta:
            self.reasoning.append(delta["reasoning_content"])
        for call in delta.get("tool_calls", ()):
            if "id" in call:  # a call's first chunk: the rest only add argument text
                function = dict(call["function"])
                self.tool_calls.append({"id": call["id"], "type": "function", "function": function})
            elif call["index"] < len(self.tool_calls):  # not so for a delta of no known call
                function = self.tool_calls[call["index"]]["function"]
                function["arguments"] += call["function"]["arguments"]
        if data["finish_reason"] is not None:
            self.finish_reason = data["finish_reason"]

    def message(self) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": "".join(self.text) or None}
        if self.reasoning:
            message["reasoning_content"] = "".join(self.reasoning)
        if self.tool_calls:
            message["tool_calls"] = self.tool_calls
        return message


async def collect_completion(model_id: str, events: AsyncIterator[Event]) -> dict[str, Any]:
    """The non-streamed `chat.completion` object, folded from the stream's parts."""
    chunks = CompletionChunks(include_usage=True)
    completion = _Completion()
    async for event in events:
        for part in chunks.translate(event):
            completion.fold(part)
    return {
        "id": chunks.completion_id,
        "object": "chat.completion",
        "created": chunks.created,
        "model": model_id,
        "choices": [
            {"index": 0, "message": completion.message(), "finish_reason": completion.finish_reason}
        ],
        "usage": completion.usage,
    }
