"""A /v1/responses request in the engine's terms: chat-completions parameters, tools and messages
(LiteLLM translates them on to the provider)."""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable
from typing import Any

from gateway.approvals.decisions import denied_text
from gateway.doors.openai_responses.responses_mcp_schemas import (
    McpApprovalRequestItem,
    McpApprovalResponseItem,
    McpCallItem,
)
from gateway.doors.openai_responses.responses_schemas import (
    AssistantItem,
    DeveloperItem,
    FunctionCallItem,
    FunctionCallOutputItem,
    FunctionTool,
    ItemReference,
    ResponsesRequest,
    SystemItem,
    UserItem,
)
from gateway.mcp.naming import offered_names

# What the model reads of an earlier MCP call that never finished (the answer was cut short).
UNFINISHED_CALL = "the tool call did not finish"

_PASSED_THROUGH = ("temperature", "top_p", "parallel_tool_calls", "user")


def chat_params(body: ResponsesRequest) -> dict[str, Any]:
    """Sampling and format parameters in chat-completions terms (LiteLLM translates them on)."""
    params = {name: getattr(body, name) for name in _PASSED_THROUGH}
    params["max_tokens"] = body.max_output_tokens
    choice = body.tool_choice
    if isinstance(choice, dict):
        choice = {"type": "function", "function": {"name": choice["name"]}}
    params["tool_choice"] = choice
    text_format = (body.text or {}).get("format")
    if text_format is not None and text_format["type"] == "json_schema":
        spec = {key: value for key, value in text_format.items() if key != "type"}
        params["response_format"] = {"type": "json_schema", "json_schema": spec}
    elif text_format is not None and text_format["type"] == "json_object":
        params["response_format"] = {"type": "json_object"}
    params["reasoning_effort"] = (body.reasoning or {}).get("effort")
    return {name: value for name, value in params.items() if value is not None}


def chat_tools(tools: list[FunctionTool]) -> list[dict[str, Any]]:
    """Function tools in the chat-completions shape the engine offers the model."""
    return [
        {
            "type": "function",
            "function": {key: value for key, value in tool.items() if key != "type"},
        }
        for tool in tools
    ]


def chat_messages(
    instructions: str | None, items: Iterable[Any], deciding: Collection[str] = ()
) -> list[dict[str, Any]]:
    """The conversation as chat-completions messages.

    An assistant message and the function and MCP calls after it are one assistant turn (an
    MCP call's result follows the turn, as the model read it when the gateway ran it);
    reasoning items and tool listings are left out; item references must be resolved before.
    A call asked about (`mcp_approval_request`) is the model's call once it is decided: its
    result is the `mcp_call` that ran it, or the denial; those this request decides
    (`deciding`, by approval id) end the messages without a result (the engine adds it); one
    never decided is left out, as the model never had its answer.
    """
    items = list(items)
    fates = _approval_fates(items)
    asked: set[str] = set()
    messages: list[dict[str, Any]] = []
    if instructions:
        messages.append({"role": "system", "content": instructions})
    turn: dict[str, Any] | None = None  # the assistant turn function calls join
    results: list[dict[str, Any]] = []  # the MCP results that follow that turn
    for position, item in enumerate(items):
        if isinstance(item, McpApprovalResponseItem) or (
            isinstance(item, McpCallItem) and item.approval_request_id in fates
        ):
            continue  # said with the request it answers
        if isinstance(item, McpApprovalRequestItem):
            if item.id in asked:
                continue  # sent back again beside the stored conversation
            asked.add(item.id)
        if isinstance(item, McpCallItem | McpApprovalRequestItem):
            if isinstance(item, McpCallItem):
                call_id, said = item.id or f"mcp_call_{position}", _said(item)
            elif item.id in deciding:
                call_id, said = item.id, None
            elif item.id in fates:
                call_id, said = item.id, fates[item.id]
            else:
                continue  # never decided
            if turn is None:
                turn = {"role": "assistant", "content": None}
                messages.append(turn)
            turn.setdefault("tool_calls", []).append(_mcp_tool_call(item, call_id))
            if said is not None:
                results.append({"role": "tool", "tool_call_id": call_id, "content": said})
            continue
        if not isinstance(item, FunctionCallItem):
            messages.extend(results)
            results = []
        if isinstance(item, AssistantItem):
            turn = _assistant_turn(item.content)
            messages.append(turn)
        elif isinstance(item, FunctionCallItem):
            if turn is None:
                turn = {"role": "assistant", "content": None}
                messages.append(turn)
            turn.setdefault("tool_calls", []).append(
                {
                    "id": item.call_id,
                    "type": "function",
                    "function": {"name": item.name, "arguments": item.arguments},
                }
            )
        elif isinstance(item, FunctionCallOutputItem):
            turn = None
            messages.append(
                {"role": "tool", "tool_call_id": item.call_id, "content": _text(item.output)}
            )
        elif isinstance(item, UserItem | SystemItem | DeveloperItem):
            turn = None
            messages.append({"role": item.role, "content": _parts(item.content)})
        elif isinstance(item, ItemReference):
            raise TypeError(f"item_reference {item.id} was not resolved")
    messages.extend(results)
    return messages


