"""Which tools /mcp serves a key: what chat would offer it, over every model it may use.

For each chat model ID the key may use (its `models:`, else all), the tools that model is
offered, narrowed by the key's `tools:` (gateway/tool_offer.py, the chat doors' own rule), under
the gateway's names. With no keys configured: every tool any model is offered.

A tool that asks first (gateway/approvals/: `@tool(needs_approval=True)`, an MCP server's
`require_approval`, `gateway.require_approval`) is not served: a tools/call cannot pause for the
gateway's approval flow, and what the YAML says to ask about must never run unasked.
"""

from __future__ import annotations

from gateway.auth import ApiKey
from gateway.doors.common.admission import allowed_models, allowed_tools
from gateway.engine import Engine
from gateway.tool_offer import offered_tools
from gateway.tools import ServerTool


def tools_for_key(engine: Engine, key: ApiKey | None) -> dict[str, ServerTool]:
    """Name -> tool, in the YAML's order, model by model."""
    config = engine.config
    models = allowed_models(key)
    found: dict[str, ServerTool] = {}
    for model_id in config.model_ids_of("chat"):
        if models is None or model_id in models:
            # Without can_ask, offered_tools leaves out every tool that asks first.
            offer = offered_tools(
                config, engine.tools, engine.mcp, model_id, None, allowed_tools(key)
            )
            found.update(offer.tools)
    return found
