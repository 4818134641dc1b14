"""The finished assistant message, as an AI SDK UI message, built from the engine's events.

A page that reloads renders the chat from stored UI messages, so the stored one must be what
the page itself would have built from the live stream: the `ai` package's readUIMessageStream
over the bytes UIMessageStreamEncoder sends. The builder replays both halves at once: the
encoder's choices (which block is open, the ids it numbers, the chunk it sends for a call that
arrived whole or with arguments that are not JSON) and the SDK's processUIMessageStream (which
part a chunk updates, which fields it sets or clears, how message metadata is merged). The
tests hold it to the real SDK, event list by event list.

Two SDK habits it keeps on purpose: the last message readUIMessageStream yields is a snapshot
taken at its last write, and `start-step` and `error` do not write, so a trailing step-start
that nothing followed is not in it; and a chunk the SDK cannot place (a result for a tool call
it never saw) ends its reading, so the builder ignores every event after such a one too.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from gateway.doors.frontend.data_stream_encoder import usage_json_marked
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
)

# What UIMessageStreamEncoder sends as the errorText of a `tool-input-error` chunk.
INVALID_INPUT_TEXT = "the model's arguments are not valid JSON"

# The SDK's mergeObjects never copies these keys (prototype pollution guard).
_UNMERGED_KEYS = frozenset({"__proto__", "constructor", "prototype"})


class _Unset:
    """JavaScript's undefined: the SDK assigns it, and JSON (and so storage) drops the key."""


_UNSET = _Unset()


