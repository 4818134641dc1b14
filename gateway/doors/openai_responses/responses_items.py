"""How the Responses door names and lists stored items.

Item ids carry the response's own id (`msg_<key>_<n>` for `resp_<key>`), so an
`item_reference` a client sends back names the stored response that holds the item.
"""

from __future__ import annotations

from typing import Any

# The kind an item's id starts with, by its type (a message's is `msg`).
_INPUT_ID_KINDS = {
    "function_call": "fc",
    "function_call_output": "fco",
    "reasoning": "rs",
    "mcp_list_tools": "mcpl",
    "mcp_call": "mcp",
    "mcp_approval_response": "mcpr",
}
_KINDS = frozenset({"msg", *_INPUT_ID_KINDS.values()})


def item_response_id(item_id: str) -> str | None:
    """The id of the response whose output holds `item_id`, if this gateway made it."""
    kind, _, rest = item_id.partition("_")
    key, _, index = rest.rpartition("_")
    # `<n>`: the n-th output item; `in<n>`: the n-th input item the request gave no id.
    position = index.removeprefix("in")
    if kind in _KINDS and key and position.isdigit():
        return f"resp_{key}"
    return None


def input_item_id(item: dict[str, Any], response_id: str, position: int) -> str:
    """The id an input item without one gets when its response is stored: item_response_id
    finds the response from it."""
    kind = _INPUT_ID_KINDS.get(str(item.get("type")), "msg")
    return f"{kind}_{response_id.removeprefix('resp_')}_in{position}"


def listed_item(item: dict[str, Any]) -> dict[str, Any]:
    """A stored input item (as responses_schemas.stored_form keeps it) in the shape
    GET /v1/responses/{id}/input_items lists it: OpenAI's ResponseItem."""
    kind = item.get("type", "message")
    base = {"id": item.get("id", ""), "type": kind}
    if kind == "function_call":
        fields = {k: item[k] for k in ("call_id", "name", "arguments")}
        return {**base, **fields, "status": "completed"}
    if kind == "function_call_output":
        return {**base, "call_id": item["call_id"], "output": item["output"], "status": "completed"}
    if kind == "reasoning":
        return {**base, "summary": item.get("summary", [])}
    if kind == "mcp_list_tools":
        return {**base, "server_label": item["server_label"], "tools": item.get("tools", [])}
    if kind == "mcp_call":
        fields = {k: item.get(k) for k in ("server_label", "name", "arguments", "output", "error")}
        if item.get("approval_request_id") is not None:
            fields["approval_request_id"] = item["approval_request_id"]
        return {**base, **fields, "status": item.get("status", "completed")}
    if kind == "mcp_approval_request":
        return {**base, **{k: item[k] for k in ("server_label", "name", "arguments")}}
    if kind == "mcp_approval_response":
        fields = {k: item.get(k) for k in ("approval_request_id", "approve", "reason")}
        return {**base, **fields}
    role = item.get("role", "user")
    content = item.get("content", "")
    if role == "assistant":
        if isinstance(content, str):
            content = [{"type": "output_text", "text": content}]
        parts = [
            part
            if part["type"] == "refusal"
            else {"type": "output_text", "text": part["text"], "annotations": []}
            for part in content
        ]
        return {**base, "role": role, "status": "completed", "content": parts}
    if isinstance(content, str):
        content = [{"type": "input_text", "text": content}]
    parts = [
        {**part, "detail": part.get("detail", "auto")} if part["type"] == "input_image" else part
        for part in content
    ]
    return {**base, "role": role, "status": "completed", "content": parts}
