"""Provider chunks into the gateway's events: the hottest, most provider-sensitive code.

One model call's state (text so far, partial tool calls, finish, usage) is a StepState. It
takes chunks in either of the two forms the engine reads: LiteLLM's chunk objects (from its
stream wrapper or a non-streamed response) and the provider's own chunk dicts (from the lean
reader, gateway/upstream/litellm_reach.py). Both give the same events.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gateway.cache import CachedAnswer
from gateway.cache.answers import parse_tool_args
from gateway.events import (
    Event,
    ReasoningDelta,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    ToolCallStart,
    Usage,
)
from gateway.ids import new_id


# Ids only need to be unique, not unguessable: a per-process random prefix and a counter cost
# a fraction of uuid4 on the hot path.
@dataclass
class _PendingToolCall:
    tool_call_id: str
    name: str
    args_text: str = ""


@dataclass
class StepState:
    """What one model call has said so far: finish reason, usage and partial tool calls."""

    finish_reason: str = "stop"
    usage: Usage = field(default_factory=Usage)
    tool_calls: dict[int, _PendingToolCall] = field(default_factory=dict)
    completed_tool_calls: list[ToolCall] = field(default_factory=list)
    text_parts: list[str] = field(default_factory=list)
    # The provider said how the answer ended: only such answers are complete (and cacheable).
    finished: bool = False
    # Keep the deltas for the cache (only when this answer may be stored).
    record: bool = False
    deltas: list[Any] = field(default_factory=list)
    # The model_list entry that answered this call (`<model ID>#<index>`), when LiteLLM says.
    deployment: str | None = None

    @property
    def text(self) -> str:
        return "".join(self.text_parts)

    # --- LiteLLM's objects ----------------------------------------------------------------------

    def absorb_chunk(self, chunk: Any) -> list[Event]:
        events: list[Event] = []
        choices = chunk.choices
        if choices:
            choice = choices[0]
            delta = choice.delta
            if delta is not None:
                content = delta.content
                if content:
                    self.text_parts.append(content)
                    events.append(TextDelta(content))
                reasoning = getattr(delta, "reasoning_content", None)
                if reasoning:
                    events.append(ReasoningDelta(reasoning))
                if delta.tool_calls:
                    for position, call in enumerate(delta.tool_calls):
                        function = call.function
                        self._tool_call_delta(
                            call.index if call.index is not None else position,
                            call.id,
                            function.name if function is not None else None,
                            function.arguments if function is not None else None,
                            events,
                        )
            if choice.finish_reason:
                self._finish(choice.finish_reason)
        usage = getattr(chunk, "usage", None)
        if usage:
            self.usage = _usage_of(usage)
        if self.record and events:
            self.deltas.extend(events)
        return events

    def absorb_response(self, response: Any) -> list[Event]:
        """A whole non-streamed answer."""
        events: list[Event] = []
        choice = response.choices[0]
        message = choice.message
        if getattr(message, "reasoning_content", None):
            events.append(ReasoningDelta(message.reasoning_content))
        if message.content:
            self.text_parts.append(message.content)
            events.append(TextDelta(message.content))
        for index, tool_call in enumerate(message.tool_calls or []):
            arguments = tool_call.function.arguments or ""
            self.tool_calls[index] = _PendingToolCall(
                tool_call.id or new_id("call"), tool_call.function.name or "", arguments
            )
        if self.record:
            self.deltas.extend(events)
        events.extend(self.complete_tool_calls())
        if choice.finish_reason:
            self._finish(choice.finish_reason)
        usage = getattr(response, "usage", None)
        if usage:
            self.usage = _usage_of(usage)
        return events

    # --- the provider's own chunks (the lean reader) ---------------------------------------------

    def absorb_raw(self, chunk: dict[str, Any]) -> list[Event]:
        events: list[Event] = []
        choices = chunk.get("choices")
        if choices:
            choice = choices[0]
            delta = choice.get("delta")
            if delta:
                content = delta.get("content")
                if content:
                    self.text_parts.append(content)
                    events.append(TextDelta(content))
                # vLLM and others name it `reasoning`; LiteLLM renames it `reasoning_content`.
                reasoning = delta.get("reasoning_content") or delta.get("reasoning")
                if reasoning:
                    events.append(ReasoningDelta(reasoning))
                tool_calls = delta.get("tool_calls")
                if tool_calls:
                    for position, call in enumerate(tool_calls):
                        function = call.get("function") or {}
                        index = call.get("index")
                        self._tool_call_delta(
                            index if index is not None else position,
                            call.get("id"),
                            function.get("name"),
                            function.get("arguments"),
                            events,
                        )
            finish = choice.get("finish_reason")
            if finish:
                self._finish(finish)
        usage = chunk.get("usage")
        if usage:
            self.usage = Usage(
                int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)
            )
        if self.record and events:
            self.deltas.extend(events)
        return events

    # --- shared --------------------------------------------------------------------------------

    def _tool_call_delta(
        self,
        index: int,
        tool_call_id: str | None,
        name: str | None,
        arguments: str | None,
        events: list[Event],
    ) -> None:
        pending = self.tool_calls.get(index)
        if pending is None:
            pending = _PendingToolCall(tool_call_id or new_id("call"), name or "")
            self.tool_calls[index] = pending
            events.append(ToolCallStart(pending.tool_call_id, pending.name))
        if arguments:
            pending.args_text += arguments
            events.append(ToolCallDelta(pending.tool_call_id, arguments))

    def _finish(self, reason: str) -> None:
        self.finish_reason = _FINISH_REASONS.get(reason, "other")
        self.finished = True

    def complete_tool_calls(self) -> list[Event]:
        for index in sorted(self.tool_calls):
            pending = self.tool_calls[index]
            self.completed_tool_calls.append(
                ToolCall(
                    pending.tool_call_id,
                    pending.name,
                    parse_tool_args(pending.args_text),
                    pending.args_text,
                )
            )
        return list(self.completed_tool_calls)

    def answer(self) -> CachedAnswer:
        return CachedAnswer(self.deltas, self.completed_tool_calls, self.finish_reason, self.usage)

    def replay(self, answer: CachedAnswer) -> list[Event]:
        """Take a cached answer as this step's own, and return its events."""
        self.text_parts = [d.text for d in answer.deltas if isinstance(d, TextDelta)]
        self.completed_tool_calls = list(answer.tool_calls)
        self.finish_reason = answer.finish_reason
        self.usage = answer.usage
        self.finished = True
        return answer.replay()


def _usage_of(usage: Any) -> Usage:
    """LiteLLM's usage object (prompt and completion tokens; anything missing counts 0)."""
    return Usage(
        int(getattr(usage, "prompt_tokens", 0) or 0),
        int(getattr(usage, "completion_tokens", 0) or 0),
    )


# The AI SDK's finish reasons: stop, length, content-filter, tool-calls, error, other.
_FINISH_REASONS = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool-calls",
    "function_call": "tool-calls",
    "content_filter": "content-filter",
    "end_turn": "stop",
    "max_tokens": "length",
}


def provider_sent_finish(stream: Any) -> bool:
    """Did the provider itself say how a LiteLLM-wrapped stream ended?

    LiteLLM's stream wrapper hands out `finish_reason: "stop"` for a stream that simply stopped,
    so a truncated answer looks complete. The chunks it keeps for logging hold only the finish
    the provider really sent.
    """
    chunks = getattr(stream, "chunks", None)
    if not isinstance(chunks, list):
        return True  # not LiteLLM's wrapper: the finish seen in the stream is the provider's
    return any(chunk.choices and chunk.choices[0].finish_reason for chunk in reversed(chunks))
