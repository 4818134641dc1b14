"""A tool's result (the runner's ToolResult) as the MCP CallToolResult /mcp answers with.

An MCP server's result goes on as that server gave it (content blocks, images included, and
structuredContent). A registry tool's value becomes text (a string as it is, anything else as
JSON) and, when it is a JSON object, structuredContent too, as the MCP spec asks of structured
results. A failure of either kind (the tool's own error, a timeout, arguments that fail the
schema, a server that is away) is `isError: true` with the runner's words: the same text the
chat doors' models read.
"""

from __future__ import annotations

import json
from typing import Any

from mcp_types import CallToolResult, TextContent

from gateway.events import ToolResult
from gateway.tools import ToolOutput


def call_tool_result(result: ToolResult, output: ToolOutput | None) -> CallToolResult:
    """`output` is what the tool itself returned, when it was a ToolOutput (an MCP tool's)."""
    if result.is_error:
        return CallToolResult(content=[TextContent(text=_error_text(result.result))], is_error=True)
    if output is not None and output.as_mcp is not None:
        return CallToolResult.model_validate(output.as_mcp)
    value = result.result
    if isinstance(value, str):
        return CallToolResult(content=[TextContent(text=value)])
    text = json.dumps(value, ensure_ascii=False, default=str)
    structured = value if isinstance(value, dict) else None
    return CallToolResult(content=[TextContent(text=text)], structured_content=structured)


def _error_text(value: Any) -> str:
    if isinstance(value, dict) and isinstance(value.get("error"), str):
        return str(value["error"])
    return json.dumps(value, ensure_ascii=False, default=str)
