"""The /mcp door's error shape: a JSON-RPC error object with id null, as an MCP client reads the
body of an HTTP error (the official SDK's client raises it as an MCPError with this message).

For what the gateway refuses before the MCP server reads the request (no key or a wrong one, a
body over the size limit, a rate limit, an Origin it does not serve). A request the MCP server
reads is answered by the SDK in JSON-RPC's own terms (a parse error, an unknown method or
tool)."""

from __future__ import annotations

from typing import Any

from mcp_types import INTERNAL_ERROR, INVALID_REQUEST


def mcp_error(
    status: int, error_type: str, message: str, param: str | None = None
) -> tuple[int, dict[str, Any]]:
    code = INVALID_REQUEST if status < 500 else INTERNAL_ERROR
    error = {"code": code, "message": message, "data": {"type": error_type}}
    return status, {"jsonrpc": "2.0", "id": None, "error": error}
