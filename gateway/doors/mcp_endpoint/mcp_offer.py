"""Which tools /mcp serves a key: what chat would offer it, over every model it may use.

For each chat model ID the key may use (its `models:`, else all), the tools that model is
offered, narrowed by the key's `tools:` (gateway/tool_offer.py, the chat doors' own rule), under
the gateway's names. With no keys configured: every tool any model is offered.

An MCP server's tool the YAML marks `require_approval` is not served: /mcp cannot ask the
gateway's user first, and must not run what the YAML says to ask about (/v1/responses does not
offer it either). That stands until the gateway has approvals of its own (issue 23 item 5).
"""

from __future__ import annotations

from gateway.auth import ApiKey
from gateway.doors.common.admission import allowed_models, allowed_tools
from gateway.engine import Engine
from gateway.mcp import McpTool
from gateway.tool_offer import offered_tools
from gateway.tools import ServerTool


def tools_for_key(engine: Engine, key: ApiKey | None) -> dict[str, ServerTool]:
    """Name -> tool, in the YAML's order, model by model."""
    config = engine.config
    models = allowed_models(key)
    found: dict[str, ServerTool] = {}
    for model_id in config.model_ids_of("chat"):
        if models is None or model_id in models:
            tools = offered_tools(
                config, engine.tools, engine.mcp, model_id, None, allowed_tools(key)
            )
            found.update(tools)
    return {name: tool for name, tool in found.items() if not _asks_first(tool)}


def _asks_first(tool: ServerTool) -> bool:
    return isinstance(tool, McpTool) and tool.needs_approval
