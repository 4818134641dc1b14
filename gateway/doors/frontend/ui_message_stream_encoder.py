"""The AI SDK 5+ UI message stream, as the current `ai` package's uiMessageChunkSchema reads it.

Server-sent events, one JSON chunk per `data:` line, ending with `data: [DONE]`:
start, start-step, text-start/-delta/-end, reasoning-start/-delta/-end, tool-input-start,
tool-input-delta, tool-input-available, tool-output-available (or tool-output-error),
tool-approval-request and tool-output-denied (gateway/approvals/), finish-step, error, finish.
Header `x-vercel-ai-ui-message-stream: v1`.

The client throws on a text-delta whose text-start it has not seen, so UIMessageChunks keeps the
one piece of state the protocol needs: which text or reasoning block is open. The encoder writes
its chunks; the frontend's JSON answer (frontend_collect.py) and a chat's stored message
(gateway/chats/assembly.py) are folds of the same chunks.
"""

from __future__ import annotations

from typing import Any, ClassVar

from gateway.doors.common.encoder_base import NO_BUFFERING, dumps
from gateway.doors.frontend.data_stream_encoder import usage_json_marked
from gateway.events import (
    AnswerContinues,
    ErrorEvent,
    Event,
    Finish,
    ReasoningDelta,
    StepFinish,
    StepStart,
    TextDelta,
    ToolApprovalRequest,
    ToolCall,
    ToolCallDelta,
    ToolCallStart,
    ToolResult,
)

# The errorText of a `tool-input-error` chunk: a call whose arguments are not a JSON object.
INVALID_INPUT_TEXT = "the model's arguments are not valid JSON"
_FINISH_REASONS = {"stop", "length", "content-filter", "tool-calls", "error", "other"}


Chunk = dict[str, Any]


class UIMessageChunks:
    """One answer's events as UI message stream chunks. The encoder writes them; the frontend's
    JSON answer and a chat's stored message are folds of the same chunks."""

    def __init__(self, start_metadata: dict[str, Any] | None = None) -> None:
        # A chat's answer says on `start` when it began and which model ID answers it.
        self._start_metadata = start_metadata
        self._started = False
        self._open_kind: str | None = None  # "text" or "reasoning"
        self._open_id = ""
        self._block_count = 0
        self._streamed_inputs: set[str] = set()

    def translate(self, event: Event) -> list[Chunk]:
        match event:
            case TextDelta(text=text):
                return self._delta("text", text)
            case ReasoningDelta(text=text):
                return self._delta("reasoning", text)
            case ToolCallDelta():
                return _one({
                    "type": "tool-input-delta",
                    "toolCallId": event.tool_call_id,
                    "inputTextDelta": event.args_text_delta,
                })  # fmt: skip
            case StepStart(message_id=message_id):
                return self._start(message_id) + _one({"type": "start-step"})
            case AnswerContinues(message_id=message_id):
                # The same message id: the client goes on in the message it holds.
                return self._start(message_id)
            case ToolApprovalRequest():
                return _one({
                    "type": "tool-approval-request",
                    "approvalId": event.approval_id,
                    "toolCallId": event.tool_call_id,
                })  # fmt: skip
            case ToolCallStart():
                self._streamed_inputs.add(event.tool_call_id)
                return self._close_block() + _one({
                    "type": "tool-input-start",
                    "toolCallId": event.tool_call_id,
                    "toolName": event.tool_name,
                })  # fmt: skip
            case ToolCall():
                return self._tool_call(event)
            case ToolResult():
                return self._tool_result(event)
            case StepFinish():
                return self._close_block() + _one({"type": "finish-step"})
            case ErrorEvent(message=message):
                return self._close_block() + _one({"type": "error", "errorText": message})
            case Finish():
                reason = event.finish_reason if event.finish_reason in _FINISH_REASONS else "other"
                return self._close_block() + _one({
                    "type": "finish",
                    "finishReason": reason,
                    "messageMetadata": {"usage": usage_json_marked(event.usage)},
                })  # fmt: skip
        return []

    def _start(self, message_id: str) -> list[Chunk]:
        if self._started:
            return []
        self._started = True
        start: dict[str, Any] = {"type": "start", "messageId": message_id}
        if self._start_metadata:
            start["messageMetadata"] = self._start_metadata
        return _one(start)

    def _delta(self, kind: str, text: str) -> list[Chunk]:
        head: list[Chunk] = []
        if self._open_kind != kind:
            head = self._close_block()
            self._block_count += 1
            self._open_kind, self._open_id = kind, f"{kind}-{self._block_count}"
            head += _one({"type": f"{kind}-start", "id": self._open_id})
        return head + _one({"type": f"{kind}-delta", "id": self._open_id, "delta": text})

    def _close_block(self) -> list[Chunk]:
        if self._open_kind is None:
            return []
        chunk = _one({"type": f"{self._open_kind}-end", "id": self._open_id})
        self._open_kind = None
        return chunk

    def _tool_call(self, event: ToolCall) -> list[Chunk]:
        head = self._close_block()
        if event.tool_call_id not in self._streamed_inputs:
            # A call that arrived whole (non-streaming providers): announce it first.
            head += _one({
                "type": "tool-input-start",
                "toolCallId": event.tool_call_id,
                "toolName": event.tool_name,
            })  # fmt: skip
        if event.args is None:
            return head + _one({
                "type": "tool-input-error",
                "toolCallId": event.tool_call_id,
                "toolName": event.tool_name,
                "input": event.args_text,
                "errorText": INVALID_INPUT_TEXT,
            })  # fmt: skip
        return head + _one({
            "type": "tool-input-available",
            "toolCallId": event.tool_call_id,
            "toolName": event.tool_name,
            "input": event.args,
        })  # fmt: skip

    def _tool_result(self, event: ToolResult) -> list[Chunk]:
        if event.denied:
            return _one({"type": "tool-output-denied", "toolCallId": event.tool_call_id})
        if event.is_error:
            error = event.result.get("error") if isinstance(event.result, dict) else event.result
            return _one({
                "type": "tool-output-error",
                "toolCallId": event.tool_call_id,
                "errorText": str(error),
            })  # fmt: skip
        return _one({
            "type": "tool-output-available",
            "toolCallId": event.tool_call_id,
            "output": event.result,
        })  # fmt: skip


class UIMessageStreamEncoder:
    media_type: ClassVar[str] = "text/event-stream"
    headers: ClassVar[dict[str, str]] = {**NO_BUFFERING, "x-vercel-ai-ui-message-stream": "v1"}

    def __init__(self, start_metadata: dict[str, Any] | None = None) -> None:
        self._chunks = UIMessageChunks(start_metadata)

    def encode(self, event: Event) -> bytes:
        return b"".join(map(_sse, self._chunks.translate(event)))

    def close(self) -> bytes:
        return b"data: [DONE]\n\n"


def _one(chunk: Chunk) -> list[Chunk]:
    return [chunk]


def _sse(chunk: dict[str, Any]) -> bytes:
    return f"data: {dumps(chunk)}\n\n".encode()
