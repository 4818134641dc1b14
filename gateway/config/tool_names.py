"""How the YAML names the tools a model is offered: registry tools by name, an MCP server's tools
as `mcp__<server>__<tool>`, and either by pattern (`mcp__time__*`, `get_*`).

An MCP server's tools are only known once the gateway has connected to it, so a config can
only check that a name or pattern names a configured server; which tools match is decided
against what the server lists at the time of each request.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable

# Registry tools may not take this prefix: an MCP tool's name can never collide with one.
MCP_TOOL_PREFIX = "mcp__"
MCP_SEPARATOR = "__"


def is_pattern(name: str) -> bool:
    return any(mark in name for mark in "*?[")


def matches(pattern: str, name: str) -> bool:
    return fnmatch.fnmatchcase(name, pattern) if is_pattern(pattern) else pattern == name


def select(patterns: Iterable[str], available: Iterable[str]) -> list[str]:
    """The available names the patterns pick, in the patterns' order, each once."""
    names = list(available)
    chosen: dict[str, None] = {}
    for pattern in patterns:
        for name in names if is_pattern(pattern) else [pattern]:
            if name in names and matches(pattern, name):
                chosen[name] = None
    return list(chosen)


def mcp_server_named(name_or_pattern: str) -> str | None:
    """The server an `mcp__<server>__...` name or pattern names; None for a registry name."""
    if not name_or_pattern.startswith(MCP_TOOL_PREFIX):
        return None
    server, _, _ = name_or_pattern[len(MCP_TOOL_PREFIX) :].partition(MCP_SEPARATOR)
    return server
