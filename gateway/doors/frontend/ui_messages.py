"""AI SDK 5+ UI messages (`{id, role, parts: [...]}`) into the OpenAI-shaped messages LiteLLM takes.

Text parts become text; file parts become image or file content parts; an assistant message's
tool parts with an output become an assistant tool-call turn followed by tool messages, split
at each `step-start` so a multi-step answer replays in its original order. Parts that carry
nothing for the model (reasoning, sources, data-*) are dropped.

Approvals (the AI SDK's flow, gateway/approvals/): a call a person denied (`output-denied`)
replays with a result saying so. In the last step of the conversation's last message, a call
in state `approval-responded` is a decision the gateway acts on now (`decisions_in`): it stays
in the assistant turn, and the engine adds its result once it has run it (or answered it as
denied). Anywhere else, and a call still waiting for a decision, it is dropped like any call
without a result.
"""

from __future__ import annotations

import json
from typing import Any

from gateway.approvals import ToolDecision
from gateway.approvals.decisions import denied_text
from gateway.events import ToolCall

_FINISHED_TOOL_STATES = {"output-available", "output-error", "output-denied"}
DECIDED = "approval-responded"


def ui_message_to_litellm(
    role: str, parts: list[dict[str, Any]], *, deciding: bool = False
) -> list[dict[str, Any]]:
    """`deciding`: this is the conversation's last message, and its last step's decided
    calls are about to be run (their results are added after it)."""
    if role == "assistant":
        return _assistant_messages(parts, deciding)
    content = _content(parts)
    if role == "system" and not isinstance(content, str):
        content = " ".join(p.get("text", "") for p in content if p.get("type") == "text")
    return [{"role": role, "content": content}]


def _content(parts: list[dict[str, Any]]) -> str | list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    for part in parts:
        kind = part.get("type")
        if kind == "text":
            blocks.append({"type": "text", "text": str(part.get("text", ""))})
        elif kind == "file":
            blocks.append(_file_block(part))
    if all(block["type"] == "text" for block in blocks):
        return "".join(block["text"] for block in blocks)
    return blocks


def _file_block(part: dict[str, Any]) -> dict[str, Any]:
    url = str(part.get("url", ""))
    media_type = str(part.get("mediaType", ""))
    if media_type.startswith("image/"):
        return {"type": "image_url", "image_url": {"url": url}}
    file: dict[str, Any] = (
        {"file_data": url, "format": media_type} if media_type else {"file_data": url}
    )
    if part.get("filename"):
        file["filename"] = str(part["filename"])
    return {"type": "file", "file": file}


def decisions_in(role: str, parts: list[dict[str, Any]]) -> list[ToolDecision]:
    """The decided calls in the last step of an assistant message, in their order."""
    if role != "assistant":
        return []
    found: list[ToolDecision] = []
    for part in parts[_last_step(parts) :]:
        approval = part.get("approval")
        if not _is_tool(part) or part.get("state") != DECIDED or not isinstance(approval, dict):
            continue
        if not isinstance(approval.get("approved"), bool) or not part.get("toolCallId"):
            continue
        tool_input = part.get("input")
        args = tool_input if isinstance(tool_input, dict) else None
        call = ToolCall(str(part["toolCallId"]), _tool_name(part), args, json.dumps(tool_input))
        reason = approval.get("reason")
        found.append(
            ToolDecision(call, str(approval.get("id", "")), approval["approved"], reason or None)
        )
    return found


def _last_step(parts: list[dict[str, Any]]) -> int:
    starts = [index for index, part in enumerate(parts) if part.get("type") == "step-start"]
    return starts[-1] + 1 if starts else 0


def _is_tool(part: dict[str, Any]) -> bool:
    kind = str(part.get("type", ""))
    return kind.startswith("tool-") or kind == "dynamic-tool"


def _tool_name(part: dict[str, Any]) -> str:
    kind = str(part.get("type", ""))
    return str(part.get("toolName")) if kind == "dynamic-tool" else kind.removeprefix("tool-")


def _assistant_messages(parts: list[dict[str, Any]], deciding: bool) -> list[dict[str, Any]]:
    decided_from = _last_step(parts) if deciding else len(parts)
    messages: list[dict[str, Any]] = []
    text: list[str] = []
    calls: list[dict[str, Any]] = []
    results: list[dict[str, Any]] = []

    def flush() -> None:
        if text or calls:
            message: dict[str, Any] = {"role": "assistant", "content": "".join(text) or None}
            if calls:
                message["tool_calls"] = list(calls)
            messages.append(message)
            messages.extend(results)
        text.clear()
        calls.clear()
        results.clear()

    for index, part in enumerate(parts):
        kind = str(part.get("type", ""))
        if kind == "step-start":
            flush()
        elif kind == "text":
            if calls:  # text after a step's tool calls answers their results
                flush()
            text.append(str(part.get("text", "")))
        elif _is_tool(part):
            state = part.get("state")
            decided = state == DECIDED and index >= decided_from
            if (state not in _FINISHED_TOOL_STATES and not decided) or not part.get("toolCallId"):
                continue  # a call with no result would leave the provider waiting for one
            calls.append({
                "id": part["toolCallId"],
                "type": "function",
                "function": {
                    "name": _tool_name(part),
                    "arguments": json.dumps(part.get("input") or {}),
                },
            })  # fmt: skip
            if decided:
                continue  # its result comes from the engine, once it has run or been denied
            results.append({
                "role": "tool",
                "tool_call_id": part["toolCallId"],
                "content": _tool_output(part),
            })  # fmt: skip
    flush()
    return messages


def _tool_output(part: dict[str, Any]) -> str:
    if part.get("state") == "output-denied":
        approval = part.get("approval")
        reason = approval.get("reason") if isinstance(approval, dict) else None
        return denied_text(str(reason) if reason else None)
    if part.get("state") == "output-error":
        return json.dumps({"error": part.get("errorText", "the tool failed")})
    output = part.get("output")
    return output if isinstance(output, str) else json.dumps(output, default=str)
