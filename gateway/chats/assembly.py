"""The finished assistant message, as an AI SDK UI message: the fold of the UI message stream
chunks the answer's events are streamed as (UIMessageChunks, the encoder's own translator).

A page that reloads renders the chat from stored UI messages, so the stored one must be what
the page itself would have built from the live stream: the `ai` package's readUIMessageStream
over the bytes UIMessageStreamEncoder sends. The encoder's choices (which block is open, the ids
it numbers, the chunk it sends for a call that arrived whole or with arguments that are not
JSON) come with its chunks; this folds them as the SDK's processUIMessageStream does (which part
a chunk updates, which fields it sets or clears, how message metadata is merged). The tests hold
it to the real SDK, event list by event list.

Two SDK habits it keeps on purpose: the last message readUIMessageStream yields is a snapshot
taken at its last write, and `start-step` and `error` do not write, so a trailing step-start
that nothing followed is not in it; and a chunk the SDK cannot place (a result for a tool call
it never saw) ends its reading, so the builder ignores every chunk after such a one too.
"""

from __future__ import annotations

import copy
from typing import Any

from gateway.chats.partial_json import UNSET, partial_input
from gateway.doors.frontend.ui_message_stream_encoder import (
    INVALID_INPUT_TEXT,
    Chunk,
    UIMessageChunks,
)
from gateway.events import Event

__all__ = ["INVALID_INPUT_TEXT", "AssistantMessageBuilder"]

# The SDK's mergeObjects never copies these keys (prototype pollution guard).
_UNMERGED_KEYS = frozenset({"__proto__", "constructor", "prototype"})


