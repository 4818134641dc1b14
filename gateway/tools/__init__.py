"""Server-side tools: the registry, the built-ins, `load_tools`, and the runner the engine uses.

Importing this package registers nothing: `load_tools(config)` (loading.py) does.
"""

from gateway.tools.loading import load_tool_module, load_tools
from gateway.tools.registry import (
    REGISTRY,
    ServerTool,
    Tool,
    ToolContext,
    ToolFailure,
    ToolOutput,
    ToolRegistry,
    tool,
)

__all__ = [
    "REGISTRY",
    "ServerTool",
    "Tool",
    "ToolContext",
    "ToolFailure",
    "ToolOutput",
    "ToolRegistry",
    "load_tool_module",
    "load_tools",
    "tool",
]
