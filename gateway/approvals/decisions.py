"""A person's decision on one paused tool call, and how a denied call reads to the model."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from gateway.events import ToolCall, ToolResult


@dataclass(frozen=True)
class ToolDecision:
    """The call as the client says the model made it, the approval request it answers (its
    id, from ToolApprovalRequest) and the answer. The gateway runs it only if it issued that
    request, to this client, for this tool with these arguments (issued.py)."""

    call: ToolCall
    approval_id: str
    approved: bool
    reason: str | None = None
    # The client named the call by its approval id alone (the Responses API's
    # mcp_approval_response carries no call id): the call id the request was issued for is not
    # compared, and `call.tool_call_id` is the door's own name for the call.
    by_approval_id: bool = False


def denied_result(decision: ToolDecision) -> ToolResult:
    """The result of a call a person denied: not run, and the model is told so (with the
    reason, when one was given) so it can answer without it."""
    call = decision.call
    result: dict[str, Any] = {"denied": True}
    if decision.reason:
        result["reason"] = decision.reason
    said = denied_text(decision.reason)
    return ToolResult(call.tool_call_id, call.tool_name, result, denied=True, for_model=said)


def denied_text(reason: str | None) -> str:
    """What the model reads for a denied call replayed from a conversation's history."""
    said = "The user denied this tool call; it was not run."
    return f"{said} Reason: {reason}" if reason else said


def args_digest(args: dict[str, Any] | None) -> str:
    """A digest of a call's arguments that a JSON round trip through a client keeps: keys in
    order, integral floats as integers (JavaScript writes 2.0 back as 2)."""
    text = json.dumps(_canonical(args or {}), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _canonical(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {str(key): _canonical(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(item) for item in value]
    return value
