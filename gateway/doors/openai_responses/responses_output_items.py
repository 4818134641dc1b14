"""The output items of one Responses answer as it is being built (responses_builder.py): each
knows its place in `output`, its id, its status and how it reads as OpenAI's item.

An MCP server's tools (a request's `{"type": "mcp"}` tools, run by the gateway) make three kinds
of item: an `mcp_list_tools` per server at the start of the answer, an `mcp_call` per call,
holding its arguments and then its output (or error), and an `mcp_approval_request` per call
of a tool that asks first. What the door worked out of the request's
mcp tools reaches the builder as an `McpOffer`, plain data: the builder knows nothing of MCP.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class McpListing:
    """What one request's mcp tool offers the model: its server's tools, or why there are none."""

    server_label: str
    tools: tuple[Mapping[str, Any], ...]  # OpenAI's McpListToolsTool: name, input_schema, ...
    error: str | None = None


@dataclass(frozen=True)
class DecidedCall:
    """A call a person decided on (an mcp_approval_response of this request): its item, if it
    is run, names the approval request."""

    server_label: str
    name: str
    arguments: str
    approval_request_id: str


@dataclass(frozen=True)
class McpOffer:
    """The request's mcp tools: the listings the answer starts with (none for a server the
    conversation has listed already), each offered tool name's server and own name, the
    names whose calls ask first, and the calls decided by this request, by call id."""

    listings: tuple[McpListing, ...] = ()
    names: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    asking: frozenset[str] = frozenset()
    decided: Mapping[str, DecidedCall] = field(default_factory=dict)


@dataclass
class Reasoning:
    index: int
    id: str
    text: list[str] = field(default_factory=list)
    status: str = "in_progress"

    def item(self, status: str | None = None) -> dict[str, Any]:
        done = (status or self.status) != "in_progress"
        summary = [{"type": "summary_text", "text": "".join(self.text)}] if done else []
        return {"type": "reasoning", "id": self.id, "summary": summary}


@dataclass
class Message:
    index: int
    id: str
    text: list[str] = field(default_factory=list)
    status: str = "in_progress"

    def part(self) -> dict[str, Any]:
        return {
            "type": "output_text",
            "text": "".join(self.text),
            "annotations": [],
            "logprobs": [],
        }

    def item(self, status: str | None = None) -> dict[str, Any]:
        status = status or self.status
        content = [self.part()] if status != "in_progress" else []
        return {
            "type": "message",
            "id": self.id,
            "status": status,
            "role": "assistant",
            "content": content,
        }


@dataclass
class FunctionCall:
    index: int
    id: str
    call_id: str
    name: str
    arguments: list[str] = field(default_factory=list)
    status: str = "in_progress"

    def item(self, status: str | None = None) -> dict[str, Any]:
        status = status or self.status
        return {
            "type": "function_call",
            "id": self.id,
            "call_id": self.call_id,
            "name": self.name,
            # Added with none: the deltas that follow carry them.
            "arguments": "".join(self.arguments) if status != "in_progress" else "",
            "status": status,
        }


@dataclass
class McpCall:
    """A call the gateway runs on an MCP server: arguments as the model streams them, then the
    tool's output as text (what the model read), or its error."""

    index: int
    id: str
    server_label: str
    name: str  # the server's own name for the tool, not the mcp__ name the model called
    arguments: list[str] = field(default_factory=list)
    output: str | None = None
    error: str | None = None
    status: str = "in_progress"
    approval_request_id: str | None = None  # the call ran once a person approved it

    def item(self, status: str | None = None) -> dict[str, Any]:
        status = status or self.status
        item = {
            "type": "mcp_call",
            "id": self.id,
            "server_label": self.server_label,
            "name": self.name,
            "arguments": "".join(self.arguments) if status != "in_progress" else "",
            "output": self.output,
            "error": self.error,
            "status": status,
        }
        if self.approval_request_id is not None:
            item["approval_request_id"] = self.approval_request_id
        return item


@dataclass
class McpApprovalRequest:
    """A call of a tool that asks first, not run: the answer ends with it, and a later
    request's mcp_approval_response (naming `id`, the gateway's approval id) decides it. Done
    as soon as it is added."""

    index: int
    id: str
    server_label: str
    name: str
    arguments: str
    status: str = "completed"

    def item(self, status: str | None = None) -> dict[str, Any]:
        return {
            "type": "mcp_approval_request",
            "id": self.id,
            "server_label": self.server_label,
            "name": self.name,
            "arguments": self.arguments,
        }


@dataclass
class McpListTools:
    index: int
    id: str
    listing: McpListing
    status: str = "in_progress"

    def item(self, status: str | None = None) -> dict[str, Any]:
        done = (status or self.status) != "in_progress"
        item: dict[str, Any] = {
            "type": "mcp_list_tools",
            "id": self.id,
            "server_label": self.listing.server_label,
            "tools": [dict(tool) for tool in self.listing.tools] if done else [],
        }
        if done and self.listing.error is not None:
            item["error"] = self.listing.error
        return item


OutputItem = Reasoning | Message | FunctionCall | McpCall | McpListTools | McpApprovalRequest
