"""/mcp: the gateway as one MCP server (streamable HTTP), serving the tools a key may use."""
