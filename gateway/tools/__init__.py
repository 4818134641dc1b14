"""Server-side tools: the registry, the built-ins, and the runner the engine's loop uses."""

from gateway.tools import builtin as _builtin  # noqa: F401  (registers the built-in tools)
from gateway.tools.registry import REGISTRY, Tool, ToolContext, ToolRegistry, tool

REGISTRY.load_entry_points()

__all__ = ["REGISTRY", "Tool", "ToolContext", "ToolRegistry", "tool"]
