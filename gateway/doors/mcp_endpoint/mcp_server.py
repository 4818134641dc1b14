"""The MCP server one HTTP request to /mcp is answered by, through the official SDK.

Stateless by design: each POST gets a low-level `Server` of its own, holding the tools of the
request's key on the request's leased engine, served by a `StreamableHTTPSessionManager` in
stateless, JSON-response mode that lives as long as the request. Nothing is kept between
requests (no `Mcp-Session-Id`, no event store), so any replica behind a load balancer can answer
any request, a config reload changes nothing of a request under way, and a tool call runs in the
request's own task (the client leaving cancels it). Both eras of the protocol are served: the
handshake era's `initialize` (answered on every POST that sends it) and 2026-07-28's
per-request envelope (`server/discover`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mcp.server import Server, ServerRequestContext
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp_types import (
    CallToolRequestParams,
    CallToolResult,
    ListToolsResult,
    PaginatedRequestParams,
    Tool,
)
from starlette.types import Receive, Scope, Send

from gateway import __version__
from gateway.doors.mcp_endpoint.mcp_calls import call_tool
from gateway.engine import Engine
from gateway.mcp import McpTool
from gateway.tools import ServerTool

SERVER_NAME = "llm-gateway"


def request_server(
    engine: Engine, served: Mapping[str, ServerTool], log_fields: dict[str, Any]
) -> Server[Any]:
    """A server that lists `served` and calls them on `engine`; what a call did goes into
    `log_fields` (the request log's line)."""
    listed = {name: _listed(tool) for name, tool in served.items()}

    async def list_tools(
        ctx: ServerRequestContext[Any], params: PaginatedRequestParams | None
    ) -> ListToolsResult:
        return ListToolsResult(tools=list(listed.values()))

    async def call(ctx: ServerRequestContext[Any], params: CallToolRequestParams) -> CallToolResult:
        # A name the key may not use is the client's word, not a tool: not logged as one.
        log_fields["tool"] = params.name if params.name in served else "unknown"
        result = await call_tool(engine, served, params.name, params.arguments or {})
        log_fields["tool_error"] = result.is_error
        return result

    def input_schema(name: str) -> Mapping[str, Any] | None:
        tool = listed.get(name)
        return tool.input_schema if tool is not None else None

    server: Server[Any] = Server(
        SERVER_NAME,
        version=__version__,
        on_list_tools=list_tools,
        on_call_tool=call,
        # Scoped to this request's key, so the SDK need not list the tools again to check a
        # 2026-07-28 call's Mcp-Param-* headers.
        get_tool_input_schema=input_schema,
    )
    # The SDK's own OpenTelemetry span per message would be a second server span beside the
    # request log's (gateway/observability/tracing.py); the runner's tool span stays.
    server.middleware.clear()
    return server


async def serve(
    server: Server[Any], max_body_bytes: int, scope: Scope, receive: Receive, send: Send
) -> None:
    """Answer one HTTP request with `server`, as the SDK's streamable HTTP transport does."""
    manager = StreamableHTTPSessionManager(
        server, json_response=True, stateless=True, max_request_body_size=max_body_bytes
    )
    async with manager.run():
        await manager.handle_request(scope, receive, send)


def _listed(tool: ServerTool) -> Tool:
    function = tool.spec()["function"]
    listed = Tool(
        name=tool.name, description=tool.description, input_schema=dict(function["parameters"])
    )
    if isinstance(tool, McpTool):
        # What the server itself says of the tool goes on: its title, output schema (a client
        # checks structuredContent against it) and hints (read-only, destructive, ...).
        own = tool.connection.tools.get(tool.name)
        if own is not None:
            listed = listed.model_copy(
                update={
                    "title": own.title,
                    "output_schema": own.output_schema,
                    "annotations": own.annotations,
                }
            )
    return listed
