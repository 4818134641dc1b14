"""The frontend's own line format: `CODE:JSON\\n`, one typed object per part.

    0:{"type":"text-delta","textDelta":"你"}
    9:{"type":"tool-call","toolCallId":"call_1","toolName":"get_weather","args":{...}}
    a:{"type":"tool-result","toolCallId":"call_1","toolName":"get_weather","result":...}
    3:{"type":"error","error":"..."}
    d:{"type":"finish","finishReason":"stop","usage":{"promptTokens":1,"completionTokens":2}}

It looks like the AI SDK 4 data stream but is a dialect of its own (the stock parser rejects the
object form of `0:` and `3:`); the frontend this gateway serves parses it itself.
"""

from __future__ import annotations

from typing import ClassVar

from gateway.doors.common.encoder_base import NO_BUFFERING, dumps
from gateway.doors.frontend.data_stream_encoder import usage_json_marked
from gateway.events import ErrorEvent, Event, Finish, TextDelta, ToolCall, ToolResult


class TypedLineEncoder:
    media_type: ClassVar[str] = "text/event-stream; charset=utf-8"
    headers: ClassVar[dict[str, str]] = NO_BUFFERING

    def encode(self, event: Event) -> bytes:
        match event:
            case TextDelta(text=text):
                return f'0:{{"type":"text-delta","textDelta":{dumps(text)}}}\n'.encode()
            case ToolCall():
                return _line(
                    "9",
                    {
                        "type": "tool-call",
                        "toolCallId": event.tool_call_id,
                        "toolName": event.tool_name,
                        "args": event.args if event.args is not None else {},
                    },
                )
            case ToolResult():
                part = {
                    "type": "tool-result",
                    "toolCallId": event.tool_call_id,
                    "toolName": event.tool_name,
                    "result": event.result,
                }
                if event.is_error:
                    part["isError"] = True
                return _line("a", part)
            case ErrorEvent(message=message):
                return _line("3", {"type": "error", "error": message})
            case Finish(finish_reason=reason, usage=usage):
                return _line(
                    "d",
                    {
                        "type": "finish",
                        "finishReason": reason,
                        "usage": usage_json_marked(usage),
                    },
                )
        return b""

    def close(self) -> bytes:
        return b""


def _line(code: str, part: object) -> bytes:
    return f"{code}:{dumps(part)}\n".encode()
