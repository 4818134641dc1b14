"""OpenAI's Responses API shapes: the `response` object and its stream of typed SSE events.

One ResponseBuilder follows an answer's events and keeps the output items (reasoning, the
assistant message, function calls) as OpenAI lays them out; the stream encoder sends the events
each step produces, numbered by `sequence_number`, and the collector returns the finished
object. Item ids carry the response's own id (`msg_<key>_<n>` for `resp_<key>`), so an
`item_reference` a client sends back names the stored response that holds the item.
"""

from __future__ import annotations

import copy
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

from gateway.doors.common.encoder_base import NO_BUFFERING, dumps
from gateway.events import (
    ErrorEvent,
    Event,
    Finish,
    ReasoningDelta,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    ToolCallStart,
    Usage,
)

# How an answer that did not simply end is reported: `response.incomplete` with its reason.
_INCOMPLETE = {"length": "max_output_tokens", "content-filter": "content_filter"}
# OpenAI's `response.error.code` is a closed list: the gateway's own type goes in `error` events.
_FAILED_CODES = {
    "rate_limited": "rate_limit_exceeded",
    "upstream_rate_limited": "rate_limit_exceeded",
}


def item_response_id(item_id: str) -> str | None:
    """The id of the response whose output holds `item_id`, if this gateway made it."""
    kind, _, rest = item_id.partition("_")
    key, _, index = rest.rpartition("_")
    # `<n>`: the n-th output item; `in<n>`: the n-th input item the request gave no id.
    position = index.removeprefix("in")
    if kind in ("msg", "rs", "fc", "fco") and key and position.isdigit():
        return f"resp_{key}"
    return None


_INPUT_ID_KINDS = {"function_call": "fc", "function_call_output": "fco", "reasoning": "rs"}


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


@dataclass
class _Reasoning:
    index: int
    id: str
    text: list[str] = field(default_factory=list)
    status: str = "in_progress"

    def item(self) -> dict[str, Any]:
        done = self.status != "in_progress"
        summary = [{"type": "summary_text", "text": "".join(self.text)}] if done else []
        return {"type": "reasoning", "id": self.id, "summary": summary}


@dataclass
class _Message:
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

    def item(self) -> dict[str, Any]:
        content = [self.part()] if self.status != "in_progress" else []
        return {
            "type": "message",
            "id": self.id,
            "status": self.status,
            "role": "assistant",
            "content": content,
        }


@dataclass
class _FunctionCall:
    index: int
    id: str
    call_id: str
    name: str
    arguments: list[str] = field(default_factory=list)
    status: str = "in_progress"

    def item(self) -> dict[str, Any]:
        return {
            "type": "function_call",
            "id": self.id,
            "call_id": self.call_id,
            "name": self.name,
            # Added with none: the deltas that follow carry them.
            "arguments": "".join(self.arguments) if self.status != "in_progress" else "",
            "status": self.status,
        }


_Output = _Reasoning | _Message | _FunctionCall


