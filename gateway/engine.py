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

import httpx
import litellm

from gateway.config import GatewayConfig
from gateway.errors import InvalidRequest, ModelUnavailable, UnknownModel
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
    ToolResult,
    Usage,
)
from gateway.providers import register_providers
from gateway.tools import REGISTRY, Tool, ToolContext
from gateway.tools.runner import run_tool_calls
from gateway.upstream_errors import to_gateway_error

log = logging.getLogger("gateway.engine")


@dataclass(frozen=True)
class ChatCall:
    """A request in the engine's terms: OpenAI-shaped messages and sampling parameters."""

    model_id: str
    messages: list[dict[str, Any]]
    params: dict[str, Any] = field(default_factory=dict)
    stream: bool = True
    # The tools the request asks for, by name (None: all the model is offered). Narrows only.
    tool_names: list[str] | None = None
    # OpenAI-style tool specs the client runs itself: offered as given, never executed here.
    client_tools: list[dict[str, Any]] | None = None


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
        self._tool_http: httpx.AsyncClient | None = None

    async def aclose(self) -> None:
        if self._tool_http is not None:
            await self._tool_http.aclose()

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

    def enabled_tools(self, call: ChatCall) -> dict[str, Tool]:
        """The tools this call may use: the YAML's set for the model, narrowed by the request."""
        if call.client_tools is not None:
            return {}
        offered = self.config.tools_for(call.model_id)
        if call.tool_names is not None:
            refused = [name for name in call.tool_names if name not in offered]
            if refused:
                raise InvalidRequest(
                    f"tools: {', '.join(map(repr, refused))} not enabled for model "
                    f"'{call.model_id}'; enabled: {', '.join(offered) or 'none'}"
                )
            offered = [name for name in offered if name in call.tool_names]
        return {name: tool for name in offered if (tool := REGISTRY.get(name)) is not None}

    async def run(self, call: ChatCall) -> AsyncIterator[Event]:
        """Yield the events of one answer: model steps and tool rounds, ending with Finish."""
        self.check_model(call.model_id)
        tools = self.enabled_tools(call)
        specs = call.client_tools or [tool.spec() for tool in tools.values()]
        messages = list(call.messages)
        usage = Usage()
        max_steps = self.config.options.max_tool_steps
        for step_number in range(max_steps):
            step = _StepState()
            try:
                async for event in self._model_step(call, messages, specs, step_number, step):
                    yield event
            except Exception as exc:
                raise to_gateway_error(exc, call.model_id, self._secrets) from None
            usage = usage + step.usage
            calls = step.completed_tool_calls
            if not calls or call.client_tools is not None:
                yield StepFinish(step.finish_reason, step.usage)
                yield Finish(step.finish_reason, usage)
                return
            yield StepFinish("tool-calls", step.usage, is_continued=True)
            results = await run_tool_calls(
                calls, tools, self._tool_context, self.config.options.tool_timeout
            )
            for result in results:
                yield result
            messages.append(_assistant_message(step.text, calls))
            messages.extend(_tool_message(result) for result in results)
        # The step cap stopped a model that kept calling tools; its last calls were answered.
        log.info("model %s reached max_tool_steps=%d", call.model_id, max_steps)
        yield Finish("tool-calls", usage)

    def _tool_context(self, tool: Tool) -> ToolContext:
        if self._tool_http is None:
            self._tool_http = httpx.AsyncClient(timeout=self.config.options.tool_timeout)
        return ToolContext(self._tool_http, self.config.options.tool_options.get(tool.name, {}))

    async def _model_step(
        self,
        call: ChatCall,
        messages: list[dict[str, Any]],
        specs: list[dict[str, Any]],
        step_number: int,
        step: _StepState,
    ) -> AsyncIterator[Event]:
        kwargs: dict[str, Any] = {**call.params, "model": call.model_id, "messages": messages}
        if specs:
            kwargs["tools"] = specs
        if not call.stream:
            response = await self.router.acompletion(**kwargs)
            yield StepStart(step=step_number, message_id=_message_id())
            for event in step.absorb_response(response):
                yield event
            return
        kwargs["stream"] = True
        kwargs["stream_options"] = {"include_usage": True}
        response = await self.router.acompletion(**kwargs)
        # StepStart is yielded only once the provider has answered, so a refusal before this
        # point still becomes an HTTP status rather than an error part.
        try:
            yield StepStart(step=step_number, message_id=_message_id())
            async for chunk in response:
                for event in step.absorb_chunk(chunk):
                    yield event
        finally:
            # Closes the provider's HTTP stream at once when the client has gone away.
            await response.aclose()
        for event in step.complete_tool_calls():
            yield event


def _assistant_message(text: str, calls: list[ToolCall]) -> dict[str, Any]:
    """The assistant turn that asked for tools, in the OpenAI form LiteLLM translates."""
    return {
        "role": "assistant",
        "content": text or None,
        "tool_calls": [
            {
                "id": call.tool_call_id,
                "type": "function",
                "function": {
                    "name": call.tool_name,
                    "arguments": json.dumps(call.args if call.args is not None else {}),
                },
            }
            for call in calls
        ],
    }


def _tool_message(result: ToolResult) -> dict[str, Any]:
    content = (
        result.result if isinstance(result.result, str) else json.dumps(result.result, default=str)
    )
    return {"role": "tool", "tool_call_id": result.tool_call_id, "content": content}


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
    text_parts: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "".join(self.text_parts)

    def absorb_chunk(self, chunk: Any) -> list[Event]:
        events: list[Event] = []
        choices = chunk.choices
        if choices:
            choice = choices[0]
            delta = choice.delta
            if delta is not None:
                content = delta.content
                if content:
                    self.text_parts.append(content)
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
            self.text_parts.append(message.content)
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


def _parse_args(text: str) -> dict[str, Any] | None:
    """Parsed tool arguments, or None when they are not a JSON object (the runner reports it)."""
    if not text.strip():
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


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
