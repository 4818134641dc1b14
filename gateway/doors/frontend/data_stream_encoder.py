"""The AI SDK 4 data stream protocol, as `ai@4`'s parseDataStreamPart reads it.

    f:{"messageId":"msg-1"}                              step start
    0:"Hello"                                            text (a bare JSON string)
    g:"thinking"                                         reasoning
    b:{"toolCallId","toolName"}                          tool call starts streaming
    c:{"toolCallId","argsTextDelta"}                     its argument text, piece by piece
    9:{"toolCallId","toolName","args"}                   the complete call
    a:{"toolCallId","result"}                            its result
    e:{"finishReason","usage","isContinued"}             step finish
    3:"message"                                          error
    d:{"finishReason","usage"}                           finish message (last)

Headers: `x-vercel-ai-data-stream: v1`, `content-type: text/plain; charset=utf-8`.
"""

from __future__ import annotations

from typing import Any, ClassVar

from gateway.doors.common.encoder_base import NO_BUFFERING, dumps
from gateway.events import (
    ErrorEvent,
    Event,
    Finish,
    ReasoningDelta,
    StepFinish,
    StepStart,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    ToolCallStart,
    ToolResult,
    Usage,
)


def usage_json(usage: Usage) -> dict[str, int]:
    return {"promptTokens": usage.prompt_tokens, "completionTokens": usage.completion_tokens}


def usage_json_marked(usage: Usage) -> dict[str, Any]:
    """usage_json, plus `"cached": true` on an answer served from the response cache."""
    body: dict[str, Any] = usage_json(usage)
    if usage.cached:
        body["cached"] = True
    return body


class DataStreamEncoder:
    media_type: ClassVar[str] = "text/plain; charset=utf-8"
    headers: ClassVar[dict[str, str]] = {**NO_BUFFERING, "x-vercel-ai-data-stream": "v1"}

    def encode(self, event: Event) -> bytes:
        match event:
            case TextDelta(text=text):
                return f"0:{dumps(text)}\n".encode()
            case ToolCallDelta():
                part = {"toolCallId": event.tool_call_id, "argsTextDelta": event.args_text_delta}
                return _line("c", part)
            case ReasoningDelta(text=text):
                return f"g:{dumps(text)}\n".encode()
            case StepStart(message_id=message_id):
                return _line("f", {"messageId": message_id})
            case ToolCallStart():
                return _line("b", {"toolCallId": event.tool_call_id, "toolName": event.tool_name})
            case ToolCall():
                return _line("9", {
                    "toolCallId": event.tool_call_id,
                    "toolName": event.tool_name,
                    "args": event.args if event.args is not None else {},
                })  # fmt: skip
            case ToolResult():
                return _line("a", {"toolCallId": event.tool_call_id, "result": event.result})
            case StepFinish():
                return _line("e", {
                    "finishReason": event.finish_reason,
                    "usage": usage_json(event.usage),
                    "isContinued": event.is_continued,
                })  # fmt: skip
            case ErrorEvent(message=message):
                return f"3:{dumps(message)}\n".encode()
            case Finish():
                return _line("d", {
                    "finishReason": event.finish_reason,
                    "usage": usage_json(event.usage),
                })  # fmt: skip
        return b""

    def close(self) -> bytes:
        return b""


def _line(code: str, part: object) -> bytes:
    return f"{code}:{dumps(part)}\n".encode()
