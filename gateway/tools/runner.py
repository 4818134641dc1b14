"""Run one round of tool calls: concurrently, each under a timeout, failures as results.

A failing tool never breaks the answer. The model gets an error result it can react to, the
frontend gets a result part marked as an error, and nothing of a traceback leaves the gateway.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from gateway.errors import sanitize
from gateway.events import ToolCall, ToolResult
from gateway.observability import tracing
from gateway.tools.registry import (
    ServerTool,
    ToolContext,
    ToolFailure,
    ToolOutput,
    describe_validation_error,
)

log = logging.getLogger("gateway.tools")


async def run_tool_calls(
    calls: Sequence[ToolCall],
    enabled: Mapping[str, ServerTool],
    context_for: Any,
    timeout_seconds: float,
) -> list[ToolResult]:
    """Results in the order of `calls`. `context_for(tool)` gives a tool its ToolContext."""
    return list(
        await asyncio.gather(
            *(_run_one(call, enabled, context_for, timeout_seconds) for call in calls)
        )
    )


async def _run_one(
    call: ToolCall, enabled: Mapping[str, ServerTool], context_for: Any, timeout_seconds: float
) -> ToolResult:
    def failed(message: str) -> ToolResult:
        return ToolResult(call.tool_call_id, call.tool_name, {"error": message}, is_error=True)

    chosen = enabled.get(call.tool_name)
    if chosen is None:
        return failed(
            f"tool {call.tool_name!r} is not available; available: {', '.join(enabled) or 'none'}"
        )
    if call.args is None:
        return failed(f"the arguments are not valid JSON: {call.args_text[:200]!r}")
    context: ToolContext = context_for(chosen)
    span = tracing.start_child(f"tool {call.tool_name}", {"gen_ai.tool.name": call.tool_name})
    result = await _call_tool(chosen, call, context, timeout_seconds, failed)
    tracing.end_child(span, {}, "tool_failed" if result.is_error else None)
    return result


async def _call_tool(
    chosen: ServerTool,
    call: ToolCall,
    context: ToolContext,
    timeout_seconds: float,
    failed: Any,
) -> ToolResult:
    timeout_seconds = chosen.timeout_seconds or timeout_seconds
    try:
        # asyncio.timeout, not wait_for: a cancel (the client left) must reach the tool even
        # as it returns, or the answer would run on after its client (Python 3.11, gh-86296).
        async with asyncio.timeout(timeout_seconds):
            result = await chosen.call(call.args or {}, context)
    except ValidationError as exc:
        return failed(f"invalid arguments: {describe_validation_error(exc)}")
    except TimeoutError:
        return failed(f"the tool did not finish within {timeout_seconds:g} seconds")
    except ToolFailure as exc:
        return failed(sanitize(str(exc)))
    except Exception as exc:
        # The traceback stays in the gateway's log; the model and the user see the kind only.
        log.warning("tool %s failed: %s", call.tool_name, exc.__class__.__name__, exc_info=True)
        return failed(f"the tool failed ({exc.__class__.__name__})")
    if isinstance(result, ToolOutput):
        said = result.for_model
        return ToolResult(call.tool_call_id, call.tool_name, result.result, for_model=said)
    return ToolResult(call.tool_call_id, call.tool_name, result)
