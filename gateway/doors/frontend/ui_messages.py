"""AI SDK 5+ UI messages (`{id, role, parts: [...]}`) into the OpenAI-shaped messages LiteLLM takes.

Text parts become text; file parts become image or file content parts; an assistant message's
tool parts with an output become an assistant tool-call turn followed by tool messages, split
at each `step-start` so a multi-step answer replays in its original order. Parts that carry
nothing for the model (reasoning, sources, data-*) are dropped.
"""

from __future__ import annotations

import json
from typing import Any

_FINISHED_TOOL_STATES = {"output-available", "output-error"}


def ui_message_to_litellm(role: str, parts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if role == "assistant":
        return _assistant_messages(parts)
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


def _assistant_messages(parts: list[dict[str, Any]]) -> list[dict[str, Any]]:
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

    for part in parts:
        kind = str(part.get("type", ""))
        if kind == "step-start":
            flush()
        elif kind == "text":
            if calls:  # text after a step's tool calls answers their results
                flush()
            text.append(str(part.get("text", "")))
        elif kind.startswith("tool-") or kind == "dynamic-tool":
            if part.get("state") not in _FINISHED_TOOL_STATES or not part.get("toolCallId"):
                continue  # a call with no result would leave the provider waiting for one
            name = part.get("toolName") if kind == "dynamic-tool" else kind.removeprefix("tool-")
            calls.append({
                "id": part["toolCallId"],
                "type": "function",
                "function": {"name": name, "arguments": json.dumps(part.get("input") or {})},
            })  # fmt: skip
            results.append({
                "role": "tool",
                "tool_call_id": part["toolCallId"],
                "content": _tool_output(part),
            })  # fmt: skip
    flush()
    return messages


def _tool_output(part: dict[str, Any]) -> str:
    if part.get("state") == "output-error":
        return json.dumps({"error": part.get("errorText", "the tool failed")})
    output = part.get("output")
    return output if isinstance(output, str) else json.dumps(output, default=str)
