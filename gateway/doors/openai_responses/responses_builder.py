"""One Responses answer, built event by event: the output items (reasoning, the assistant
message, function calls, and the MCP tools the gateway lists and runs) as OpenAI lays them out,
and the typed stream events each engine event makes. The stream encoder sends those events; the
collector folds them (responses_encoder).
"""

from __future__ import annotations

import time
from typing import Any

from gateway.doors.openai_responses.responses_errors import failed_error, stream_error
from gateway.doors.openai_responses.responses_item_events import (
    added,
    arguments_delta,
    at,
    item_done,
    message_done,
    reasoning_done,
)
from gateway.doors.openai_responses.responses_output_items import (
    FunctionCall,
    McpApprovalRequest,
    McpCall,
    McpListTools,
    McpOffer,
    Message,
    OutputItem,
    Reasoning,
)
from gateway.events import (
    ErrorEvent,
    Event,
    Finish,
    ReasoningDelta,
    TextDelta,
    ToolApprovalRequest,
    ToolCall,
    ToolCallDelta,
    ToolCallStart,
    ToolResult,
    Usage,
)
from gateway.tool_loop_messages import tool_message

# How an answer that did not simply end is reported: `response.incomplete` with its reason.
_INCOMPLETE = {"length": "max_output_tokens", "content-filter": "content_filter"}
# The events that end a response; each carries the response as it ended.
ENDING_EVENTS = frozenset({"response.completed", "response.incomplete", "response.failed"})


def responses_usage(usage: Usage) -> dict[str, Any]:
    return {
        "input_tokens": usage.prompt_tokens,
        # Answered from the gateway's response cache: every prompt token counts as cached.
        "input_tokens_details": {
            "cached_tokens": usage.prompt_tokens if usage.cached else 0,
            "cache_write_tokens": 0,
        },
        "output_tokens": usage.completion_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": usage.total_tokens,
    }


