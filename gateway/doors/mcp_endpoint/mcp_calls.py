"""One tools/call on /mcp: refused unless the key may use the tool, else run by the gateway's
tool runner (gateway/tools/runner.py: the tool's timeout, failures as results) exactly as a
model's call in a chat answer is, and answered as a CallToolResult."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS, CallToolResult

from gateway.doors.mcp_endpoint.mcp_results import call_tool_result
from gateway.engine import Engine
from gateway.events import ToolCall
from gateway.ids import new_id
from gateway.tools import ServerTool, ToolContext, ToolOutput
from gateway.tools.runner import run_tool_calls


async def call_tool(
    engine: Engine, served: Mapping[str, ServerTool], name: str, arguments: dict[str, Any]
) -> CallToolResult:
    """Run `name` with `arguments`; a tool not in `served` (the key's) is never run."""
    tool = served.get(name)
    if tool is None:
        # The MCP spec's protocol error for an unknown tool; to this key a tool it may not use
        # does not exist (as a model ID outside its `models:` does not), so the words are the same.
        raise MCPError(INVALID_PARAMS, f"Unknown tool: {name}")
    kept = _KeptOutput(tool)
    call = ToolCall(new_id("call"), name, arguments)
    options = engine.config.options
    (result,) = await run_tool_calls(
        [call], {name: kept}, engine.rounds.context, options.tool_timeout
    )
    return call_tool_result(result, kept.output)


@dataclass
class _KeptOutput:
    """`tool` as the runner runs it, keeping what it returned: an MCP server's result goes on
    whole (content blocks, structuredContent), not only the part the runner hands a model."""

    tool: ServerTool
    output: ToolOutput | None = field(default=None, init=False)

    @property
    def name(self) -> str:
        return self.tool.name

    @property
    def description(self) -> str:
        return self.tool.description

    @property
    def timeout_seconds(self) -> float | None:
        return self.tool.timeout_seconds

    @property
    def needs_approval(self) -> bool:
        return self.tool.needs_approval

    def spec(self) -> dict[str, Any]:
        return self.tool.spec()

    async def call(self, args: Mapping[str, Any], context: ToolContext) -> Any:
        result = await self.tool.call(args, context)
        if isinstance(result, ToolOutput):
            self.output = result
        return result
