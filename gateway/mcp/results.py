"""An MCP tool result in the gateway's terms: what the client is shown, what the model reads.

Text stays text; `structuredContent` is the result when the server gives one (its text blocks
are the same thing said for older clients); images, audio and resources go to the client as
MCP content blocks, and the model reads a line saying what they are (no chat-completions tool
message can carry an image, and base64 in the model's context would only cost tokens). A result
with `isError` is a tool failure: the model and the client see the server's words.
"""

from __future__ import annotations

import json
from typing import Any

from mcp_types import CallToolResult

from gateway.tools.registry import ToolFailure, ToolOutput

# What the model is told of a tool that failed without saying why.
NO_REASON = "the tool reported an error without a message"


def tool_output(result: CallToolResult) -> ToolOutput:
    """The result as the runner hands it on; raises ToolFailure for an `isError` result."""
    blocks = [_block(block) for block in result.content]
    texts = [block["text"] for block in blocks if block["type"] == "text"]
    if result.is_error:
        raise ToolFailure("\n".join(texts) or NO_REASON)
    as_mcp: dict[str, Any] = {"content": blocks}
    if result.structured_content is not None:
        as_mcp["structuredContent"] = result.structured_content
        return ToolOutput(result.structured_content, _json(result.structured_content), as_mcp)
    if len(texts) == len(blocks):
        text = "\n".join(texts)
        return ToolOutput(text, text, as_mcp)
    said = "\n".join(_said(block) for block in blocks)
    return ToolOutput({"content": blocks}, said, as_mcp)


def _block(block: Any) -> dict[str, Any]:
    dumped: dict[str, Any] = block.model_dump(by_alias=True, exclude_none=True, mode="json")
    dumped.pop("_meta", None)
    return dumped


def _said(block: dict[str, Any]) -> str:
    kind = block.get("type")
    if kind == "text":
        return str(block.get("text", ""))
    if kind in ("image", "audio"):
        size = len(block.get("data", "")) * 3 // 4
        return f"[{kind} {block.get('mimeType', '')}, about {size} bytes, shown to the user]"
    if kind == "resource":
        resource = block.get("resource", {})
        if "text" in resource:
            return str(resource["text"])
        return f"[resource {resource.get('uri', '')} ({resource.get('mimeType', 'binary')})]"
    if kind == "resource_link":
        return f"[resource link {block.get('uri', '')}: {block.get('name', '')}]"
    return f"[{kind} content]"


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)