class ResponseBuilder:
    """One answer's `response` object, built event by event.

    `shell` is the response without its outcome: id, created_at, model and the request's echo
    (instructions, tools, text, ...). `mcp` says which tool names are an MCP server's, run by
    the gateway: their calls are `mcp_call` items, and the answer starts with the servers' tool
    listings. A call of one that asks first is held back until the gateway asks about it (an
    `mcp_approval_request` item) or it fails; a call decided by this request is an `mcp_call`
    naming its approval request once it has run (a denied one makes no item: it never ran).
    `feed` returns the stream events an engine event makes (without their sequence numbers).
    """

    def __init__(self, shell: dict[str, Any], mcp: McpOffer | None = None) -> None:
        self.shell = shell
        self._mcp = mcp or McpOffer()
        self._key = str(shell["id"]).removeprefix("resp_")
        self._output: list[OutputItem] = []
        self._reasoning: Reasoning | None = None
        self._message: Message | None = None
        self._calls: dict[str, FunctionCall | McpCall] = {}
        self._started = False
        self._error: ErrorEvent | None = None
        self._final: dict[str, Any] | None = None
        # What `conclude` made of a Finish: that event and the events it ends the answer with.
        self._concluded: tuple[Finish, list[dict[str, Any]]] | None = None

    # --- the response object --------------------------------------------------------------------

    def response(self) -> dict[str, Any]:
        """The response as it stands: in progress, or as it ended."""
        if self._final is not None:
            return self._final
        return self._in_progress()

    def _in_progress(self) -> dict[str, Any]:
        return {**self.shell, "status": "in_progress", "output": [], "usage": None}

    def conclude(self, finish: Finish) -> dict[str, Any]:
        """The response `finish` will end with, before it is fed (this builder is unchanged).
        Fed next, that Finish ends the response so, the very object returned here; any other
        event (a failure meanwhile) is fed as if nothing was concluded."""
        ending = self._ending(finish)
        self._concluded = (finish, ending)
        return ending[-1]["response"]

    # --- events ---------------------------------------------------------------------------------

    def feed(self, event: Event) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        if not isinstance(event, Finish):
            self._concluded = None
        if not self._started:
            self._started = True
            response = self._in_progress()
            out.append({"type": "response.created", "response": response})
            out.append({"type": "response.in_progress", "response": response})
            self._list_mcp_tools(out)
        match event:
            case ReasoningDelta(text=text):
                self._reasoning_delta(text, out)
            case TextDelta(text=text):
                self._text_delta(text, out)
            case ToolCallStart():
                self._call_start(event.tool_call_id, event.tool_name, out)
            case ToolCallDelta():
                call = self._calls.get(event.tool_call_id)
                if call is not None:
                    call.arguments.append(event.args_text_delta)
                    if not _held(call):
                        out.append(arguments_delta(call, event.args_text_delta))
            case ToolCall():
                self._call_done(event, out)
            case ToolResult():
                self._mcp_result(event, out)
            case ToolApprovalRequest():
                self._approval_request(event, out)
            case ErrorEvent():
                self._error = event
                out.append(stream_error(event))
            case Finish():
                concluded, self._concluded = self._concluded, None
                ending = concluded[1] if concluded and concluded[0] is event else None
                out.extend(self._end(event, ending or self._ending(event)))
        return out

    def _new_index(self) -> int:
        return len(self._output)

    def _item_id(self, kind: str, index: int) -> str:
        return f"{kind}_{self._key}_{index}"

    def _reasoning_delta(self, text: str, out: list[dict[str, Any]]) -> None:
        if self._reasoning is None:
            self._close_message("completed", out)
            index = self._new_index()
            self._reasoning = reasoning = Reasoning(index, self._item_id("rs", index))
            self._output.append(reasoning)
            out.append(added(reasoning))
            out.append(
                at(
                    reasoning,
                    "response.reasoning_summary_part.added",
                    summary_index=0,
                    part={"type": "summary_text", "text": ""},
                )
            )
        self._reasoning.text.append(text)
        out.append(
            at(
                self._reasoning,
                "response.reasoning_summary_text.delta",
                summary_index=0,
                delta=text,
            )
        )

    def _text_delta(self, text: str, out: list[dict[str, Any]]) -> None:
        if self._message is None:
            self._close_reasoning(out)
            index = self._new_index()
            self._message = message = Message(index, self._item_id("msg", index))
            self._output.append(message)
            out.append(added(message))
            out.append(
                at(message, "response.content_part.added", content_index=0, part=message.part())
            )
        self._message.text.append(text)
        out.append(
            at(
                self._message,
                "response.output_text.delta",
                content_index=0,
                delta=text,
                logprobs=[],
            )
        )

    def _list_mcp_tools(self, out: list[dict[str, Any]]) -> None:
        """The answer's first items: what each mcp tool of the request offers (the gateway has
        its servers' lists already: each is done as soon as it is added)."""
        for listing in self._mcp.listings:
            index = self._new_index()
            listed = McpListTools(index, self._item_id("mcpl", index), listing)
            self._output.append(listed)
            out.append(added(listed))
            out.append(at(listed, "response.mcp_list_tools.in_progress"))
            ended = "failed" if listing.error is not None else "completed"
            out.append(at(listed, f"response.mcp_list_tools.{ended}"))
            listed.status = "completed"
            out.append(item_done(listed, "completed"))

    def _call_start(
        self, call_id: str, name: str, out: list[dict[str, Any]]
    ) -> FunctionCall | McpCall:
        self._close_reasoning(out)
        self._close_message("completed", out)
        index = self._new_index()
        call: FunctionCall | McpCall
        server = self._mcp.names.get(name)
        if server is not None and name in self._mcp.asking:
            # Held back: an approval request or, if it fails before one, an mcp_call.
            call = self._calls[call_id] = McpCall(-1, "", *server)
            return call
        if server is None:
            call = FunctionCall(index, self._item_id("fc", index), call_id, name)
        else:
            call = McpCall(index, self._item_id("mcp", index), *server)
        self._calls[call_id] = call
        self._output.append(call)
        out.append(added(call))
        if isinstance(call, McpCall):
            out.append(at(call, "response.mcp_call.in_progress"))
        return call

    def _call_done(self, event: ToolCall, out: list[dict[str, Any]]) -> None:
        call = self._calls.get(event.tool_call_id)
        if call is None:  # a whole call at once (a cached answer's replay)
            call = self._call_start(event.tool_call_id, event.tool_name, out)
            if event.args_text and not _held(call):
                call.arguments.append(event.args_text)
                out.append(arguments_delta(call, event.args_text))
        call.arguments = [event.args_text]
        if _held(call):
            return
        if isinstance(call, McpCall):
            # The call runs now; its item is done when its result comes.
            done = at(call, "response.mcp_call_arguments.done", arguments=event.args_text)
            out.append(done)
            return
        out.append(
            at(
                call,
                "response.function_call_arguments.done",
                arguments=event.args_text,
                name=call.name,
            )
        )
        out.append(item_done(call, "completed"))

    def _mcp_result(self, result: ToolResult, out: list[dict[str, Any]]) -> None:
        call = self._calls.get(result.tool_call_id)
        decided = self._mcp.decided.get(result.tool_call_id)
        if call is None and decided is not None and not result.denied:
            call = McpCall(-1, "", decided.server_label, decided.name, [decided.arguments])
            call.approval_request_id = decided.approval_request_id
            self._calls[result.tool_call_id] = call
        if not isinstance(call, McpCall):
            return  # on this door, only MCP tools are run by the gateway
        if _held(call):
            self._place(call, out)
        if result.is_error:
            error = result.result.get("error") if isinstance(result.result, dict) else None
            call.error = str(error or result.result)
            status = "failed"
        else:
            call.output = tool_message(result)["content"]  # the text the model read
            status = "completed"
        out.append(at(call, f"response.mcp_call.{status}"))
        call.status = status
        out.append(item_done(call, status))

    def _place(self, call: McpCall, out: list[dict[str, Any]]) -> None:
        """Add a held (or decided) call to the output, its arguments whole: it has run."""
        call.index = self._new_index()
        call.id = self._item_id("mcp", call.index)
        self._output.append(call)
        out.append(added(call))
        out.append(at(call, "response.mcp_call.in_progress"))
        arguments = "".join(call.arguments)
        out.append(arguments_delta(call, arguments))
        out.append(at(call, "response.mcp_call_arguments.done", arguments=arguments))

    def _approval_request(self, event: ToolApprovalRequest, out: list[dict[str, Any]]) -> None:
        """The held call becomes the item that asks about it; the answer ends after it."""
        call = self._calls.pop(event.tool_call_id, None)
        if not isinstance(call, McpCall) or not _held(call):
            return  # only the calls of tools the offer says ask first are asked about
        index = self._new_index()
        asked = McpApprovalRequest(
            index, event.approval_id, call.server_label, call.name, "".join(call.arguments)
        )
        self._output.append(asked)
        out.append(added(asked))
        out.append(item_done(asked, "completed"))

    def _close_reasoning(self, out: list[dict[str, Any]]) -> None:
        reasoning, self._reasoning = self._reasoning, None
        if reasoning is not None:
            out.extend(reasoning_done(reasoning))
            reasoning.status = "completed"

    def _close_message(self, status: str, out: list[dict[str, Any]]) -> None:
        message, self._message = self._message, None
        if message is not None:
            out.extend(message_done(message, status))
            message.status = status

    def _ending(self, finish: Finish) -> list[dict[str, Any]]:
        """The events `finish` ends the answer with, the last one carrying the response as it
        ended. Changes nothing: `conclude` asks before the Finish is fed."""
        reason = finish.finish_reason
        response: dict[str, Any] = {**self.shell, "usage": responses_usage(finish.usage)}
        out: list[dict[str, Any]] = []
        if reason == "error":
            # What was said stays in the output, marked cut short; no item is closed.
            error = self._error or ErrorEvent("the answer failed", "upstream_error")
            response["status"] = "failed"
            response["error"] = failed_error(error)
            response["output"] = self._output_as_ended("incomplete", failed=True)
            kind = "response.failed"
        else:
            incomplete = _INCOMPLETE.get(reason)
            status = "incomplete" if incomplete else "completed"
            if self._reasoning is not None:
                out.extend(reasoning_done(self._reasoning))
            if self._message is not None:
                out.extend(message_done(self._message, status))
            response["output"] = self._output_as_ended(status)
            if incomplete:
                response["status"] = "incomplete"
                response["incomplete_details"] = {"reason": incomplete}
                kind = "response.incomplete"
            else:
                response["status"] = "completed"
                response["completed_at"] = int(time.time())
                kind = "response.completed"
        out.append({"type": kind, "response": response})
        return out

    def _output_as_ended(self, status: str, failed: bool = False) -> list[dict[str, Any]]:
        return [item.item(self._ended(item, status, failed)) for item in self._output]

    def _ended(self, item: OutputItem, status: str, failed: bool = False) -> str:
        """How `item` ends when the answer ends with `status`: an open reasoning closes as
        completed (unless the answer failed), an MCP call that has no result is incomplete,
        anything else still open ends with `status`."""
        if item.status != "in_progress":
            return item.status
        if isinstance(item, McpCall):
            return "incomplete"
        return "completed" if item is self._reasoning and not failed else status

    def _end(self, finish: Finish, ending: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """End the answer with `ending` (what `_ending` made of `finish`)."""
        failed = finish.finish_reason == "error"
        status = "incomplete" if failed or finish.finish_reason in _INCOMPLETE else "completed"
        for item in self._output:
            item.status = self._ended(item, status, failed)
        if not failed:
            self._reasoning = self._message = None
        self._final = ending[-1]["response"]
        return ending


def _held(call: FunctionCall | McpCall) -> bool:
    """A call of a tool that asks first, not in the output yet (responses_builder's `_place`)."""
    return call.index < 0