class AssistantMessageBuilder:
    """Feed it one answer's events in order; `message()` is the UI message a page would hold."""

    def __init__(self, message_id: str, metadata: dict[str, Any] | None = None) -> None:
        self._id = message_id
        self._metadata: dict[str, Any] | None = None
        self._parts: list[dict[str, Any]] = []
        # The open text or reasoning part, its kind, and its text so far (joined when it closes).
        self._open: dict[str, Any] | None = None
        self._open_kind = ""
        self._open_text: list[str] = []
        self._block_count = 0  # the encoder numbers its text and reasoning ids with one counter
        self._started = False
        self._step_begin = 0  # index of the current step's first part: the SDK looks there first
        self._unshown_step_starts = 0  # step-starts appended since the SDK's last snapshot
        self._announced: set[str] = set()  # calls the encoder saw a ToolCallStart for
        self._partial_inputs: dict[str, tuple[str, str]] = {}  # call id -> (tool name, text)
        self._halted = False
        if metadata:
            # What the `start` chunk's messageMetadata does (the encoder sends none when empty).
            self.add_metadata(metadata)

    @property
    def has_content(self) -> bool:
        """Whether the message has any part besides step-starts (text, reasoning, tool)."""
        return any(part["type"] != "step-start" for part in self._parts)

    def add_metadata(self, metadata: dict[str, Any]) -> None:
        """Merge into the message metadata the way the SDK merges a chunk's messageMetadata."""
        if self._metadata is None:
            self._metadata = dict(metadata)
        else:
            self._metadata = _merge_objects(self._metadata, metadata)

    def add(self, event: Event) -> None:
        if self._halted:
            return
        # Text deltas are most events of an answer: the cheapest path first.
        if type(event) is TextDelta:
            self._delta("text", event.text)
            return
        match event:
            case ReasoningDelta(text=text):
                self._delta("reasoning", text)
            case ToolCallDelta(tool_call_id=call_id, args_text_delta=text):
                self._tool_input_delta(call_id, text)
            case StepStart():
                if not self._started:
                    self._started = True
                    self._shown()  # the `start` chunk, with its messageId, writes a snapshot
                self._parts.append({"type": "step-start"})
                self._step_begin = len(self._parts)
                self._unshown_step_starts += 1
            case ToolCallStart(tool_call_id=call_id, tool_name=name):
                self._announced.add(call_id)
                self._close_block()
                self._tool_input_start(call_id, name)
            case ToolCall():
                self._tool_call(event)
            case ToolResult():
                self._tool_result(event)
            case StepFinish() | ErrorEvent():
                # `finish-step` adds no part; `error` only reaches the client's onError.
                self._close_block()
            case Finish(usage=usage):
                self._close_block()
                self.add_metadata({"usage": usage_json_marked(usage)})
                self._shown()

    def message(self) -> dict[str, Any]:
        """{"id", "role": "assistant", "parts", "metadata"}; no metadata key while there is none."""
        end = len(self._parts) - self._unshown_step_starts
        parts = copy.deepcopy(self._parts[:end])
        for index, part in enumerate(self._parts[:end]):
            if part is self._open:
                parts[index]["text"] = "".join(self._open_text)
            elif part.get("state") == "input-streaming" and "rawInput" in part:
                value = _partial_input(part)
                if value is not _UNSET:
                    parts[index]["input"] = value
        message: dict[str, Any] = {"id": self._id, "role": "assistant", "parts": parts}
        if self._metadata is not None:
            message["metadata"] = copy.deepcopy(self._metadata)
        return message

    def _shown(self) -> None:
        """The SDK wrote a snapshot: every part so far is in the message it yields."""
        self._unshown_step_starts = 0

    def _delta(self, kind: str, text: str) -> None:
        if self._open_kind != kind:
            self._close_block()
            self._block_count += 1
            part: dict[str, Any] = {"type": kind}
            if kind == "reasoning":
                # Reasoning parts keep the chunk id, text parts do not (the SDK's choice).
                part["id"] = f"reasoning-{self._block_count}"
            part["text"] = ""
            part["state"] = "streaming"
            self._parts.append(part)
            self._open, self._open_kind, self._open_text = part, kind, []
        self._open_text.append(text)
        self._unshown_step_starts = 0

    def _close_block(self) -> None:
        if self._open is None:
            return
        self._open["text"] = "".join(self._open_text)
        self._open["state"] = "done"
        self._open, self._open_kind, self._open_text = None, "", []
        self._shown()

    def _tool_call(self, event: ToolCall) -> None:
        self._close_block()
        call_id, name = event.tool_call_id, event.tool_name
        if call_id not in self._announced:
            self._tool_input_start(call_id, name)  # the encoder announces a call that came whole
        if event.args is None:
            # tool-input-error: the raw argument text becomes the input, the state an error.
            self._update_tool_part(
                call_id,
                name,
                "output-error",
                tool_input=event.args_text,
                error_text=INVALID_INPUT_TEXT,
            )
        else:
            self._update_tool_part(call_id, name, "input-available", tool_input=event.args)
        self._shown()

    def _tool_input_start(self, call_id: str, name: str) -> None:
        self._partial_inputs[call_id] = (name, "")
        self._update_tool_part(call_id, name, "input-streaming")
        self._shown()

    def _tool_input_delta(self, call_id: str, text: str) -> None:
        partial = self._partial_inputs.get(call_id)
        if partial is None:
            self._halted = True  # the SDK throws on a delta for a call it was never told of
            return
        name, so_far = partial
        so_far += text
        self._partial_inputs[call_id] = (name, so_far)
        # The partial input is parsed from rawInput in message(): only the last parse shows.
        self._update_tool_part(call_id, name, "input-streaming", raw_input=so_far)
        self._shown()

    def _tool_result(self, event: ToolResult) -> None:
        part = self._find_tool_part(event.tool_call_id)
        if part is None:
            self._halted = True  # the SDK throws: no tool invocation found for the call ID
            return
        name = part["type"].removeprefix("tool-")
        tool_input = part.get("input", _UNSET)
        if part["state"] == "input-streaming" and "rawInput" in part:
            tool_input = _partial_input(part)
        if event.is_error:
            # The encoder's errorText: a failed tool's result is {"error": message}.
            result = event.result
            error = result.get("error") if isinstance(result, dict) else result
            self._update_tool_part(
                event.tool_call_id,
                name,
                "output-error",
                tool_input=tool_input,
                raw_input=part.get("rawInput", _UNSET),
                error_text=str(error),
                existing=part,
            )
        else:
            self._update_tool_part(
                event.tool_call_id,
                name,
                "output-available",
                tool_input=tool_input,
                output=event.result,
                existing=part,
            )
        self._shown()

    def _find_tool_part(self, call_id: str) -> dict[str, Any] | None:
        """The SDK's getToolInvocation: the current step first, then the latest anywhere."""
        for part in self._parts[self._step_begin :]:
            if part["type"].startswith("tool-") and part["toolCallId"] == call_id:
                return part
        for part in reversed(self._parts[: self._step_begin]):
            if part["type"].startswith("tool-") and part["toolCallId"] == call_id:
                return part
        return None

    def _update_tool_part(
        self,
        call_id: str,
        name: str,
        state: str,
        *,
        tool_input: Any = _UNSET,
        output: Any = _UNSET,
        raw_input: Any = _UNSET,
        error_text: Any = _UNSET,
        existing: dict[str, Any] | None = None,
    ) -> None:
        """The SDK's updateToolPart: every field it assigns is set, or removed when undefined."""
        part = existing
        if part is None:
            for candidate in self._parts[self._step_begin :]:
                if candidate["type"].startswith("tool-") and candidate["toolCallId"] == call_id:
                    part = candidate
                    break
        if part is None:
            part = {"type": f"tool-{name}", "toolCallId": call_id, "state": state}
            self._parts.append(part)
        else:
            part["state"] = state
            part["type"] = f"tool-{name}"
        for key, value in (
            ("input", tool_input),
            ("output", output),
            ("rawInput", raw_input),
            ("errorText", error_text),
        ):
            if value is _UNSET:
                part.pop(key, None)
            else:
                part[key] = value


