"""Tools from MCP servers: connections the gateway runs like dependencies, and their tools
offered and run like the registry's.

`servers.McpServers` keeps one supervised connection per configured server (connection.py)
across config reloads; an engine holds the set its config names (`McpToolset`) and offers their
tools (tools.py) under names that cannot collide (naming.py), mapping results faithfully
(results.py).
"""

from gateway.mcp.servers import McpServers, McpToolset
from gateway.mcp.tools import McpTool

__all__ = ["McpServers", "McpTool", "McpToolset"]
