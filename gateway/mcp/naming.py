"""The names an MCP server's tools are offered under: `mcp__<server>__<tool>`.

Every provider takes function names of at most 64 characters from [A-Za-z0-9_-]; MCP allows
more (dots, slashes, any length). A name that does not fit is made to fit, and a short hash of
the original keeps two such names apart. Registry tools may not start with `mcp__`, and a server
name holds no `__`, so no two tools can share a name.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

from gateway.config.tool_names import MCP_SEPARATOR, MCP_TOOL_PREFIX

MAX_NAME = 64
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def offered_names(server: str, tools: Iterable[str]) -> dict[str, str]:
    """Offered name -> the server's own name, for each of `tools`."""
    prefix = f"{MCP_TOOL_PREFIX}{server}{MCP_SEPARATOR}"
    named: dict[str, str] = {}
    for tool in tools:
        plain = prefix + _UNSAFE.sub("_", tool)
        name = plain
        if name != prefix + tool or len(name) > MAX_NAME or name in named:
            digest = hashlib.sha256(tool.encode("utf-8")).hexdigest()[:8]
            name = f"{plain[: MAX_NAME - 9]}_{digest}"
        named[name] = tool
    return named
