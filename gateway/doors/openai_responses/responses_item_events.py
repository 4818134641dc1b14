"""The stream events of one Responses output item (responses_output_items.py): where an event
points (`item_id`, `output_index`), an item added and done, and the events that close a
reasoning item or a message. Plain functions of the item: ResponseBuilder decides when.
"""

from __future__ import annotations

from typing import Any

from gateway.doors.openai_responses.responses_output_items import (
    FunctionCall,
    McpCall,
    Message,
    OutputItem,
    Reasoning,
)


def at(item: OutputItem, kind: str, **fields: Any) -> dict[str, Any]:
    return {"type": kind, "item_id": item.id, "output_index": item.index, **fields}


def arguments_delta(call: FunctionCall | McpCall, delta: str) -> dict[str, Any]:
    kind = "mcp_call_arguments" if isinstance(call, McpCall) else "function_call_arguments"
    return at(call, f"response.{kind}.delta", delta=delta)


def reasoning_done(reasoning: Reasoning) -> list[dict[str, Any]]:
    """The events that close `reasoning` (it is left as it is)."""
    text = "".join(reasoning.text)
    out: list[dict[str, Any]] = []
    out.append(at(reasoning, "response.reasoning_summary_text.done", summary_index=0, text=text))
    out.append(
        at(
            reasoning,
            "response.reasoning_summary_part.done",
            summary_index=0,
            part={"type": "summary_text", "text": text},
        )
    )
    out.append(item_done(reasoning, "completed"))
    return out


def message_done(message: Message, status: str) -> list[dict[str, Any]]:
    """The events that end `message` with `status` (it is left as it is)."""
    part = message.part()
    out: list[dict[str, Any]] = []
    out.append(
        at(
            message,
            "response.output_text.done",
            content_index=0,
            text=part["text"],
            logprobs=[],
        )
    )
    out.append(at(message, "response.content_part.done", content_index=0, part=part))
    out.append(item_done(message, status))
    return out


def added(item: OutputItem) -> dict[str, Any]:
    return {
        "type": "response.output_item.added",
        "output_index": item.index,
        "item": item.item(),
    }


def item_done(item: OutputItem, status: str) -> dict[str, Any]:
    return {
        "type": "response.output_item.done",
        "output_index": item.index,
        "item": item.item(status),
    }
