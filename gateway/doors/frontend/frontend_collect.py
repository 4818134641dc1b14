"""The non-streaming answer: one JSON object gathered from the same events a stream would carry.

{"id": "msg-…", "model": "chat-model", "text": "…", "reasoning": "…",
 "finishReason": "stop", "usage": {"promptTokens": 9, "completionTokens": 12, "totalTokens": 21},
 "toolCalls": [{"toolCallId", "toolName", "args"}],
 "toolResults": [{"toolCallId", "toolName", "result", "isError"}]}
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from gateway.doors.frontend.data_stream_encoder import usage_json_marked
from gateway.events import (
    Event,
    Finish,
    ReasoningDelta,
    StepStart,
    TextDelta,
    ToolCall,
    ToolResult,
    Usage,
)


async def collect(model_id: str, events: AsyncIterator[Event]) -> dict[str, Any]:
    message_id = ""
    text: list[str] = []
    reasoning: list[str] = []
    tool_calls: list[dict[str, Any]] = []
    tool_results: list[dict[str, Any]] = []
    finish: Finish | None = None
    async for event in events:
        match event:
            case StepStart() if not message_id:
                message_id = event.message_id
            case TextDelta():
                text.append(event.text)
            case ReasoningDelta():
                reasoning.append(event.text)
            case ToolCall():
                tool_calls.append(
                    {
                        "toolCallId": event.tool_call_id,
                        "toolName": event.tool_name,
                        "args": event.args if event.args is not None else {},
                    }
                )
            case ToolResult():
                tool_results.append(
                    {
                        "toolCallId": event.tool_call_id,
                        "toolName": event.tool_name,
                        "result": event.result,
                        "isError": event.is_error,
                    }
                )
            case Finish():
                finish = event
    usage = finish.usage if finish else Usage()
    answer: dict[str, Any] = {
        "id": message_id,
        "model": model_id,
        "text": "".join(text),
        "finishReason": finish.finish_reason if finish else "other",
        "usage": {**usage_json_marked(usage), "totalTokens": usage.total_tokens},
        "toolCalls": tool_calls,
        "toolResults": tool_results,
    }
    if reasoning:
        answer["reasoning"] = "".join(reasoning)
    return answer