def _merge_objects(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """The SDK's mergeObjects: objects merge key by key, anything else replaces."""
    result = dict(base)
    for key, value in overrides.items():
        if key in _UNMERGED_KEYS:
            continue
        current = result.get(key)
        if isinstance(value, dict) and isinstance(current, dict):
            result[key] = _merge_objects(current, value)
        else:
            result[key] = value
    return result


def _partial_input(part: dict[str, Any]) -> Any:
    """The SDK's parsePartialJson(rawInput).value: as is, else repaired, else undefined."""
    text: str = part["rawInput"]
    for candidate in (text, _fix_json(text)):
        try:
            return _secure_json(candidate)
        except ValueError:
            continue
    return _UNSET


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")  # JSON.parse knows no NaN or Infinity


def _secure_json(text: str) -> Any:
    """JSON.parse, refusing what the SDK's secureJsonParse refuses (prototype keys)."""
    value = json.loads(text, parse_constant=_reject_constant)
    pending = [value]
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            constructor = node.get("constructor")
            if "__proto__" in node or (
                isinstance(constructor, dict) and "prototype" in constructor
            ):
                raise ValueError("forbidden prototype property")
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)
    return value


def _fix_json(text: str) -> str:
    """The SDK's fixJson: close what a cut-off JSON text left open. A line-by-line port."""
    stack = ["ROOT"]
    last_valid = -1
    literal_start = 0
    unicode_digits = 0

    def value_start(char: str, i: int, swap: str) -> None:
        nonlocal last_valid, literal_start
        opened = {'"': "INSIDE_STRING", "{": "INSIDE_OBJECT_START", "[": "INSIDE_ARRAY_START"}
        if char in opened:
            last_valid = i
            stack[-1] = swap
            stack.append(opened[char])
        elif char in "ftn":
            last_valid = i
            literal_start = i
            stack[-1] = swap
            stack.append("INSIDE_LITERAL")
        elif char == "-":
            stack[-1] = swap
            stack.append("INSIDE_NUMBER")
        elif "0" <= char <= "9":
            last_valid = i
            stack[-1] = swap
            stack.append("INSIDE_NUMBER")

    def after_value(char: str, i: int, comma_state: str, closer: str) -> None:
        nonlocal last_valid
        if char == ",":
            stack[-1] = comma_state
        elif char == closer:
            last_valid = i
            stack.pop()

    def after_object_value(char: str, i: int) -> None:
        after_value(char, i, "INSIDE_OBJECT_AFTER_COMMA", "}")

    def after_array_value(char: str, i: int) -> None:
        after_value(char, i, "INSIDE_ARRAY_AFTER_COMMA", "]")

    for i, char in enumerate(text):
        state = stack[-1]
        if state == "ROOT":
            value_start(char, i, "FINISH")
        elif state == "INSIDE_OBJECT_START":
            if char == '"':
                stack[-1] = "INSIDE_OBJECT_KEY"
            elif char == "}":
                last_valid = i
                stack.pop()
        elif state == "INSIDE_OBJECT_AFTER_COMMA":
            if char == '"':
                stack[-1] = "INSIDE_OBJECT_KEY"
        elif state == "INSIDE_OBJECT_KEY":
            if char == '"':
                stack[-1] = "INSIDE_OBJECT_AFTER_KEY"
        elif state == "INSIDE_OBJECT_AFTER_KEY":
            if char == ":":
                stack[-1] = "INSIDE_OBJECT_BEFORE_VALUE"
        elif state == "INSIDE_OBJECT_BEFORE_VALUE":
            value_start(char, i, "INSIDE_OBJECT_AFTER_VALUE")
        elif state == "INSIDE_OBJECT_AFTER_VALUE":
            after_object_value(char, i)
        elif state == "INSIDE_STRING":
            if char == '"':
                stack.pop()
                last_valid = i
            elif char == "\\":
                stack.append("INSIDE_STRING_ESCAPE")
            else:
                last_valid = i
        elif state == "INSIDE_ARRAY_START":
            if char == "]":
                last_valid = i
                stack.pop()
            else:
                value_start(char, i, "INSIDE_ARRAY_AFTER_VALUE")
        elif state == "INSIDE_ARRAY_AFTER_VALUE":
            if char == ",":
                stack[-1] = "INSIDE_ARRAY_AFTER_COMMA"
            elif char == "]":
                last_valid = i
                stack.pop()
            else:
                last_valid = i
        elif state == "INSIDE_ARRAY_AFTER_COMMA":
            value_start(char, i, "INSIDE_ARRAY_AFTER_VALUE")
        elif state == "INSIDE_STRING_ESCAPE":
            stack.pop()
            if char == "u":
                unicode_digits = 0
                stack.append("INSIDE_STRING_UNICODE_ESCAPE")
            else:
                last_valid = i
        elif state == "INSIDE_STRING_UNICODE_ESCAPE":
            if char in "0123456789abcdefABCDEF":
                unicode_digits += 1
                if unicode_digits == 4:
                    stack.pop()
                    last_valid = i
        elif state == "INSIDE_NUMBER":
            if "0" <= char <= "9":
                last_valid = i
            elif char in "eE-.":
                pass
            elif char in ",}]":
                # The number ends; the container around it reads the same character.
                stack.pop()
                if char != "}" and stack[-1] == "INSIDE_ARRAY_AFTER_VALUE":
                    after_array_value(char, i)
                if char != "]" and stack[-1] == "INSIDE_OBJECT_AFTER_VALUE":
                    after_object_value(char, i)
            else:
                stack.pop()
        elif state == "INSIDE_LITERAL":
            partial = text[literal_start : i + 1]
            if not any(word.startswith(partial) for word in ("false", "true", "null")):
                stack.pop()
                if stack[-1] == "INSIDE_OBJECT_AFTER_VALUE":
                    after_object_value(char, i)
                elif stack[-1] == "INSIDE_ARRAY_AFTER_VALUE":
                    after_array_value(char, i)
            else:
                last_valid = i

    result = text[: last_valid + 1]
    for state in reversed(stack):
        if state == "INSIDE_STRING":
            result += '"'
        elif state.startswith("INSIDE_OBJECT"):
            result += "}"
        elif state.startswith("INSIDE_ARRAY"):
            result += "]"
        elif state == "INSIDE_LITERAL":
            partial = text[literal_start:]
            for word in ("true", "false", "null"):
                if word.startswith(partial):
                    result += word[len(partial) :]
                    break
    return result
