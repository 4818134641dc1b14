"""An MCP server's tool, offered and run like a registry tool (gateway/tools/registry.py)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import mcp_types

from gateway.mcp.connection import ServerConnection, ServerUnavailable
from gateway.mcp.results import tool_output
from gateway.observability import metrics
from gateway.tools.registry import ToolContext, ToolFailure, ToolOutput


@dataclass(frozen=True)
class McpTool:
    name: str  # as offered: mcp__<server>__<tool>
    own_name: str  # as the server calls it
    description: str
    parameters: Mapping[str, Any]
    connection: ServerConnection = field(repr=False, compare=False)
    timeout_seconds: float | None = None
    needs_approval: bool = False

    @classmethod
    def of(cls, name: str, tool: mcp_types.Tool, connection: ServerConnection) -> McpTool:
        spec = connection.spec
        return cls(
            name=name,
            own_name=tool.name,
            description=tool.description or tool.title or tool.name,
            parameters=_object_schema(tool.input_schema),
            connection=connection,
            timeout_seconds=spec.call_timeout,
            needs_approval=spec.needs_approval(tool.name),
        )

    @property
    def server(self) -> str:
        return self.connection.name

    def spec(self) -> dict[str, Any]:
        function = {"name": self.name, "description": self.description}
        return {"type": "function", "function": {**function, "parameters": dict(self.parameters)}}

    async def call(self, args: Mapping[str, Any], context: ToolContext) -> ToolOutput:
        outcome = "failed"
        try:
            result = await self.connection.call(self.own_name, args)
            outcome = "error" if result.is_error else "ok"
            return tool_output(result)
        except TimeoutError:
            outcome = "timeout"
            raise
        except ServerUnavailable:
            raise
        except ToolFailure:
            outcome = "error"
            raise
        finally:
            metrics.MCP_TOOL_CALLS.labels(self.server, outcome).inc()


def _object_schema(schema: Mapping[str, Any] | None) -> dict[str, Any]:
    """The server's input schema as a function's parameters: always an object."""
    found = dict(schema or {})
    found.pop("$schema", None)
    if found.get("type") != "object":
        return {"type": "object", "properties": {}}
    found.setdefault("properties", {})
    return found
