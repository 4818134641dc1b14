"""The YAML's tool names checked: `gateway.tool_modules` import, and every name or pattern in
`gateway.tools`, `gateway.tool_options`, `gateway.require_approval` and an entry's `tools` names
a registry tool or a configured MCP server (whose own tools are only known once it is
connected)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from gateway.config.catalog import Catalog
from gateway.config.mcp_servers import McpServerSpec
from gateway.config.model import Deployment, entry_label
from gateway.config.options import GatewayOptions
from gateway.config.problems import did_you_mean
from gateway.config.tool_names import MCP_TOOL_PREFIX, is_pattern, matches, mcp_server_named

ProblemSink = Callable[[tuple[str | int, ...], str, str], None]


def check_tool_names(
    options: GatewayOptions,
    deployments: Sequence[Deployment],
    servers: Sequence[McpServerSpec],
    catalog: Catalog,
    problem: ProblemSink,
) -> None:
    for position, module in enumerate(options.tool_modules):
        try:
            catalog.import_tool_module(module)
        except Exception as exc:
            at = ("gateway", "tool_modules", position)
            problem(at, f"gateway.tool_modules[{position}]", f"cannot import {module!r}: {exc}")
    known = catalog.tool_names()
    for name in sorted(known):
        if name.startswith(MCP_TOOL_PREFIX):
            problem(
                ("gateway", "tool_modules"),
                "gateway.tool_modules",
                f"tool {name!r}: the prefix {MCP_TOOL_PREFIX!r} is kept for MCP servers' tools",
            )
    server_names = [server.name for server in servers]

    def check(at: tuple[str | int, ...], where: str, name: str) -> None:
        found = _unknown(name, known, server_names)
        if found:
            problem(at, where, found)

    for position, name in enumerate(options.tools):
        check(("gateway", "tools", position), f"gateway.tools[{position}]", name)
    for position, name in enumerate(options.require_approval):
        at = ("gateway", "require_approval", position)
        check(at, f"gateway.require_approval[{position}]", name)
    for name in options.tool_options:
        check(("gateway", "tool_options", name), f"gateway.tool_options.{name}", name)
    for d in deployments:
        for position, name in enumerate(d.tools or ()):
            at = ("model_list", d.index, "tools", position)
            check(at, f"{entry_label(d.index, d.model_id)}: tools[{position}]", name)


def _unknown(name: str, known: Iterable[str], servers: Sequence[str]) -> str | None:
    """Why `name` names no tool, or None."""
    server = mcp_server_named(name)
    if server is not None:
        if any(matches(server, name) for name in servers):
            return None
        return f"no MCP server {server!r} in mcp_servers{did_you_mean(server, servers)}"
    if is_pattern(name):
        if any(matches(name, tool) for tool in known):
            return None
        return f"the pattern {name!r} matches no tool"
    if name in known:
        return None
    return f"unknown tool {name!r}{did_you_mean(name, known)}"
