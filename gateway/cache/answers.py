"""One model answer as stored in the cache: its deltas in order, its tool calls, finish, usage.

Stored compactly (one JSON array per delta) and replayed as the same typed events, so a hit
streams the same parts as the miss that filled it, in whichever protocol the client reads.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from gateway.events import (
    Event,
    ReasoningDelta,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    ToolCallStart,
    Usage,
)

# Bumped whenever this format changes; it is part of every key, so old entries are never read.
FORMAT_VERSION = 1

Delta = TextDelta | ReasoningDelta | ToolCallStart | ToolCallDelta


@dataclass(frozen=True)
class CachedAnswer:
    deltas: list[Delta]
    tool_calls: list[ToolCall]
    finish_reason: str
    usage: Usage

    def replay(self) -> list[Event]:
        """The answer's events; a tool call stored without its streamed start gets one."""
        events: list[Event] = list(self.deltas)
        started = {d.tool_call_id for d in self.deltas if isinstance(d, ToolCallStart)}
        for call in self.tool_calls:
            if call.tool_call_id not in started:
                events.append(ToolCallStart(call.tool_call_id, call.tool_name))
                if call.args_text:
                    events.append(ToolCallDelta(call.tool_call_id, call.args_text))
        events.extend(self.tool_calls)
        return events


def encode_answer(answer: CachedAnswer) -> bytes:
    deltas: list[list[str]] = []
    for delta in answer.deltas:
        match delta:
            case TextDelta(text=text):
                deltas.append(["t", text])
            case ReasoningDelta(text=text):
                deltas.append(["r", text])
            case ToolCallStart(tool_call_id=call_id, tool_name=name):
                deltas.append(["s", call_id, name])
            case ToolCallDelta(tool_call_id=call_id, args_text_delta=text):
                deltas.append(["a", call_id, text])
    document = {
        "v": FORMAT_VERSION,
        "d": deltas,
        "c": [[c.tool_call_id, c.tool_name, c.args_text] for c in answer.tool_calls],
        "f": answer.finish_reason,
        "u": [answer.usage.prompt_tokens, answer.usage.completion_tokens],
    }
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


class CorruptAnswer(ValueError):
    """A stored value that is not an answer in this format (treated as a miss)."""


def decode_answer(data: bytes) -> CachedAnswer:
    try:
        document = json.loads(data)
        if document["v"] != FORMAT_VERSION:
            raise CorruptAnswer("format version")
        deltas = [_delta(item) for item in document["d"]]
        calls = [
            ToolCall(call_id, name, parse_tool_args(args_text), args_text)
            for call_id, name, args_text in document["c"]
        ]
        prompt_tokens, completion_tokens = document["u"]
        usage = Usage(int(prompt_tokens), int(completion_tokens), cached=True)
        return CachedAnswer(deltas, calls, str(document["f"]), usage)
    except CorruptAnswer:
        raise
    except (ValueError, KeyError, TypeError) as exc:
        raise CorruptAnswer(exc.__class__.__name__) from None


def _delta(item: list[str]) -> Delta:
    match item:
        case ["t", text]:
            return TextDelta(text)
        case ["r", text]:
            return ReasoningDelta(text)
        case ["s", call_id, name]:
            return ToolCallStart(call_id, name)
        case ["a", call_id, text]:
            return ToolCallDelta(call_id, text)
    raise CorruptAnswer("delta")


def parse_tool_args(text: str) -> dict[str, Any] | None:
    """Parsed tool arguments, or None when they are not a JSON object (the runner reports it)."""
    if not text.strip():
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None
