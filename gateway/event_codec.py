"""Every engine event as one short JSON text, and back: the unit of a chat's event log.

A resumable chat appends each event of an answer to a log (a Redis Stream, or memory) and
replays it later into whichever protocol the reader speaks, so the log must keep every field,
not only what one wire format shows. One JSON array per event, a one-letter tag first:

    ["b", step, message_id]                                  StepStart
    ["t", text]                                              TextDelta
    ["r", text]                                              ReasoningDelta
    ["s", tool_call_id, tool_name]                           ToolCallStart
    ["a", tool_call_id, args_text_delta]                     ToolCallDelta
    ["c", tool_call_id, tool_name, args|null, args_text]     ToolCall
    ["o", tool_call_id, tool_name, result, is_error(, true)] ToolResult (the last: denied)
    ["q", approval_id, tool_call_id, tool_name, args]        ToolApprovalRequest
    ["g", message_id]                                        AnswerContinues
    ["e", finish_reason, usage, is_continued]                StepFinish
    ["f", finish_reason, usage]                              Finish
    ["x", message, error_type, status]                       ErrorEvent (one written without
                                                             a status reads as 502)

where usage is [prompt_tokens, completion_tokens, cached]. Text stays UTF-8 as it is
(ensure_ascii=False), so a Chinese answer costs a third of what \\u escapes would.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from json.encoder import encode_basestring
from typing import Any

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
    Usage,
)

# One encoder object, reused (json.dumps with options would build one per call).
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
# The C string escaper the encoder itself uses for a str: the per-token deltas skip the rest.
_quote: Callable[[str], str] = encode_basestring


class CorruptEvent(ValueError):
    """Data that is not an event in this encoding (a foreign or damaged log entry)."""


def encode_event(event: Event) -> str:
    """The event as compact JSON text; a ToolResult whose result is not JSON raises TypeError."""
    # Text deltas are nearly every event of an answer: test them first, format them by hand.
    if type(event) is TextDelta:
        return '["t",' + _quote(event.text) + "]"
    if type(event) is ReasoningDelta:
        return '["r",' + _quote(event.text) + "]"
    if type(event) is ToolCallDelta:
        return '["a",' + _quote(event.tool_call_id) + "," + _quote(event.args_text_delta) + "]"
    match event:
        case StepStart(step=step, message_id=message_id):
            return _dumps(["b", step, message_id])
        case ToolCallStart(tool_call_id=call_id, tool_name=name):
            return _dumps(["s", call_id, name])
        case ToolCall(tool_call_id=call_id, tool_name=name, args=args, args_text=args_text):
            return _dumps(["c", call_id, name, args, args_text])
        case ToolResult(tool_call_id=call_id, tool_name=name, result=result, is_error=is_error):
            if event.denied:
                return _dumps(["o", call_id, name, result, is_error, True])
            return _dumps(["o", call_id, name, result, is_error])
        case ToolApprovalRequest(approval_id=approval_id, tool_call_id=call_id, tool_name=name):
            return _dumps(["q", approval_id, call_id, name, event.args])
        case AnswerContinues(message_id=message_id):
            return _dumps(["g", message_id])
        case StepFinish(finish_reason=reason, usage=usage, is_continued=is_continued):
            return _dumps(["e", reason, _usage_array(usage), is_continued])
        case Finish(finish_reason=reason, usage=usage):
            return _dumps(["f", reason, _usage_array(usage)])
        case ErrorEvent(message=message, error_type=error_type, status=status):
            return _dumps(["x", message, error_type, status])
    raise TypeError(f"not an event: {event!r}")


def decode_event(data: str | bytes) -> Event:
    """The event `encode_event` made `data` from; CorruptEvent for anything else."""
    try:
        item = json.loads(data)
    except (ValueError, RecursionError):  # JSONDecodeError and bad UTF-8 are ValueErrors
        raise CorruptEvent("not JSON") from None
    # Class patterns check the types: str() rejects a number where text belongs, and so on.
    match item:
        case ["t", str() as text]:
            return TextDelta(text)
        case ["r", str() as text]:
            return ReasoningDelta(text)
        case ["a", str() as call_id, str() as text]:
            return ToolCallDelta(call_id, text)
        case ["s", str() as call_id, str() as name]:
            return ToolCallStart(call_id, name)
        case ["b", int() as step, str() as message_id] if type(step) is int:
            return StepStart(step, message_id)
        case ["c", str() as call_id, str() as name, args, str() as args_text] if (
            args is None or type(args) is dict
        ):
            return ToolCall(call_id, name, args, args_text)
        case ["o", str() as call_id, str() as name, result, bool() as is_error]:
            return ToolResult(call_id, name, result, is_error)
        case ["o", str() as call_id, str() as name, result, bool() as is_error, True]:
            return ToolResult(call_id, name, result, is_error, denied=True)
        case ["q", str() as approval_id, str() as call_id, str() as name, args] if (
            type(args) is dict
        ):
            return ToolApprovalRequest(approval_id, call_id, name, args)
        case ["g", str() as message_id]:
            return AnswerContinues(message_id)
        case ["e", str() as reason, usage, bool() as is_continued]:
            return StepFinish(reason, _usage(usage), is_continued)
        case ["f", str() as reason, usage]:
            return Finish(reason, _usage(usage))
        case ["x", str() as message, str() as error_type, int() as status] if type(status) is int:
            return ErrorEvent(message, error_type, status)
        case ["x", str() as message, str() as error_type]:
            return ErrorEvent(message, error_type)  # written before errors carried a status
    raise CorruptEvent(_describe(item))


def _usage_array(usage: Usage) -> list[int | bool]:
    return [usage.prompt_tokens, usage.completion_tokens, usage.cached]


def _usage(item: Any) -> Usage:
    match item:
        # type() is int: a bool is an int to isinstance, and true is no token count.
        case [int() as prompt, int() as completion, bool() as cached] if (
            type(prompt) is int and type(completion) is int
        ):
            return Usage(prompt, completion, cached)
    raise CorruptEvent("usage")


def _describe(item: Any) -> str:
    """What was wrong, briefly, without echoing a whole (maybe huge) log entry."""
    if isinstance(item, list) and item and isinstance(item[0], str):
        return f"event {item[0][:8]!r} with {len(item) - 1} fields of the wrong shape"
    return f"not an event array ({type(item).__name__})"
