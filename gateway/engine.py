"""The one path every chat request takes: LiteLLM's Router, translated into typed events.

A request is prepared once (model, tools, cache directive: every check that can refuse it before
a provider is called), then run. The engine knows nothing of wire formats. It raises
GatewayError for failures it can name before the answer starts; failures mid-answer are raised
too, and the HTTP layer turns them into an error part followed by a finish part.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from gateway.approvals import ApprovalLedger, IssuedApprovals, MemoryApprovalLedger
from gateway.approvals.tool_rounds import ToolRounds
from gateway.cache import CacheDirective, Lookup, ResponseCache
from gateway.cache.chat_calls import ChatCallCache
from gateway.chat_call import ChatCall, PreparedCall
from gateway.config import GatewayConfig, ModelMode
from gateway.errors import UpstreamIncomplete
from gateway.events import (
    AnswerContinues,
    Event,
    Finish,
    ReasoningDelta,
    StepFinish,
    StepStart,
    TextDelta,
    ToolCall,
    ToolCallStart,
    Usage,
)
from gateway.ids import new_id
from gateway.mcp import McpServers, McpToolset
from gateway.model_checks import check_model
from gateway.observability import metrics, tracing
from gateway.redaction import LOG_SECRETS, Redactor
from gateway.tool_loop_messages import (
    assistant_message,
    fill_empty_content,
    split_calls,
    tool_message,
)
from gateway.tool_offer import ToolOffer, offered_tools
from gateway.tools import load_tools
from gateway.upstream.chunks import StepState, provider_sent_finish
from gateway.upstream.litellm_reach import LeanStream
from gateway.upstream.pricing import PriceList
from gateway.upstream.router import build_router, note_deployment
from gateway.upstream.upstream_errors import to_gateway_error

log = logging.getLogger("gateway.engine")


class Lease:
    """One request's hold on an engine: a replaced engine is closed only once none is held.

    Taken in the same step that reads the live engine, so no reload can slip in between.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._held = True
        engine.in_flight += 1
        engine._idle.clear()

    def release(self) -> None:
        if self._held:
            self._held = False
            self.engine.in_flight -= 1
            if not self.engine.in_flight:
                self.engine._idle.set()


