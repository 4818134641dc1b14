"""Anthropic's Messages wire: the SSE stream of `event:` lines and the non-streamed `message`.

The engine's events are turned into Anthropic's stream events in one place (MessageEvents); the
encoder writes them as SSE, the collector folds them into the `message` object the way the SDK's
accumulator does, so a streamed and a non-streamed answer can never disagree.

What the engine cannot say is left out rather than made up: input tokens are known only when
the answer ends, so `message_start` carries 0 and `message_delta` the real count (the SDK's
accumulator takes it from there); a thinking block's `signature` is empty (no provider's
signature reaches the engine); and `stop_sequence` is never the stop reason, because an
OpenAI-shaped finish says `stop` for a stop sequence and for a natural end alike.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any, ClassVar

from gateway.doors.anthropic.anthropic_errors import anthropic_stream_error
from gateway.doors.common.encoder_base import NO_BUFFERING, dumps
from gateway.events import (
    ErrorEvent,
    Event,
    Finish,
    ReasoningDelta,
    StepStart,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    ToolCallStart,
)
from gateway.ids import new_id

# The engine's finish reasons (the AI SDK's) in Anthropic's words.
STOP_REASONS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool-calls": "tool_use",
    "content-filter": "refusal",
    "other": "end_turn",
}


WireEvent = tuple[str, dict[str, Any]]


class MessageEvents:
    """One answer's events as Anthropic stream events: `(event name, data)` pairs.

    Content blocks open and close in order: text, thinking and each tool call are blocks of
    their own, and a change of kind closes the open block before the next one starts.
    """

    def __init__(self, model_id: str) -> None:
        self._model_id = model_id
        self._started = False
        self._ended = False
        self._index = -1
        self._open: str | None = None  # "text", "thinking", a tool call id, or None
        self._tool_index: dict[str, int] = {}

    def translate(self, event: Event) -> list[WireEvent]:
        out = [] if self._started else self._start(event)
        match event:
            case TextDelta(text=text):
                out += self._enter("text", {"type": "text", "text": ""})
                out.append(self._delta({"type": "text_delta", "text": text}))
            case ReasoningDelta(text=text):
                out += self._enter(
                    "thinking", {"type": "thinking", "thinking": "", "signature": ""}
                )
                out.append(self._delta({"type": "thinking_delta", "thinking": text}))
            case ToolCallStart():
                out += self._open_tool(event.tool_call_id, event.tool_name)
            case ToolCallDelta():
                out.append(self._tool_delta(event.tool_call_id, event.args_text_delta))
            case ToolCall() if event.tool_call_id not in self._tool_index:
                # A call that arrived whole (a non-streamed answer): one block, one delta.
                out += self._open_tool(event.tool_call_id, event.tool_name)
                if event.args_text:
                    out.append(self._tool_delta(event.tool_call_id, event.args_text))
            case ErrorEvent():
                self._ended = True
                out.append(("error", anthropic_stream_error(event)))
            case Finish() if not self._ended:
                self._ended = True
                out += self._close()
                out.append(self._message_delta(event))
                out.append(("message_stop", {"type": "message_stop"}))
        return out

    def _start(self, event: Event) -> list[WireEvent]:
        self._started = True
        raw_id = event.message_id if isinstance(event, StepStart) else new_id("msg")
        message = {
            "id": "msg_" + raw_id.removeprefix("msg-"),
            "type": "message",
            "role": "assistant",
            "model": self._model_id,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            # Not known before the provider's last chunk: message_delta carries the real count.
            "usage": {"input_tokens": 0, "output_tokens": 0},
        }
        return [
            ("message_start", {"type": "message_start", "message": message}),
            ("ping", {"type": "ping"}),
        ]

    def _enter(self, kind: str, block: dict[str, Any]) -> list[WireEvent]:
        if self._open == kind:
            return []
        out = self._close()
        self._index += 1
        self._open = kind
        start = {"type": "content_block_start", "index": self._index, "content_block": block}
        out.append(("content_block_start", start))
        return out

    def _open_tool(self, tool_call_id: str, name: str) -> list[WireEvent]:
        block = {"type": "tool_use", "id": tool_call_id, "name": name, "input": {}}
        out = self._enter(tool_call_id, block)
        self._tool_index[tool_call_id] = self._index
        return out

    def _tool_delta(self, tool_call_id: str, partial_json: str) -> WireEvent:
        # Providers stream one call's arguments after another; should one interleave, its
        # delta still names its own block's index, which is all the SDK's accumulator reads.
        index = self._tool_index.get(tool_call_id, self._index)
        delta = {"type": "input_json_delta", "partial_json": partial_json}
        return (
            "content_block_delta",
            {"type": "content_block_delta", "index": index, "delta": delta},
        )

    def _delta(self, delta: dict[str, Any]) -> WireEvent:
        return (
            "content_block_delta",
            {"type": "content_block_delta", "index": self._index, "delta": delta},
        )

    def _close(self) -> list[WireEvent]:
        if self._open is None:
            return []
        out: list[WireEvent] = []
        if self._open == "thinking":
            # Anthropic sends a thinking block's signature last; there is none to give here.
            out.append(self._delta({"type": "signature_delta", "signature": ""}))
        out.append(("content_block_stop", {"type": "content_block_stop", "index": self._index}))
        self._open = None
        return out

    @staticmethod
    def _message_delta(finish: Finish) -> WireEvent:
        delta = {
            "stop_reason": STOP_REASONS.get(finish.finish_reason, "end_turn"),
            "stop_sequence": None,
        }
        usage = {
            "input_tokens": finish.usage.prompt_tokens,
            "output_tokens": finish.usage.completion_tokens,
        }
        return ("message_delta", {"type": "message_delta", "delta": delta, "usage": usage})


def _sse(name: str, data: dict[str, Any]) -> bytes:
    return f"event: {name}\ndata: {dumps(data)}\n\n".encode()


class AnthropicSSEEncoder:
    media_type: ClassVar[str] = "text/event-stream"
    headers: ClassVar[dict[str, str]] = NO_BUFFERING

    def __init__(self, model_id: str) -> None:
        self._events = MessageEvents(model_id)

    def encode(self, event: Event) -> bytes:
        return b"".join(_sse(name, data) for name, data in self._events.translate(event))

    def close(self) -> bytes:
        return b""  # message_stop (or an error event) already ended the stream


async def collect_message(model_id: str, events: AsyncIterator[Event]) -> dict[str, Any]:
    """The non-streamed `message` object, folded from the same stream events."""
    translator = MessageEvents(model_id)
    message: dict[str, Any] = {}
    arguments: dict[int, str] = {}
    async for event in events:
        for name, data in translator.translate(event):
            _fold(message, arguments, name, data)
    return message


def _fold(
    message: dict[str, Any], arguments: dict[int, str], name: str, data: dict[str, Any]
) -> None:
    if name == "message_start":
        message.update(data["message"], content=[])
    elif name == "content_block_start":
        message["content"].append(dict(data["content_block"]))
    elif name == "content_block_delta":
        block, delta = message["content"][data["index"]], data["delta"]
        match delta["type"]:
            case "text_delta":
                block["text"] += delta["text"]
            case "thinking_delta":
                block["thinking"] += delta["thinking"]
            case "signature_delta":
                block["signature"] = delta["signature"]
            case "input_json_delta":
                arguments[data["index"]] = arguments.get(data["index"], "") + delta["partial_json"]
    elif name == "content_block_stop" and data["index"] in arguments:
        message["content"][data["index"]]["input"] = _tool_input(arguments[data["index"]])
    elif name == "message_delta":
        message.update(data["delta"])
        message["usage"] = {**message["usage"], **data["usage"]}


def _tool_input(text: str) -> dict[str, Any]:
    """A tool call's arguments as an object; {} when the model wrote none or no JSON object."""
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
