"""Every configured MCP server's connection, kept across config reloads.

An engine acquires the connections its config names (`acquire`, giving an `McpToolset`) and
releases them when it is closed. A reload that leaves a server's entry as it was keeps its
connection; one that changes or removes it starts the new connection beside the old, and the
old one is closed once no engine holds it, so a tool call in flight on the replaced config
finishes on the connection it began on. Each worker process has its own connections (and its
own stdio server processes).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping
from typing import Any

from gateway.config.mcp_servers import McpServerSpec
from gateway.mcp.connection import ServerConnection
from gateway.mcp.tools import McpTool

log = logging.getLogger("gateway.mcp")


class McpToolset:
    """The MCP servers one engine's config names, and their tools as they are now."""

    def __init__(self, connections: Iterable[ServerConnection] = ()) -> None:
        self.connections: dict[str, ServerConnection] = {c.name: c for c in connections}

    def tools(self) -> dict[str, McpTool]:
        """Offered name -> tool, of the servers connected now (a server that is down offers
        none: /health/ready and gateway_mcp_server_up say so)."""
        found: dict[str, McpTool] = {}
        for connection in self.connections.values():
            if connection.state != "ready":
                continue
            for name, tool in connection.tools.items():
                found[name] = McpTool.of(name, tool, connection)
        return found


class McpServers:
    def __init__(self) -> None:
        self._holders: dict[ServerConnection, int] = {}
        self._started = False

    def acquire(self, specs: Iterable[McpServerSpec]) -> McpToolset:
        """The connections for `specs`: those already running with the same entry, else new
        ones (started now, or with `start` if the loop is not running yet)."""
        chosen = []
        for spec in specs:
            connection = next(
                (c for c in self._holders if c.spec == spec and c.state != "stopped"), None
            )
            if connection is None:
                connection = ServerConnection(spec)
                self._holders[connection] = 0
                if self._started:
                    connection.start()
            self._holders[connection] += 1
            chosen.append(connection)
        return McpToolset(chosen)

    async def release(self, toolset: McpToolset) -> None:
        """The engine that held `toolset` is closed: stop what no engine holds now."""
        unheld = []
        for connection in toolset.connections.values():
            self._holders[connection] -= 1
            if self._holders[connection] <= 0:
                del self._holders[connection]
                unheld.append(connection)
        await asyncio.gather(*(connection.stop() for connection in unheld))

    def start(self) -> None:
        """Start every connection acquired so far (in the worker's loop, at start-up)."""
        self._started = True
        for connection in self._holders:
            connection.start()

    def report(self, current: McpToolset) -> list[Mapping[str, Any]]:
        """Each server the serving config names: its state and tool count."""
        return [connection.report() for connection in current.connections.values()]

    async def aclose(self) -> None:
        connections, self._holders = list(self._holders), {}
        await asyncio.gather(*(connection.stop() for connection in connections))