class Engine:
    def __init__(
        self,
        config: GatewayConfig,
        cache: ResponseCache | None = None,
        mcp_servers: McpServers | None = None,
        approvals: ApprovalLedger | None = None,
    ) -> None:
        self.config = config
        # The tools this config may offer, loaded explicitly (idempotent: each reload calls it).
        # Before the Router: a tool module that fails to import leaves no Router hooked in.
        self.tools = load_tools(config)
        # The MCP servers it names, held until this engine is closed (gateway/mcp/servers.py).
        self._mcp_servers = mcp_servers
        self.mcp = mcp_servers.acquire(config.mcp_servers) if mcp_servers else McpToolset()
        self.router = build_router(config)
        self.cache = cache if config.options.cache.enabled else None
        self.chat_cache = ChatCallCache(self.cache, config) if self.cache else None
        self.redactor = Redactor(config.secrets())
        LOG_SECRETS.remember(config.secrets())
        self.prices = PriceList(config)
        self._modes = {model_id: config.mode_of(model_id) for model_id in config.model_ids}
        # Model IDs whose every deployment is read lean: even a client that wants one JSON
        # answer gets it read from a stream, which skips LiteLLM's per-response success
        # logging and cost code (a LiteLLM non-streamed call costs more CPU than a lean stream).
        self._lean_models = config.lean_model_ids()
        # Issued approval requests live in the chat store's ledger, shared by every replica.
        issued = IssuedApprovals(
            approvals or MemoryApprovalLedger(),
            config.options.approval_ttl,
            config.options.max_pending_approvals,
        )
        self.rounds = ToolRounds(config.options, issued)
        # Answers being produced now (see Lease): a replaced engine is closed when this is 0.
        self.in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()

    def lease(self) -> Lease:
        return Lease(self)

    async def aclose(self) -> None:
        # A Router hooks itself into LiteLLM's process-wide callback lists; unhooked, every
        # retired Router would stay alive and run on each later request (LiteLLM stops adding
        # callbacks at 100, which would silently break the live Router's cooldown accounting).
        self.router.discard()
        await self.rounds.aclose()
        if self._mcp_servers is not None:
            servers, self._mcp_servers = self._mcp_servers, None
            await servers.release(self.mcp)

    def prepare(self, call: ChatCall, cache: CacheDirective) -> PreparedCall:
        """Every check that can refuse `call` before a provider is asked, and what its run needs.

        Raises the error the request deserves: an unknown model, an embedding model, one whose
        key is unset, a tool the model is not offered.
        """
        self.check_model(call.model_id, "chat", call.allowed_models)
        offer = ToolOffer({})
        if not (call.client_runs_tools and call.tool_names is None):
            # The YAML's tools for the model, narrowed by key and request (the client's doors
            # run none unless asked): the runner runs no other, so a call the model makes to
            # any other tool is refused, not run.
            sources = (self.config, self.tools, self.mcp)
            narrowing = (call.model_id, call.tool_names, call.allowed_tools)
            ask, asks_too = call.can_ask_approval, call.asks_first
            offer = offered_tools(*sources, *narrowing, can_ask=ask, asks_too=asks_too)
        tools = offer.tools
        specs = [*(call.client_tools or []), *(tool.spec() for tool in tools.values())]
        empty_content = "" if self.config.openai_shaped(call.model_id) else None
        messages = call.messages
        if empty_content is not None:
            messages = [fill_empty_content(message) for message in messages]
        return PreparedCall(
            call=call,
            messages=messages,
            tools=tools,
            asking=offer.asking,
            specs=specs,
            client_tool_names=frozenset(s["function"]["name"] for s in call.client_tools or []),
            cache=cache,
            empty_assistant_content=empty_content,
        )

    def check_model(
        self, model_id: str, mode: ModelMode, allowed: frozenset[str] | None = None
    ) -> None:
        """Refuse a model ID this request may not use (gateway/model_checks.py)."""
        check_model(self.config, self._modes, model_id, mode, allowed)

    async def run(self, prepared: PreparedCall, lease: Lease) -> AsyncIterator[Event]:
        """Yield the events of one answer: model steps and tool rounds, ending with Finish.

        The lease is released when the answer ends, however it ends.
        """
        call = prepared.call
        try:
            messages = list(prepared.messages)
            usage: Usage | None = None
            max_steps = self.config.options.max_tool_steps
            outcome = call.outcome
            rounds = self.rounds
            if call.decisions:
                yield AnswerContinues(_message_id(call, 0))
                decided = await rounds.decided(call.decisions, prepared.tools, call.tenant)
                for result in decided:
                    yield result
                messages.extend(tool_message(result) for result in decided)
            for step_number in range(max_steps):
                step = StepState()
                span = tracing.start_child(
                    f"chat {call.model_id}",
                    {"gen_ai.request.model": call.model_id, "gateway.step": step_number},
                )
                failed: str | None = "cancelled"
                try:
                    async for event in self._model_step(prepared, messages, step_number, step):
                        if outcome.first_token_at is None and type(event) in _FIRST_TOKEN_EVENTS:
                            outcome.mark_first_token()
                        yield event
                    failed = None
                except Exception as exc:
                    error = to_gateway_error(exc, call.model_id, self.redactor)
                    outcome.error_type = error.error_type
                    outcome.error_message = error.message
                    metrics.UPSTREAM_ERRORS.labels(call.model_id, error.error_type).inc()
                    failed = error.error_type
                    raise error from None
                finally:
                    tracing.end_child(span, tracing.model_call_attributes(outcome, step), failed)
                usage = step.usage if usage is None else usage + step.usage
                calls, for_client = split_calls(
                    step.completed_tool_calls,
                    call.client_runs_tools,
                    prepared.client_tool_names,
                    prepared.tools,
                )
                if not calls:
                    yield StepFinish(step.finish_reason, step.usage, deployment=step.deployment)
                    yield self._finish(call, step.finish_reason, usage)
                    return
                pauses = rounds.asks(calls, prepared.asking)
                yield StepFinish(
                    "tool-calls",
                    step.usage,
                    is_continued=not (pauses or for_client),
                    deployment=step.deployment,
                )
                tools_started = time.perf_counter()
                done = await rounds.run(calls, prepared.tools, prepared.asking, call.tenant)
                outcome.tool_seconds += time.perf_counter() - tools_started
                for event in [*done.results, *done.requests]:
                    yield event
                # Paused: the next request brings the decisions. For the client: the model
                # waits for the client's results too, and the client has these.
                if done.paused or for_client:
                    yield self._finish(call, "tool-calls", usage)
                    return
                messages.append(
                    assistant_message(step.text, calls, prepared.empty_assistant_content)
                )
                messages.extend(tool_message(result) for result in done.results)
            # The step cap stopped a model that kept calling tools; its last calls were answered.
            log.info("model %s reached max_tool_steps=%d", call.model_id, max_steps)
            yield self._finish(call, "tool-calls", usage or Usage())
        finally:
            lease.release()

    async def wait_idle(self) -> None:
        """Wait until no answer is in progress."""
        await self._idle.wait()

    @staticmethod
    def _finish(call: ChatCall, reason: str, usage: Usage) -> Finish:
        call.outcome.finish_reason = reason
        call.outcome.usage = usage
        return Finish(reason, usage)

    async def _model_step(
        self,
        prepared: PreparedCall,
        messages: list[dict[str, Any]],
        step_number: int,
        step: StepState,
    ) -> AsyncIterator[Event]:
        call = prepared.call
        lookup = await self._cache_lookup(prepared, messages)
        if lookup is not None and lookup.answer is not None:
            yield StepStart(step=step_number, message_id=_message_id(call, step_number))
            for event in step.replay(lookup.answer):
                yield event
            return
        step.record = lookup is not None and lookup.may_store
        kwargs: dict[str, Any] = {**call.params, "model": call.model_id, "messages": messages}
        if prepared.specs:
            kwargs["tools"] = prepared.specs
        outcome = call.outcome
        if not (call.stream or call.model_id in self._lean_models):
            outcome.provider_call_sent()
            response = await self.router.acompletion(**kwargs)
            outcome.provider_call_ended()
            step.deployment = note_deployment(call.outcome, response)
            yield StepStart(step=step_number, message_id=_message_id(call, step_number))
            events = step.absorb_response(response)
            if not step.finished:
                raise _incomplete(call.model_id)
            await self._cache_save(lookup, step)
            for event in events:
                yield event
            return
        kwargs["stream"] = True
        kwargs["stream_options"] = {"include_usage": True}
        outcome.provider_call_sent()
        response = await self.router.acompletion(**kwargs)
        outcome.provider_answered()
        step.deployment = note_deployment(call.outcome, response)
        lean = isinstance(response, LeanStream)
        if call.outcome.reader is None:
            call.outcome.reader = "lean" if lean else "litellm"
        # StepStart is yielded only once the provider has answered, so a refusal before this
        # point still becomes an HTTP status rather than an error part.
        try:
            yield StepStart(step=step_number, message_id=_message_id(call, step_number))
            if lean:
                absorb_raw = step.absorb_raw
                async for raw in response.chunks():
                    for event in absorb_raw(raw):
                        yield event
            else:
                absorb = step.absorb_chunk
                async for chunk in response:
                    for event in absorb(chunk):
                        yield event
        finally:
            # Closes the provider's HTTP stream at once when the client has gone away.
            await response.aclose()
            outcome.provider_call_ended(response.read_seconds if lean else None)
        if not (step.finished and (lean or provider_sent_finish(response))):
            # Never a silent `stop`: the answer may be cut short, and is never cached.
            raise _incomplete(call.model_id)
        events = step.complete_tool_calls()
        await self._cache_save(lookup, step)
        for event in events:
            yield event

    async def _cache_lookup(
        self, prepared: PreparedCall, messages: list[dict[str, Any]]
    ) -> Lookup | None:
        call = prepared.call
        if self.chat_cache is None:
            return None
        lookup = await self.chat_cache.lookup(
            call.model_id, messages, call.params, prepared.specs, prepared.cache
        )
        if lookup is not None and call.outcome.cache is None:
            call.outcome.cache = lookup.result
        return lookup

    async def _cache_save(self, lookup: Lookup | None, step: StepState) -> None:
        """Store a model call's answer, only if it ran to its finish (never a cut stream)."""
        if self.chat_cache and lookup is not None and lookup.may_store and step.finished:
            await self.chat_cache.save(lookup, step.answer())


def _message_id(call: ChatCall, step_number: int) -> str:
    if step_number == 0 and call.message_id:
        return call.message_id
    return new_id("msg")


def _incomplete(model_id: str) -> UpstreamIncomplete:
    return UpstreamIncomplete(
        f"the provider for model '{model_id}' ended its answer without finishing it "
        "(no finish reason): it may be cut short"
    )


_FIRST_TOKEN_EVENTS = frozenset({TextDelta, ReasoningDelta, ToolCallStart, ToolCall})
