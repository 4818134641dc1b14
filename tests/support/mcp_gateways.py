"""Gateways with MCP servers, for the tests of every door that runs their tools: a server as a
`mcp_servers:` entry, a config offering them, and what a gateway or the upstream was told."""

from __future__ import annotations

import json
from typing import Any

from tests.support.configs import config_for
from tests.support.fake_upstream import FakeToolCall, FakeUpstream
from tests.support.gateways import Gateway
from tests.support.mcp_servers import StdioServer
from tests.support.polling import ready, wait_until


def stdio_entry(server: StdioServer, **extra: Any) -> dict[str, Any]:
    """The `mcp_servers.<name>` entry that starts `server`."""
    entry: dict[str, Any] = {"command": server.command, "args": list(server.args)}
    if server.env:
        entry["env"] = dict(server.env)
    return {**entry, **extra}


def mcp_config(upstream: FakeUpstream, servers: dict[str, Any], **gateway: Any) -> dict[str, Any]:
    """A config whose models are served by `upstream` and offered every MCP server's tools."""
    config = config_for(upstream)
    config["mcp_servers"] = servers
    config["gateway"] = {"tools": ["mcp__*"], "tool_timeout": 5, **gateway}
    return config


def wait_ready(gateway: Gateway, seconds: float = 30.0) -> dict[str, Any]:
    wait_until(lambda: ready(gateway)["status"] == "ready", seconds)
    return ready(gateway)


def servers_of(gateway: Gateway) -> dict[str, dict[str, Any]]:
    """/health/ready's report of each MCP server, by name."""
    return {s["name"]: s for s in ready(gateway).get("mcp_servers", [])}


def call(name: str, /, **args: Any) -> FakeToolCall:
    """A tool call the fake upstream's model makes."""
    return FakeToolCall(name, json.dumps(args))


def offered(request: dict[str, Any]) -> list[str]:
    """The tool names an upstream request offered the model."""
    return [tool["function"]["name"] for tool in request.get("tools", [])]


def tool_messages(request: dict[str, Any]) -> list[str]:
    """The tool results an upstream request carried back to the model."""
    return [m["content"] for m in request["messages"] if m["role"] == "tool"]
