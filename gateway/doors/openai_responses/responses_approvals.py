"""The Responses API's approvals of MCP calls, on the engine's (gateway/approvals/).

An answer that called a tool that asks first ends with an `mcp_approval_request` item per such
call, its id the gateway's approval id. A later request decides them with
`mcp_approval_response` items (`approval_request_id`, `approve`, `reason`), continuing with
`previous_response_id` or sending the conversation back with the request items in it. Those
responses at the end of the conversation (after them only other answers to that turn:
function call outputs, further approval responses) decide the requests of its last turn: the
engine runs each approved call the ledger says it issued to this client for that tool and
those arguments, once, or answers it with why not; a denied call is not run and the model is
told. Approval responses earlier in the conversation are its history.

A client's mistake is a 400 naming `input[i].approval_request_id`: an id no approval request of
the conversation has, a request decided twice, or one not in the conversation's last turn.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from gateway.approvals import ToolDecision
from gateway.doors.openai_responses.responses_mcp_schemas import (
    McpApprovalRequestItem,
    McpApprovalResponseItem,
    McpCallItem,
)
from gateway.doors.openai_responses.responses_output_items import DecidedCall
from gateway.doors.openai_responses.responses_schemas import FunctionCallOutputItem
from gateway.errors import InvalidRequest
from gateway.events import ToolCall
from gateway.mcp.naming import offered_names

# Items that answer the last turn rather than start a new one: the decisions come among them.
_ANSWERS = (McpApprovalResponseItem, FunctionCallOutputItem)
# Items of the model's own turn, which may follow an approval request of the same turn.
_SAME_TURN = ("mcp_call", "function_call", "mcp_approval_request", "mcp_list_tools", "reasoning")


@dataclass(frozen=True)
class Decided:
    """This request's decisions for the engine, and for the answer: each decided call by its
    call id (the approval id), and the approval ids the chat messages end with."""

    decisions: tuple[ToolDecision, ...] = ()
    calls: dict[str, DecidedCall] = field(default_factory=dict)

    @property
    def deciding(self) -> frozenset[str]:
        return frozenset(self.calls)


def decisions_in(conversation: Sequence[Any], input_from: int) -> Decided:
    """The decisions the conversation ends with. `input_from`: where this request's own input
    starts (errors name `input[i]` from there; what comes before it was decided before)."""
    tail = len(conversation)
    while tail > 0 and isinstance(conversation[tail - 1], _ANSWERS):
        tail -= 1
    requests: dict[str, tuple[int, McpApprovalRequestItem]] = {}
    settled: set[str] = set()  # requests decided (or run) already
    for position, item in enumerate(conversation):
        if isinstance(item, McpApprovalRequestItem):
            requests.setdefault(item.id, (position, item))
        elif isinstance(item, McpCallItem) and item.approval_request_id:
            settled.add(item.approval_request_id)
        elif isinstance(item, McpApprovalResponseItem) and (position < max(tail, input_from)):
            if item.approval_request_id not in requests and position >= input_from:
                raise _refused(
                    position - input_from, item, "no approval request of the conversation"
                )
            settled.add(item.approval_request_id)
    decisions: list[ToolDecision] = []
    calls: dict[str, DecidedCall] = {}
    for position in range(max(tail, input_from), len(conversation)):
        item = conversation[position]
        if not isinstance(item, McpApprovalResponseItem):
            continue
        where, found = position - input_from, requests.get(item.approval_request_id)
        if found is None:
            raise _refused(where, item, "no approval request of the conversation")
        asked_at, asked = found
        if asked.id in settled or asked.id in calls:
            raise _refused(where, item, "an approval request decided already")
        if any(_kind(later) not in _SAME_TURN for later in conversation[asked_at + 1 : tail]):
            raise _refused(
                where,
                item,
                "an approval request of an earlier turn (only the last turn's can be decided)",
            )
        calls[asked.id] = DecidedCall(asked.server_label, asked.name, asked.arguments, asked.id)
        decisions.append(
            ToolDecision(_asked_call(asked), asked.id, item.approve, item.reason, True)
        )
    return Decided(tuple(decisions), calls)


def _asked_call(asked: McpApprovalRequestItem) -> ToolCall:
    """The call as the approval request says the model made it (the ledger checks it is)."""
    (name,) = offered_names(asked.server_label, [asked.name])
    try:
        args = json.loads(asked.arguments)
    except ValueError:
        args = None
    return ToolCall(asked.id, name, args if isinstance(args, dict) else None, asked.arguments)


def _kind(item: Any) -> str:
    return str(getattr(item, "type", "message"))


def _refused(index: int, item: McpApprovalResponseItem, problem: str) -> InvalidRequest:
    param = f"input[{index}].approval_request_id"
    said = f"'{item.approval_request_id}' names {problem}"
    return InvalidRequest(f"{param}: {said}", param=param)