class ResponseBuilder:
    """One answer's `response` object, built event by event.

    `shell` is the response without its outcome: id, created_at, model and the request's echo
    (instructions, tools, text, ...). `feed` returns the stream events an engine event makes
    (without their sequence numbers).
    """

    def __init__(self, shell: dict[str, Any]) -> None:
        self.shell = shell
        self._key = str(shell["id"]).removeprefix("resp_")
        self._output: list[_Output] = []
        self._reasoning: _Reasoning | None = None
        self._message: _Message | None = None
        self._calls: dict[str, _FunctionCall] = {}
        self._started = False
        self._error: ErrorEvent | None = None
        self._final: dict[str, Any] | None = None
        # What `conclude` made of a Finish: that event, a builder that saw it, its events.
        self._concluded: tuple[Finish, ResponseBuilder, list[dict[str, Any]]] | None = None

    # --- the response object --------------------------------------------------------------------

    def response(self) -> dict[str, Any]:
        """The response as it stands: in progress, or as it ended."""
        if self._final is not None:
            return self._final
        return self._in_progress()

    def _in_progress(self) -> dict[str, Any]:
        return {**self.shell, "status": "in_progress", "output": [], "usage": None}

    def conclude(self, finish: Finish) -> dict[str, Any]:
        """The response `finish` will end with, before it is fed (on a copy: this builder is
        unchanged). Fed next, that Finish ends the response so, the very object returned here;
        any other event (a failure meanwhile) is fed as if nothing was concluded."""
        trial = copy.deepcopy(self)
        trial._concluded = None
        events: list[dict[str, Any]] = []
        trial._finish(finish, events)
        self._concluded = (finish, trial, events)
        return trial.response()

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
                    out.append(
                        self._at(
                            call,
                            "response.function_call_arguments.delta",
                            delta=event.args_text_delta,
                        )
                    )
            case ToolCall():
                self._call_done(event, out)
            case ErrorEvent():
                self._error = event
                out.append(
                    {
                        "type": "error",
                        "code": event.error_type,
                        "message": event.message,
                        "param": None,
                    }
                )
            case Finish():
                concluded, self._concluded = self._concluded, None
                if concluded is not None and concluded[0] is event:
                    _, trial, events = concluded
                    self._output, self._calls = trial._output, trial._calls
                    self._reasoning, self._message = trial._reasoning, trial._message
                    self._final = trial._final
                    out.extend(events)
                else:
                    self._finish(event, out)
        return out

    def _new_index(self) -> int:
        return len(self._output)

    def _item_id(self, kind: str, index: int) -> str:
        return f"{kind}_{self._key}_{index}"

    def _at(self, item: _Output, kind: str, **fields: Any) -> dict[str, Any]:
        return {"type": kind, "item_id": item.id, "output_index": item.index, **fields}

    def _reasoning_delta(self, text: str, out: list[dict[str, Any]]) -> None:
        if self._reasoning is None:
            self._close_message("completed", out)
            index = self._new_index()
            self._reasoning = reasoning = _Reasoning(index, self._item_id("rs", index))
            self._output.append(reasoning)
            out.append(self._added(reasoning))
            out.append(
                self._at(
                    reasoning,
                    "response.reasoning_summary_part.added",
                    summary_index=0,
                    part={"type": "summary_text", "text": ""},
                )
            )
        self._reasoning.text.append(text)
        out.append(
            self._at(
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
            self._message = message = _Message(index, self._item_id("msg", index))
            self._output.append(message)
            out.append(self._added(message))
            out.append(
                self._at(
                    message, "response.content_part.added", content_index=0, part=message.part()
                )
            )
        self._message.text.append(text)
        out.append(
            self._at(
                self._message,
                "response.output_text.delta",
                content_index=0,
                delta=text,
                logprobs=[],
            )
        )

    def _call_start(self, call_id: str, name: str, out: list[dict[str, Any]]) -> _FunctionCall:
        self._close_reasoning(out)
        self._close_message("completed", out)
        index = self._new_index()
        call = _FunctionCall(index, self._item_id("fc", index), call_id, name)
        self._calls[call_id] = call
        self._output.append(call)
        out.append(self._added(call))
        return call

    def _call_done(self, event: ToolCall, out: list[dict[str, Any]]) -> None:
        call = self._calls.get(event.tool_call_id)
        if call is None:  # a whole call at once (a cached answer's replay)
            call = self._call_start(event.tool_call_id, event.tool_name, out)
            if event.args_text:
                call.arguments.append(event.args_text)
                out.append(
                    self._at(call, "response.function_call_arguments.delta", delta=event.args_text)
                )
        call.arguments = [event.args_text]
        out.append(
            self._at(
                call,
                "response.function_call_arguments.done",
                arguments=event.args_text,
                name=call.name,
            )
        )
        out.append(self._item_done(call, "completed"))

    def _close_reasoning(self, out: list[dict[str, Any]]) -> None:
        reasoning, self._reasoning = self._reasoning, None
        if reasoning is None:
            return
        text = "".join(reasoning.text)
        out.append(
            self._at(reasoning, "response.reasoning_summary_text.done", summary_index=0, text=text)
        )
        out.append(
            self._at(
                reasoning,
                "response.reasoning_summary_part.done",
                summary_index=0,
                part={"type": "summary_text", "text": text},
            )
        )
        out.append(self._item_done(reasoning, "completed"))

    def _close_message(self, status: str, out: list[dict[str, Any]]) -> None:
        message, self._message = self._message, None
        if message is None:
            return
        part = message.part()
        out.append(
            self._at(
                message,
                "response.output_text.done",
                content_index=0,
                text=part["text"],
                logprobs=[],
            )
        )
        out.append(self._at(message, "response.content_part.done", content_index=0, part=part))
        out.append(self._item_done(message, status))

    @staticmethod
    def _added(item: _Output) -> dict[str, Any]:
        return {
            "type": "response.output_item.added",
            "output_index": item.index,
            "item": item.item(),
        }

    @staticmethod
    def _item_done(item: _Output, status: str) -> dict[str, Any]:
        item.status = status
        return {
            "type": "response.output_item.done",
            "output_index": item.index,
            "item": item.item(),
        }

    def _finish(self, finish: Finish, out: list[dict[str, Any]]) -> None:
        reason = finish.finish_reason
        response: dict[str, Any] = {**self.shell, "usage": responses_usage(finish.usage)}
        if reason == "error":
            # What was said stays in the output, marked cut short; no item is closed.
            error = self._error or ErrorEvent("the answer failed", "upstream_error")
            code = _FAILED_CODES.get(error.error_type, "server_error")
            response["status"] = "failed"
            response["error"] = {"code": code, "message": error.message}
            response["output"] = self._final_output("incomplete")
            kind = "response.failed"
        else:
            incomplete = _INCOMPLETE.get(reason)
            status = "incomplete" if incomplete else "completed"
            self._close_reasoning(out)
            self._close_message(status, out)
            response["output"] = self._final_output(status)
            if incomplete:
                response["status"] = "incomplete"
                response["incomplete_details"] = {"reason": incomplete}
                kind = "response.incomplete"
            else:
                response["status"] = "completed"
                response["completed_at"] = int(time.time())
                kind = "response.completed"
        self._final = response
        out.append({"type": kind, "response": response})

    def _final_output(self, status: str) -> list[dict[str, Any]]:
        """Every item as it ended: those still open end with `status`."""
        for item in self._output:
            if item.status == "in_progress":
                item.status = status
        return [item.item() for item in self._output]


class ResponsesEncoder:
    """`stream: true`: OpenAI's typed events as SSE, `event:` and `data:` lines per event."""

    media_type: ClassVar[str] = "text/event-stream"
    headers: ClassVar[dict[str, str]] = NO_BUFFERING

    def __init__(self, builder: ResponseBuilder) -> None:
        self._builder = builder
        self._sequence = 0

    def encode(self, event: Event) -> bytes:
        chunks = []
        for data in self._builder.feed(event):
            data["sequence_number"] = self._sequence
            self._sequence += 1
            chunks.append(f"event: {data['type']}\ndata: {dumps(data)}\n\n")
        return "".join(chunks).encode()

    def close(self) -> bytes:
        return b""  # OpenAI ends a Responses stream with its last event, no [DONE]


class ResponseCollector:
    """`stream: false`: the finished `response` object (a collector for api/answering.py)."""

    def __init__(self, builder: ResponseBuilder) -> None:
        self._builder = builder

    async def __call__(self, model_id: str, events: AsyncIterator[Event]) -> dict[str, Any]:
        async for event in events:
            self._builder.feed(event)
        return self._builder.response()