def _approval_fates(items: list[Any]) -> dict[str, str]:
    """What the model read for each decided approval request, by its id: the output of the
    mcp_call that ran it, the denial, or (approved, and no call came of it) an unfinished
    call. Requests not decided in `items` are not in it."""
    asked = {item.id for item in items if isinstance(item, McpApprovalRequestItem)}
    fates: dict[str, str] = {}
    for item in items:
        if isinstance(item, McpApprovalResponseItem) and item.approval_request_id in asked:
            said = json.dumps({"error": UNFINISHED_CALL})
            fates.setdefault(
                item.approval_request_id, said if item.approve else denied_text(item.reason)
            )
        elif isinstance(item, McpCallItem) and item.approval_request_id in asked:
            fates[item.approval_request_id] = _said(item)
    return fates


def _mcp_tool_call(item: McpCallItem | McpApprovalRequestItem, call_id: str) -> dict[str, Any]:
    # The name the model called it by: mcp__<server>__<tool>.
    (name,) = offered_names(item.server_label, [item.name])
    return {
        "id": call_id,
        "type": "function",
        "function": {"name": name, "arguments": item.arguments},
    }


def _said(item: McpCallItem) -> str:
    """The result as the tool loop gave it to the model (gateway/tool_loop_messages.py)."""
    if item.error is not None:
        return json.dumps({"error": item.error})
    if item.output is not None:
        return item.output
    return json.dumps({"error": UNFINISHED_CALL})


def _assistant_turn(content: str | list[Any]) -> dict[str, Any]:
    if isinstance(content, str):
        return {"role": "assistant", "content": content}
    refusals = [part["refusal"] for part in content if part["type"] == "refusal"]
    turn: dict[str, Any] = {
        "role": "assistant",
        "content": "".join(part["text"] for part in content if part["type"] != "refusal") or None,
    }
    if refusals:
        turn["refusal"] = "".join(refusals)
    return turn


def _text(content: str | list[Any]) -> str:
    return content if isinstance(content, str) else "".join(part["text"] for part in content)


def _parts(content: str | list[Any]) -> str | list[dict[str, Any]]:
    if isinstance(content, str):
        return content
    return [_part(part) for part in content]


def _part(part: dict[str, Any]) -> dict[str, Any]:
    if part["type"] == "input_image":
        image = {"url": part["image_url"]}
        if part.get("detail") in ("low", "high", "auto"):
            image["detail"] = part["detail"]
        return {"type": "image_url", "image_url": image}
    if part["type"] == "input_file":
        return {"type": "file", "file": {k: v for k, v in part.items() if k != "type"}}
    return {"type": "text", "text": part["text"]}
