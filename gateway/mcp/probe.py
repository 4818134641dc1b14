"""`gateway check-config --connect`: each configured MCP server started (or reached) once, by the
same supervised connection the gateway serves with (connection.py), and what it offered or why
it did not; then every connection is closed (a stdio server's process ends with it)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass

from gateway.config.mcp_servers import McpServerSpec
from gateway.mcp.connection import ServerConnection
from gateway.redaction import Redactor

DESCRIPTION_CHARS = 100  # a description is shown on one line, cut here


@dataclass(frozen=True)
class ServerProbe:
    name: str
    target: str  # where it is, without secrets (McpServerSpec.describe)
    transport: str
    state: str  # ready, failed, missing_env
    tools: tuple[tuple[str, str], ...]  # (offered name, one-line description)
    error: str | None  # secrets scrubbed
    protocol_version: str | None

    @property
    def ok(self) -> bool:
        return self.state == "ready"


async def probe_servers(
    specs: Iterable[McpServerSpec], connect_seconds: float, redactor: Redactor
) -> list[ServerProbe]:
    """Connect to every server at once, each given `connect_seconds` to start, answer
    initialize and list its tools."""
    connections = [
        ServerConnection(spec, connect_timeout=connect_seconds, restart=False) for spec in specs
    ]
    try:
        for connection in connections:
            connection.start()
        await asyncio.gather(*(connection.first_attempt() for connection in connections))
        return [_probe(connection, redactor) for connection in connections]
    finally:
        await asyncio.gather(*(connection.stop() for connection in connections))


def _probe(connection: ServerConnection, redactor: Redactor) -> ServerProbe:
    tools = tuple(
        (name, _one_line(tool.description or tool.title or ""))
        for name, tool in sorted(connection.tools.items())
    )
    error = redactor.redact(connection.error) if connection.error else None
    return ServerProbe(
        name=connection.name,
        target=redactor.scrub_secrets(connection.spec.describe()),
        transport=connection.spec.transport,
        state=connection.state,
        tools=tools,
        error=error,
        protocol_version=connection.protocol_version,
    )


def _one_line(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= DESCRIPTION_CHARS else line[: DESCRIPTION_CHARS - 1] + "…"
