"""Where tools enter the gateway: one idempotent `load_tools(config)`.

Like simonw/llm's `load_plugins()`: no tool is registered because some other module happened to
be imported. The built-ins, the `llm_gateway.tools` entry points and the modules a config's
`gateway.tool_modules` lists are loaded here, each once per process, into the registry the
engine runs tools from. This is the seam MCP servers plug into next: a server a config lists
becomes more tools in the same registry, loaded by the same call.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from gateway.tools.builtin import BUILTIN_TOOLS
from gateway.tools.registry import REGISTRY, ToolRegistry

if TYPE_CHECKING:
    from gateway.config import GatewayConfig

# The built-ins and entry points are loaded once; a module's import is cached by Python.
_sources_loaded = False


def load_tools(config: GatewayConfig | None = None) -> ToolRegistry:
    """The registry the engine runs tools from, holding every tool `config` may name.

    Idempotent: every engine a reload builds calls it, and a source already loaded is not
    loaded again. Without a config: the built-ins and entry points only. Raises what a tool
    module's import raises (validation, through the gateway's Catalog, has reported that as a
    config problem before any engine is built).
    """
    global _sources_loaded
    if not _sources_loaded:
        for function in BUILTIN_TOOLS:
            REGISTRY.register(function)
        REGISTRY.load_entry_points()
        _sources_loaded = True
    if config is not None:
        for module in config.options.tool_modules:
            load_tool_module(module)
    return REGISTRY


def load_tool_module(module: str) -> None:
    """Import one of `gateway.tool_modules`: its `@tool` functions register as it runs."""
    importlib.import_module(module)
