"""A request's `{"type": "mcp"}` tools against the leased config: which of each named server's
tools the model is offered, which of them ask first, what the answer lists, and the 4xx a
request deserves.

Narrowing only, as everywhere (gateway/tool_offer.py): a server's tools are those the YAML
offers the model (`gateway.tools` / the entry's `tools:`, by name or pattern) and the client's
key may use (the keys file's `tools:`), narrowed by the tool's `allowed_tools`. Approvals only
grow: a tool asks first when the YAML says so (`mcp_servers.<name>.require_approval`,
`gateway.require_approval`, a registry tool's own) whatever the request says, and when the
request's `require_approval` asks for it (OpenAI's default, when it says nothing, is to ask for
every tool). A server that is configured but not connected now lists no tools, with an error,
and the answer goes on without them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import mcp_types

from gateway.config.tool_names import MCP_TOOL_PREFIX, is_pattern, matches, mcp_server_named
from gateway.doors.openai_responses.responses_mcp_schemas import McpToolSpec, ToolFilter
from gateway.doors.openai_responses.responses_output_items import McpListing, McpOffer
from gateway.engine import Engine
from gateway.errors import InvalidRequest
from gateway.mcp import McpTool
from gateway.tool_offer import offered_tools


def mcp_offer(
    engine: Engine,
    model_id: str,
    tools: list[tuple[int, McpToolSpec]],
    listed_before: set[str],
    key_tools: Sequence[str] | None = None,
) -> tuple[list[str] | None, McpOffer]:
    """The tool names the gateway may run for this request (None: it has no mcp tool), and
    the offer the answer is built with. `listed_before`: server labels the conversation has
    an mcp_list_tools item for already (OpenAI lists a server once per conversation);
    `key_tools`: the names and patterns the client's key may use (None: any)."""
    if not tools:
        return None, McpOffer()
    by_server: dict[str, dict[str, McpTool]] = {}
    offered = offered_tools(
        engine.config, engine.tools, engine.mcp, model_id, None, key_tools, can_ask=True
    )
    for name, tool in offered.tools.items():
        if isinstance(tool, McpTool):
            # A tool gateway.require_approval names asks first too.
            asks = tool.needs_approval or name in offered.asking
            by_server.setdefault(tool.server, {})[name] = replace(tool, needs_approval=asks)
    usable = _usable_servers(engine, model_id, by_server, key_tools)
    names: dict[str, tuple[str, str]] = {}
    asking: set[str] = set()
    listings: list[McpListing] = []
    seen: set[str] = set()
    for index, spec in tools:
        where, label = f"tools[{index}]", spec.server_label
        if label in seen:
            raise _invalid(f"{where}.server_label", f"'{label}' is named by an earlier tool")
        seen.add(label)
        if label not in usable:
            known = ", ".join(usable) or "none"
            raise _invalid(
                f"{where}.server_label",
                f"unknown MCP server '{label}' for model '{model_id}'; known: {known}",
            )
        connection = engine.mcp.connections[label]
        if connection.state != "ready":
            error = f"the MCP server '{label}' is not connected now ({connection.state})"
            listings.append(McpListing(label, (), error))
            continue
        server_tools = by_server.get(label, {})
        chosen = _allowed(spec, where, model_id, server_tools)
        client_asks = _client_asks(spec, where, server_tools)
        names.update({name: (label, tool.own_name) for name, tool in chosen.items()})
        asking.update(n for n, tool in chosen.items() if tool.needs_approval or n in client_asks)
        if label not in listed_before:
            own = [connection.tools[name] for name in chosen if name in connection.tools]
            listings.append(McpListing(label, tuple(_listed(tool) for tool in own)))
    return list(names), McpOffer(tuple(listings), names, frozenset(asking))


