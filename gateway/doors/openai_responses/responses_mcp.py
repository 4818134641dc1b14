"""A request's `{"type": "mcp"}` tools against the leased config: which of each named server's
tools the model is offered, what the answer lists, and the 4xx a request deserves.

Narrowing only, as everywhere (gateway/tool_offer.py): a server's tools are those the YAML
offers the model (`gateway.tools` / the entry's `tools:`, by name or pattern) and the client's
key may use (the keys file's `tools:`), narrowed by the tool's `allowed_tools`. A tool the YAML
says needs approval (`mcp_servers.<name>.require_approval`) is never offered here: approvals
are not built on this door yet, so asking for one by name, or `require_approval` that asks for
any, is a 4xx saying so. A server that is configured but not connected now lists no tools,
with an error, and the answer goes on without them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import mcp_types

from gateway.config.tool_names import MCP_TOOL_PREFIX, is_pattern, matches, mcp_server_named
from gateway.doors.openai_responses.responses_mcp_schemas import McpToolSpec
from gateway.doors.openai_responses.responses_output_items import McpListing, McpOffer
from gateway.engine import Engine
from gateway.errors import InvalidRequest
from gateway.mcp import McpTool
from gateway.tool_offer import offered_tools

NOT_YET = "tools that ask for approval first are not supported yet on /v1/responses"


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
    offered = offered_tools(engine.config, engine.tools, engine.mcp, model_id, None, key_tools)
    for name, tool in offered.items():
        if isinstance(tool, McpTool):
            by_server.setdefault(tool.server, {})[name] = tool
    usable = _usable_servers(engine, model_id, by_server, key_tools)
    names: dict[str, tuple[str, str]] = {}
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
        _refuse_approvals(spec, where)
        connection = engine.mcp.connections[label]
        if connection.state != "ready":
            error = f"the MCP server '{label}' is not connected now ({connection.state})"
            listings.append(McpListing(label, (), error))
            continue
        chosen = _allowed(spec, where, model_id, by_server.get(label, {}))
        names.update({name: (label, tool.own_name) for name, tool in chosen.items()})
        if label not in listed_before:
            own = [connection.tools[name] for name in chosen if name in connection.tools]
            listings.append(McpListing(label, tuple(_listed(tool) for tool in own)))
    return list(names), McpOffer(tuple(listings), names)


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


def _refuse_approvals(spec: McpToolSpec, where: str) -> None:
    rule = spec.require_approval
    always = rule.get("always") if isinstance(rule, dict) else None
    if rule == "always" or (always and (always.get("tool_names") or always.get("read_only"))):
        raise _invalid(f"{where}.require_approval", f"{NOT_YET}; send 'never'")


def _allowed(
    spec: McpToolSpec, where: str, model_id: str, tools: Mapping[str, McpTool]
) -> dict[str, McpTool]:
    """Offered name -> tool: the server's tools the model is offered, narrowed by
    allowed_tools, without those that need approval."""
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
        waiting = [name for name in asked if tools[own[name]].needs_approval]
        if waiting:
            raise _invalid(
                f"{where}.allowed_tools",
                f"{_quoted(waiting)} must be approved before each call "
                f"(mcp_servers.{spec.server_label}.require_approval), and {NOT_YET}",
            )
        chosen = {name: tool for name, tool in tools.items() if tool.own_name in asked}
    if read_only:
        chosen = {name: tool for name, tool in chosen.items() if _read_only(tool)}
    return {name: tool for name, tool in chosen.items() if not tool.needs_approval}


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
