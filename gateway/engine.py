"""The one path every chat request takes: LiteLLM's Router, translated into typed events.

The engine knows nothing of wire formats. It raises GatewayError for failures it can name before
the answer starts; failures mid-answer are raised too, and the HTTP layer turns them into an
error part followed by a finish part.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import litellm

from gateway.config import GatewayConfig
from gateway.errors import ModelUnavailable, UnknownModel
from gateway.events import (
    Event,
    Finish,
    ReasoningDelta,
    StepFinish,
    StepStart,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    ToolCallStart,
    Usage,
)
from gateway.providers import register_providers
from gateway.upstream_errors import to_gateway_error

log = logging.getLogger("gateway.engine")


@dataclass(frozen=True)
class ChatCall:
    """A request in the engine's terms: OpenAI-shaped messages and sampling parameters."""

    model_id: str
    messages: list[dict[str, Any]]
    params: dict[str, Any] = field(default_factory=dict)
    stream: bool = True


def build_router(config: GatewayConfig) -> litellm.Router:
    register_providers()
    for name, value in config.litellm_settings.items():
        setattr(litellm, name, value)
    return litellm.Router(
        model_list=[d.router_entry() for d in config.callable_deployments],
        **config.router_settings,
    )


class Engine:
    def __init__(self, config: GatewayConfig) -> None:
        self.config = config
        self.router = build_router(config)
        self._secrets = tuple(config.secrets())
        self._model_ids = frozenset(config.model_ids)

    def check_model(self, model_id: str) -> None:
        """Raise the error a request for `model_id` deserves before any upstream call."""
        if model_id not in self._model_ids:
            known = ", ".join(self.config.model_ids)
            raise UnknownModel(f"unknown model '{model_id}'; known models: {known}")
        missing = self.config.missing_env_for(model_id)
        if missing:
            names = ", ".join(missing)
            raise ModelUnavailable(
                f"model '{model_id}' is not available: environment variable {names} is not set"
            )

    async def run(self, call: ChatCall) -> AsyncIterator[Event]:
        """Yield the events of one answer, ending with Finish."""
        self.check_model(call.model_id)
        step = _StepState()
        try:
            async for event in self._model_step(call, step):
                yield event
        except Exception as exc:
            raise to_gateway_error(exc, call.model_id, self._secrets) from None
        yield StepFinish(step.finish_reason, step.usage)
        yield Finish(step.finish_reason, step.usage)

    async def _model_step(self, call: ChatCall, step: _StepState) -> AsyncIterator[Event]:
        kwargs: dict[str, Any] = {**call.params, "model": call.model_id, "messages": call.messages}
        if not call.stream:
            response = await self.router.acompletion(**kwargs)
            yield StepStart(step=0, message_id=_message_id())
            for event in step.absorb_response(response):
                yield event
            return
        kwargs["stream"] = True
        kwargs["stream_options"] = {"include_usage": True}
        response = await self.router.acompletion(**kwargs)
        # Yielded only once the provider has answered, so a refusal before this point still
        # becomes an HTTP status rather than an error part.
        try:
            yield StepStart(step=0, message_id=_message_id())
            async for chunk in response:
                for event in step.absorb_chunk(chunk):
                    yield event
        finally:
            # Closes the provider's HTTP stream at once when the client has gone away.
            await response.aclose()
        for event in step.complete_tool_calls():
            yield event


@dataclass
class _PendingToolCall:
    tool_call_id: str
    name: str
    args_text: str = ""


@dataclass
class _StepState:
    """What one model call has said so far: finish reason, usage and partial tool calls."""

    finish_reason: str = "stop"
    usage: Usage = field(default_factory=Usage)
    tool_calls: dict[int, _PendingToolCall] = field(default_factory=dict)
    completed_tool_calls: list[ToolCall] = field(default_factory=list)

    def absorb_chunk(self, chunk: Any) -> list[Event]:
        events: list[Event] = []
        choices = chunk.choices
        if choices:
            choice = choices[0]
            delta = choice.delta
            if delta is not None:
                content = delta.content
                if content:
                    events.append(TextDelta(content))
                reasoning = getattr(delta, "reasoning_content", None)
                if reasoning:
                    events.append(ReasoningDelta(reasoning))
                if delta.tool_calls:
                    self._absorb_tool_call_deltas(delta.tool_calls, events)
            if choice.finish_reason:
                self.finish_reason = _normalise_finish_reason(choice.finish_reason)
        usage = getattr(chunk, "usage", None)
        if usage:
            self.usage = _usage_of(usage)
        return events

    def _absorb_tool_call_deltas(self, deltas: list[Any], events: list[Event]) -> None:
        for position, delta in enumerate(deltas):
            index = delta.index if delta.index is not None else position
            function = delta.function
            pending = self.tool_calls.get(index)
            if pending is None:
                tool_call_id = delta.id or f"call_{uuid.uuid4().hex[:24]}"
                pending = _PendingToolCall(tool_call_id, (function and function.name) or "")
                self.tool_calls[index] = pending
                events.append(ToolCallStart(pending.tool_call_id, pending.name))
            arguments = function.arguments if function is not None else None
            if arguments:
                pending.args_text += arguments
                events.append(ToolCallDelta(pending.tool_call_id, arguments))

    def complete_tool_calls(self) -> list[Event]:
        for index in sorted(self.tool_calls):
            pending = self.tool_calls[index]
            self.completed_tool_calls.append(
                ToolCall(
                    pending.tool_call_id,
                    pending.name,
                    _parse_args(pending.args_text),
                    pending.args_text,
                )
            )
        return list(self.completed_tool_calls)

    def absorb_response(self, response: Any) -> list[Event]:
        events: list[Event] = []
        choice = response.choices[0]
        message = choice.message
        if getattr(message, "reasoning_content", None):
            events.append(ReasoningDelta(message.reasoning_content))
        if message.content:
            events.append(TextDelta(message.content))
        for index, tool_call in enumerate(message.tool_calls or []):
            arguments = tool_call.function.arguments or ""
            self.tool_calls[index] = _PendingToolCall(
                tool_call.id or f"call_{uuid.uuid4().hex[:24]}",
                tool_call.function.name or "",
                arguments,
            )
        events.extend(self.complete_tool_calls())
        self.finish_reason = _normalise_finish_reason(choice.finish_reason or "stop")
        usage = getattr(response, "usage", None)
        if usage:
            self.usage = _usage_of(usage)
        return events


def _message_id() -> str:
    return f"msg-{uuid.uuid4().hex}"


def _parse_args(text: str) -> dict[str, Any]:
    """Parsed tool arguments; invalid JSON is kept as text for the tool loop to report."""
    if not text.strip():
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return {"__invalid_json__": text}
    return value if isinstance(value, dict) else {"__invalid_json__": text}


def _usage_of(usage: Any) -> Usage:
    return Usage(
        prompt_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
        completion_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
    )


_FINISH_REASONS = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool-calls",
    "function_call": "tool-calls",
    "content_filter": "content-filter",
    "end_turn": "stop",
    "max_tokens": "length",
}


def _normalise_finish_reason(reason: str) -> str:
    """The AI SDK's finish reasons: stop, length, content-filter, tool-calls, error, other."""
    return _FINISH_REASONS.get(reason, "other")