class AssistantMessageBuilder:
    """Feed it one answer's events in order; `message()` is the UI message a page would hold."""

    def __init__(
        self,
        message_id: str,
        metadata: dict[str, Any] | None = None,
        continued: dict[str, Any] | None = None,
    ) -> None:
        """`continued`: the message an answer paused for approvals goes on in (the SDK's
        `lastMessage`): its parts, then what this answer adds or changes."""
        self._id = message_id
        self._chunks = UIMessageChunks(metadata)
        self._metadata: dict[str, Any] | None = None
        self._parts: list[dict[str, Any]] = copy.deepcopy(list((continued or {}).get("parts", ())))
        # The open text or reasoning part and its text so far (joined when it closes).
        self._open: dict[str, Any] | None = None
        self._open_text: list[str] = []
        # Index of the current step's first part: the SDK looks there first.
        self._step_begin = 1 + max(
            (i for i, part in enumerate(self._parts) if part.get("type") == "step-start"),
            default=-1,
        )
        self._unshown_step_starts = 0  # step-starts appended since the SDK's last snapshot
        self._partial_inputs: dict[str, tuple[str, str]] = {}  # call id -> (tool name, text)
        self._halted = False
        if continued is not None and isinstance(continued.get("metadata"), dict):
            self._metadata = copy.deepcopy(continued["metadata"])
        if metadata:
            # The message has the chat's metadata from the start (the `start` chunk, merging
            # the same again, changes nothing).
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
        for chunk in self._chunks.translate(event):
            if self._halted:
                return
            self._fold(chunk)

    def _fold(self, chunk: Chunk) -> None:
        kind = chunk["type"]
        # Text deltas are most chunks of an answer: the cheapest path first.
        if kind == "text-delta" or kind == "reasoning-delta":
            self._open_text.append(chunk["delta"])
            self._unshown_step_starts = 0
            return
        match kind:
            case "start":
                if "messageMetadata" in chunk:
                    self.add_metadata(chunk["messageMetadata"])
                self._shown()  # the `start` chunk, with its messageId, writes a snapshot
            case "start-step":
                self._parts.append({"type": "step-start"})
                self._step_begin = len(self._parts)
                self._unshown_step_starts += 1
            case "text-start":
                self._open_block({"type": "text", "text": "", "state": "streaming"})
            case "reasoning-start":
                # Reasoning parts keep the chunk id, text parts do not (the SDK's choice).
                part = {"type": "reasoning", "id": chunk["id"], "text": "", "state": "streaming"}
                self._open_block(part)
            case "text-end" | "reasoning-end":
                self._close_block()
            case "tool-input-start":
                self._tool_input_start(chunk["toolCallId"], chunk["toolName"])
            case "tool-input-delta":
                self._tool_input_delta(chunk["toolCallId"], chunk["inputTextDelta"])
            case "tool-input-available":
                call_id, name = chunk["toolCallId"], chunk["toolName"]
                self._update_tool_part(call_id, name, "input-available", tool_input=chunk["input"])
                self._shown()
            case "tool-input-error":
                # The raw argument text becomes the input, the state an error.
                self._update_tool_part(
                    chunk["toolCallId"],
                    chunk["toolName"],
                    "output-error",
                    tool_input=chunk["input"],
                    error_text=chunk["errorText"],
                )
                self._shown()
            case "tool-output-available":
                self._tool_output(chunk["toolCallId"], output=chunk["output"])
            case "tool-output-error":
                self._tool_output(chunk["toolCallId"], error_text=chunk["errorText"])
            case "tool-approval-request":
                # The call waits: the SDK's state approval-requested, with the request's id.
                self._tool_state(
                    chunk["toolCallId"], "approval-requested", {"id": chunk["approvalId"]}
                )
            case "tool-output-denied":
                self._tool_state(chunk["toolCallId"], "output-denied")
            case "finish":
                self.add_metadata(chunk["messageMetadata"])
                self._shown()
            # `finish-step` adds no part; `error` only reaches the client's onError.

    def message(self) -> dict[str, Any]:
        """{"id", "role": "assistant", "parts", "metadata"}; no metadata key while there is none."""
        end = len(self._parts) - self._unshown_step_starts
        parts = copy.deepcopy(self._parts[:end])
        for index, part in enumerate(self._parts[:end]):
            if part is self._open:
                parts[index]["text"] = "".join(self._open_text)
            elif part.get("state") == "input-streaming" and "rawInput" in part:
                value = partial_input(part)
                if value is not UNSET:
                    parts[index]["input"] = value
        message: dict[str, Any] = {"id": self._id, "role": "assistant", "parts": parts}
        if self._metadata is not None:
            message["metadata"] = copy.deepcopy(self._metadata)
        return message

    def _shown(self) -> None:
        """The SDK wrote a snapshot: every part so far is in the message it yields."""
        self._unshown_step_starts = 0

    def _open_block(self, part: dict[str, Any]) -> None:
        self._parts.append(part)
        self._open, self._open_text = part, []
        self._shown()

    def _close_block(self) -> None:
        if self._open is None:
            return
        self._open["text"] = "".join(self._open_text)
        self._open["state"] = "done"
        self._open, self._open_text = None, []
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

    def _tool_output(self, call_id: str, *, output: Any = UNSET, error_text: Any = UNSET) -> None:
        part = self._find_tool_part(call_id)
        if part is None:
            self._halted = True  # the SDK throws: no tool invocation found for the call ID
            return
        name = part["type"].removeprefix("tool-")
        tool_input = part.get("input", UNSET)
        if part["state"] == "input-streaming" and "rawInput" in part:
            tool_input = partial_input(part)
        if error_text is not UNSET:
            self._update_tool_part(
                call_id,
                name,
                "output-error",
                tool_input=tool_input,
                raw_input=part.get("rawInput", UNSET),
                error_text=error_text,
                existing=part,
            )
        else:
            self._update_tool_part(
                call_id,
                name,
                "output-available",
                tool_input=tool_input,
                output=output,
                existing=part,
            )
        self._shown()

    def _tool_state(self, call_id: str, state: str, approval: dict[str, Any] | None = None) -> None:
        """The SDK sets only the state (and, for a request, the approval) of the call's part."""
        part = self._find_tool_part(call_id)
        if part is None:
            self._halted = True  # the SDK throws: no tool invocation found for the call ID
            return
        part["state"] = state
        if approval is not None:
            part["approval"] = approval
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
        tool_input: Any = UNSET,
        output: Any = UNSET,
        raw_input: Any = UNSET,
        error_text: Any = UNSET,
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
            if value is UNSET:
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
