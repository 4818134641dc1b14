"""Which tools one chat call is offered and may run: the YAML's names and patterns for the model
(registry tools, and MCP servers' tools as connected now), narrowed by the client's API key
(`tools:` in the keys file), then by the request's own list.

Narrowing only: a request may ask for fewer tools, never for one its model is not offered or its
key may not use (a 422 naming it; to that key such a tool does not exist). A tool the model is
offered whose MCP server is down now is not offered, and the answer goes on without it
(/health/ready and gateway_mcp_server_up say the server is down).

A tool that asks first (its own `needs_approval`, or a name in `gateway.require_approval`) is
offered only to a call whose answer can carry the question (gateway/approvals/): elsewhere it
is left out, and a request that names it is refused. A request may make more tools ask first
(the Responses API's `require_approval`), never fewer.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from gateway.config import GatewayConfig
from gateway.config.tool_names import matches, select
from gateway.errors import InvalidRequest
from gateway.mcp import McpToolset
from gateway.tools import ServerTool, ToolRegistry


def key_permits(key_tools: Sequence[str] | None, name: str) -> bool:
    """Whether a key whose keys-file entry says `tools: key_tools` may run the tool `name`."""
    return key_tools is None or any(matches(pattern, name) for pattern in key_tools)


@dataclass(frozen=True)
class ToolOffer:
    # Name -> tool, in the order the YAML lists them.
    tools: dict[str, ServerTool]
    # The names among them whose every call waits for a person's approval.
    asking: frozenset[str] = frozenset()


def offered_tools(
    config: GatewayConfig,
    registry: ToolRegistry,
    mcp: McpToolset,
    model_id: str,
    asked: Sequence[str] | None,
    key_tools: Sequence[str] | None = None,
    *,
    can_ask: bool = False,
    asks_too: Collection[str] = (),
) -> ToolOffer:
    """`asks_too`: names that ask first for this call though the YAML does not say so (a
    client may add approvals, never drop the YAML's)."""
    patterns = config.tools_for(model_id)
    if asked is not None:
        refused = [
            name
            for name in asked
            if not (any(matches(p, name) for p in patterns) and key_permits(key_tools, name))
        ]
        if refused:
            enabled = (
                patterns
                if key_tools is None
                else [
                    name
                    for name in select(patterns, _available(registry, mcp))
                    if key_permits(key_tools, name)
                ]
            )
            raise InvalidRequest(
                f"tools: {', '.join(map(repr, refused))} not enabled for model "
                f"'{model_id}'; enabled: {', '.join(enabled) or 'none'}",
                param="tools",
            )
    available = _available(registry, mcp)
    chosen = [name for name in select(patterns, available) if key_permits(key_tools, name)]
    if asked is not None:
        chosen = [name for name in chosen if name in asked]
    asking = {name for name in chosen if name in asks_too or asks_first(config, available[name])}
    if asking and not can_ask:
        named = [name for name in asked or () if name in asking]
        if named:
            raise InvalidRequest(
                f"tools: {', '.join(map(repr, named))} must be approved before each call, and "
                "this answer cannot carry an approval request (only /api/chat's UI message "
                "stream can: ?protocol=ui-message-stream)",
                param="tools",
            )
        chosen = [name for name in chosen if name not in asking]
        asking = set()
    return ToolOffer({name: available[name] for name in chosen}, frozenset(asking))


def asks_first(config: GatewayConfig, tool: ServerTool) -> bool:
    """Does every call of `tool` wait for a person's approval?"""
    return tool.needs_approval or any(
        matches(pattern, tool.name) for pattern in config.options.require_approval
    )


def _available(registry: ToolRegistry, mcp: McpToolset) -> Mapping[str, ServerTool]:
    found: dict[str, ServerTool] = {}
    for name in registry.names:
        tool = registry.get(name)
        if tool is not None:
            found[name] = tool
    found.update(mcp.tools())
    return found