def _usable_servers(
    engine: Engine,
    model_id: str,
    by_server: Mapping[str, Mapping[str, McpTool]],
    key_tools: Sequence[str] | None,
) -> list[str]:
    """The configured servers this model and key may use: one offering them tools now, or one
    not connected now whose tools the model's (and the key's) names or patterns would take."""
    patterns = engine.config.tools_for(model_id)

    def may_take(server: str) -> bool:
        by_key = key_tools is None or any(_names_server(p, server) for p in key_tools)
        return by_key and any(_names_server(p, server) for p in patterns)

    return [
        name
        for name, connection in engine.mcp.connections.items()
        if name in by_server or (connection.state != "ready" and may_take(name))
    ]


def _names_server(pattern: str, server: str) -> bool:
    named = mcp_server_named(pattern)
    if named is None:  # a pattern such as "*" may take MCP tools too
        return is_pattern(pattern) and matches(pattern, f"{MCP_TOOL_PREFIX}{server}__tool")
    return matches(named, server)


def _client_asks(spec: McpToolSpec, where: str, tools: Mapping[str, McpTool]) -> set[str]:
    """The offered names whose calls the request's `require_approval` asks about: all of them
    for "always" (and, as at OpenAI, when it says nothing), none for "never"; with a filter,
    those its `always` matches and those its `never` does not."""
    rule = spec.require_approval
    if rule == "never":
        return set()
    if not isinstance(rule, dict):  # "always", or nothing said
        return set(tools)
    own = {tool.own_name for tool in tools.values()}
    for side in ("always", "never"):
        unknown = [n for n in (rule.get(side) or {}).get("tool_names") or () if n not in own]
        if unknown:
            raise _invalid(
                f"{where}.require_approval",
                f"{side}: {_quoted(unknown)} not offered by MCP server '{spec.server_label}'; "
                f"offered: {', '.join(sorted(own)) or 'none'}",
            )
    always, never = rule.get("always"), rule.get("never")
    return {
        name for name, tool in tools.items() if _matches(always, tool) or not _matches(never, tool)
    }


def _matches(rule: ToolFilter | None, tool: McpTool) -> bool:
    """Does an approval filter name `tool`? Each criterion it gives must hold (an empty
    filter names none)."""
    if not rule or ("tool_names" not in rule and "read_only" not in rule):
        return False
    if "tool_names" in rule and tool.own_name not in rule["tool_names"]:
        return False
    return "read_only" not in rule or _read_only(tool) == rule["read_only"]


def _allowed(
    spec: McpToolSpec, where: str, model_id: str, tools: Mapping[str, McpTool]
) -> dict[str, McpTool]:
    """Offered name -> tool: the server's tools the model is offered, narrowed by
    allowed_tools."""
    rule = spec.allowed_tools
    asked = rule if isinstance(rule, list) else rule.get("tool_names") if rule else None
    read_only = isinstance(rule, dict) and rule.get("read_only") is True
    chosen = dict(tools)
    if asked is not None:
        own = {tool.own_name: name for name, tool in tools.items()}
        unknown = [name for name in asked if name not in own]
        if unknown:
            offered = ", ".join(sorted(own)) or "none"
            raise _invalid(
                f"{where}.allowed_tools",
                f"{_quoted(unknown)} not offered by MCP server '{spec.server_label}' to model "
                f"'{model_id}'; offered: {offered}",
            )
        chosen = {name: tool for name, tool in tools.items() if tool.own_name in asked}
    if read_only:
        chosen = {name: tool for name, tool in chosen.items() if _read_only(tool)}
    return chosen


def _read_only(tool: McpTool) -> bool:
    listed = tool.connection.tools.get(tool.name)
    hints = listed.annotations if listed is not None else None
    return bool(hints and hints.read_only_hint)


def _listed(tool: mcp_types.Tool) -> dict[str, Any]:
    """One tool as OpenAI's mcp_list_tools item lists it: the server's own name and schema."""
    annotations = tool.annotations
    return {
        "name": tool.name,
        "input_schema": dict(tool.input_schema),
        "description": tool.description,
        "annotations": annotations.model_dump(by_alias=True, exclude_none=True)
        if annotations
        else None,
    }


def _quoted(names: list[str]) -> str:
    return ", ".join(map(repr, names))


def _invalid(param: str, problem: str) -> InvalidRequest:
    return InvalidRequest(f"{param}: {problem}", param=param)
