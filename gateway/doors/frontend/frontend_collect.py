"""The non-streaming answer: one JSON object folded from the UI message stream chunks the same
events would be streamed as (ui_message_stream_encoder.UIMessageChunks).

{"id": "msg-…", "model": "chat-model", "text": "…", "reasoning": "…",
 "finishReason": "stop", "usage": {"promptTokens": 9, "completionTokens": 12, "totalTokens": 21},
 "toolCalls": [{"toolCallId", "toolName", "args"}],
 "toolResults": [{"toolCallId", "toolName", "result", "isError"}]}
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from gateway.doors.frontend.ui_message_stream_encoder import Chunk, UIMessageChunks
from gateway.events import Event


class FrontendAnswer:
    """The JSON answer as the chunks so far make it."""

    def __init__(self, model_id: str) -> None:
        self.model_id = model_id
        self.message_id = ""
        self.text: list[str] = []
        self.reasoning: list[str] = []
        self.tool_names: dict[str, str] = {}
        self.tool_calls: list[dict[str, Any]] = []
        self.tool_results: list[dict[str, Any]] = []
        self.finish_reason = "other"  # no finish chunk: the answer did not say how it ended
        self.usage: dict[str, Any] = {"promptTokens": 0, "completionTokens": 0}

    def fold(self, chunk: Chunk) -> None:
        match chunk["type"]:
            case "start":
                self.message_id = chunk["messageId"]
            case "text-delta":
                self.text.append(chunk["delta"])
            case "reasoning-delta":
                self.reasoning.append(chunk["delta"])
            case "tool-input-start":
                self.tool_names[chunk["toolCallId"]] = chunk["toolName"]
            case "tool-input-available" | "tool-input-error" as kind:
                # Arguments that are not a JSON object are {}: the raw text is not an object.
                args = chunk["input"] if kind == "tool-input-available" else {}
                call = {"toolCallId": chunk["toolCallId"], "toolName": chunk["toolName"]}
                self.tool_calls.append({**call, "args": args})
            case "tool-output-available":
                self._result(chunk["toolCallId"], chunk["output"], is_error=False)
            case "tool-output-error":
                # A failed tool's result is {"error": message}; the chunk carries the message.
                self._result(chunk["toolCallId"], {"error": chunk["errorText"]}, is_error=True)
            case "tool-output-denied":
                # A call a person denied (gateway/approvals/): it was not run.
                self._result(chunk["toolCallId"], {"denied": True}, is_error=False)
            case "finish":
                self.finish_reason = chunk["finishReason"]
                self.usage = chunk["messageMetadata"]["usage"]

    def _result(self, call_id: str, result: Any, *, is_error: bool) -> None:
        name = self.tool_names.get(call_id, "")
        self.tool_results.append(
            {"toolCallId": call_id, "toolName": name, "result": result, "isError": is_error}
        )

    def answer(self) -> dict[str, Any]:
        total = self.usage["promptTokens"] + self.usage["completionTokens"]
        answer: dict[str, Any] = {
            "id": self.message_id,
            "model": self.model_id,
            "text": "".join(self.text),
            "finishReason": self.finish_reason,
            "usage": {**self.usage, "totalTokens": total},
            "toolCalls": self.tool_calls,
            "toolResults": self.tool_results,
        }
        if self.reasoning:
            answer["reasoning"] = "".join(self.reasoning)
        return answer


async def collect(model_id: str, events: AsyncIterator[Event]) -> dict[str, Any]:
    chunks = UIMessageChunks()
    answer = FrontendAnswer(model_id)
    async for event in events:
        for chunk in chunks.translate(event):
            answer.fold(chunk)
    return answer.answer()
