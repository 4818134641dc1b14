"""The lean stream reader: the provider's own SSE lines, read below LiteLLM's per-chunk wrapper.

LiteLLM's CustomStreamWrapper builds model objects, runs logging and cost code and keeps every
chunk for each streamed token; on long answers that is almost all of a gateway's CPU. For
deployments whose provider speaks OpenAI's chat-completion chunks, the wrapper's source is one
of two known objects: the openai SDK's `AsyncStream` or LiteLLM's own
`OpenAIChatCompletionStreamingHandler` (the source `openai/` deployments get too: see
`gateway/upstream/openai_route.py`), each over an httpx response. The gateway reads that
response's lines itself and parses each chunk with one `json.loads`.

Everything before the first chunk stays LiteLLM's: the Router picks the deployment, translates
the parameters and sends the request; the reader waits for the first chunk inside the Router's
own call, so a failure there (a refusal, a first token that never comes) is mapped by LiteLLM
and retried or sent to a fallback like any other. What the wrapper did after that, the engine
does: it maps errors, requires the provider's own finish, closes the stream, and counts the
deployment's success for the Router's cooldown arithmetic.

Two more per-request costs go for lean deployments, and only for them: the response metadata
LiteLLM computes for a stream wrapper the reader never returns (a prompt-cost estimate that counts
the messages' tokens), and the Router's per-response usage bookkeeping for deployments with no
tpm/rpm limit to keep (LiteLLM skips it too, but only after a deep copy of the model info).

And one thread hop goes for lean `openai/` deployments: `litellm.acompletion` runs its sync
`completion()` (parameters, the logging object; for such a provider it returns the coroutine that
sends the request, with no I/O of its own) in the event loop's default executor; the gateway's
executor runs exactly those calls at once, in the loop's thread (InlineCompletionSetup).

This is the only module that reaches into LiteLLM's internals (a Router hook, the wrapper's
source, the success counter, the metadata step, the executor hop); tests/test_litellm_reach.py
fails loudly if the pinned LiteLLM changes any of them.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import contextvars
import functools
import json
import time
from collections.abc import AsyncIterator, Callable, Collection
from typing import Any

import httpx
import litellm
import litellm.main
import litellm.utils
import openai
from litellm.litellm_core_utils import streaming_handler
from litellm.litellm_core_utils.exception_mapping_utils import exception_type
from litellm.litellm_core_utils.streaming_handler import CustomStreamWrapper
from litellm.llms.base_llm.base_model_iterator import BaseModelResponseIterator
from litellm.llms.openai.chat.gpt_transformation import OpenAIChatCompletionStreamingHandler
from litellm.router_utils.pre_call_checks.io_token_rate_limit_check import (
    deployment_has_io_token_limits,
)
from litellm.router_utils.router_callbacks.track_deployment_metrics import (
    increment_deployment_successes_for_current_minute,
)
from litellm.types.router import GenericLiteLLMParams

# Marks a lean deployment's model_info, which LiteLLM hands back in every call's kwargs.
LEAN_MARK = "gateway_reads_lean"
# Marks the lean deployments whose LiteLLM setup runs in the loop's thread (InlineCompletionSetup).
INLINE_MARK = "gateway_sets_up_inline"
# The provider whose sync setup in `completion()` is known to do no I/O for an async call.
INLINE_PROVIDERS = frozenset({"openai"})


class ProviderStreamError(Exception):
    """The provider sent an error object inside a 200 stream (vLLM and sglang do)."""

    def __init__(self, error: object) -> None:
        message = error.get("message") if isinstance(error, dict) else error
        super().__init__(str(message or "the provider reported an error in its stream"))
        self.body = error if isinstance(error, dict) else None


def provider_lines(wrapper: CustomStreamWrapper) -> AsyncIterator[str] | None:
    """The provider's SSE lines under `wrapper`, or None when its source is not a known shape.

    Exact types, not isinstance: a provider's subclass may fix up chunks in ways a plain
    OpenAI reading would miss, so it keeps the wrapper.
    """
    source = wrapper.completion_stream
    if type(source) is openai.AsyncStream:
        return sse_lines(source.response)
    if type(source) is OpenAIChatCompletionStreamingHandler:
        split_lines_as_sse(source)
        return source.streaming_response  # type: ignore[no-any-return]
    return None


def split_lines_as_sse(source: object) -> None:
    """Give LiteLLM's stream iterator lines split where SSE splits them, before it starts.

    Its handler hands the iterator httpx's `aiter_lines()`, which splits at every Unicode line
    break: a raw U+2028 inside a chunk's JSON cuts the chunk in two, and the iterator drops both
    halves as unreadable without a word. The same response's bytes, split by `sse_lines`,
    keep it whole. Called before anything reads the stream, on LiteLLM's reader too.
    """
    if not isinstance(source, BaseModelResponseIterator):
        return
    lines = source.streaming_response
    response = source.http_response
    if isinstance(response, httpx.Response) and _is_httpx_aiter_lines(lines):
        source.streaming_response = source.response_iterator = sse_lines(response)


def _is_httpx_aiter_lines(lines: object) -> bool:
    return getattr(lines, "__qualname__", None) == "Response.aiter_lines"


async def sse_lines(response: httpx.Response) -> AsyncIterator[str]:
    """The body's lines, split where SSE splits them (LF, CR, CRLF), in one generator.

    httpx's aiter_lines stacks a text decoder and a line decoder on aiter_bytes, a generator
    each per read, and splits at every Unicode line break (one inside a JSON string too). A CR
    and LF split across two reads make one blank line more, which a reader of `data:` lines
    never sees.
    """
    pending = b""
    async for data in response.aiter_bytes():
        lines = (pending + data).splitlines() if pending else data.splitlines()
        pending = b"" if data.endswith((b"\n", b"\r")) else lines.pop()
        for line in lines:
            yield line.decode("utf-8", "replace")
    if pending:
        yield pending.decode("utf-8", "replace")


class LeanStream:
    """One model call's chunks as dicts, straight from the provider's lines."""

    def __init__(
        self,
        wrapper: CustomStreamWrapper,
        lines: AsyncIterator[str],
        slot: contextlib.AsyncExitStack | None,
        on_success: Any,
    ) -> None:
        self._wrapper = wrapper
        self._lines = lines
        self._slot = slot
        self._on_success = on_success
        self._first: dict[str, Any] | None = None
        self._closed = False
        self.finished = False  # the provider sent [DONE]
        # Seconds spent waiting for (and parsing) chunks after the first: the provider's share
        # of the stream, for Server-Timing (gateway/observability/server_timing.py).
        self.read_seconds = 0.0
        # Read by the engine as it reads LiteLLM's streams (which deployment answered).
        self._hidden_params = getattr(wrapper, "_hidden_params", None) or {}

    async def start(self) -> None:
        """Read up to the first chunk: until then, a failure is still LiteLLM's to handle."""
        self._first = await self._next_chunk()

    def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        return self.chunks()

    async def chunks(self) -> AsyncIterator[dict[str, Any]]:
        try:
            chunk = self._first
            clock = time.perf_counter
            while chunk is not None:
                yield chunk
                started = clock()
                chunk = await self._next_chunk()
                self.read_seconds += clock() - started
        except ProviderStreamError:
            raise
        except Exception as exc:
            raise self.mapped(exc) from None
        if self.finished:
            self._on_success()

    async def _next_chunk(self) -> dict[str, Any] | None:
        async for line in self._lines:
            if not line.startswith("data:"):
                continue  # blank separators, comments, `event:` lines
            data = line[5:].strip()
            if data == "[DONE]":
                self.finished = True
                return None
            chunk = json.loads(data)
            if not isinstance(chunk, dict):
                continue
            error = chunk.get("error")
            if error:
                raise ProviderStreamError(error)
            return chunk
        return None

    def mapped(self, exc: BaseException) -> BaseException:
        """`exc` in LiteLLM's exception types, as its wrapper would have raised it."""
        if isinstance(exc, json.JSONDecodeError):
            return exc
        try:
            return exception_type(  # type: ignore[no-any-return]
                model=self._wrapper.model,
                custom_llm_provider=self._wrapper.custom_llm_provider,
                original_exception=exc,
            )
        except Exception as mapped:
            return mapped

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            await self._wrapper.aclose()  # closes the provider's HTTP response
        finally:
            if self._slot is not None:
                await self._slot.aclose()  # the deployment's max_parallel_requests slot


def _update_response_metadata_unless_lean(
    result: object,
    logging_obj: Any,
    model: str | None,
    kwargs: dict[str, Any],
    *args: Any,
    **rest: Any,
) -> None:
    """LiteLLM's response metadata step, cut to the deployment id for a lean stream's wrapper."""
    model_info = kwargs.get("model_info") or {}
    if isinstance(result, CustomStreamWrapper) and model_info.get(LEAN_MARK):
        # The reader reads only which deployment answered; its wrapper is never returned.
        result._hidden_params["model_id"] = model_info.get("id")
        return
    _litellm_update_response_metadata(result, logging_obj, model, kwargs, *args, **rest)


_litellm_update_response_metadata = litellm.utils.update_response_metadata
litellm.utils.update_response_metadata = _update_response_metadata_unless_lean


def _is_lean(litellm_params: object) -> bool:
    info = litellm_params.get("model_info") if isinstance(litellm_params, dict) else None
    return isinstance(info, dict) and info.get(LEAN_MARK) is True


class _LeanWrapperParams:
    """What a lean stream's wrapper reads of its litellm_params, without validating them all."""

    def __init__(self, params: dict[str, Any]) -> None:
        self.merge_reasoning_content_in_choices = params.get("merge_reasoning_content_in_choices")
        self.model_info = params.get("model_info")


class _WrapperParamsUnlessLean:
    """Stands in for GenericLiteLLMParams in the stream wrapper's module (its one use)."""

    @staticmethod
    def model_validate(params: dict[str, Any]) -> Any:
        if _is_lean(params):
            return _LeanWrapperParams(params)
        return GenericLiteLLMParams.model_validate(params)


def _api_base_unless_lean(model: str, optional_params: Any) -> str | None:
    """A lean stream's wrapper is never returned: nothing reads the api_base it would carry."""
    if _is_lean(optional_params):
        return None
    return _litellm_get_api_base(model=model, optional_params=optional_params)


_litellm_get_api_base = streaming_handler.get_api_base
streaming_handler.get_api_base = _api_base_unless_lean
streaming_handler.GenericLiteLLMParams = _WrapperParamsUnlessLean  # type: ignore[misc,assignment]


class InlineCompletionSetup(concurrent.futures.ThreadPoolExecutor):
    """The loop's default executor: LiteLLM's setup of an INLINE_MARK call runs at once, here.

    The hop to a worker thread and back (a queue, a wake-up, the GIL handed over twice, the
    loop woken from another thread) cost more than the setup itself. Everything else submitted
    runs in a worker thread, as with asyncio's own default executor.
    """

    def __init__(self) -> None:
        super().__init__(thread_name_prefix="asyncio")

    def submit(  # type: ignore[override]
        self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any
    ) -> concurrent.futures.Future[Any]:
        if not is_inline_setup(fn):
            return super().submit(fn, *args, **kwargs)
        done: concurrent.futures.Future[Any] = concurrent.futures.Future()
        try:
            done.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # as a worker thread would hand it back
            done.set_exception(exc)
        return done


def is_inline_setup(fn: object) -> bool:
    """Is `fn` what `litellm.acompletion` submits, `partial(ctx.run, partial(completion, ...))`,
    for a deployment marked INLINE_MARK?"""
    if type(fn) is not functools.partial or len(fn.args) != 1:
        return False
    if not isinstance(getattr(fn.func, "__self__", None), contextvars.Context):
        return False
    call = fn.args[0]
    if type(call) is not functools.partial or call.func is not litellm.main.completion:
        return False
    info = call.keywords.get("model_info")
    return isinstance(info, dict) and info.get(INLINE_MARK) is True


def use_inline_completion_setup(loop: asyncio.AbstractEventLoop) -> None:
    """Give `loop` the executor that runs lean `openai/` calls' LiteLLM setup in its thread."""
    loop.set_default_executor(InlineCompletionSetup())


def _provider_of(entry: dict[str, Any]) -> str:
    params = entry.get("litellm_params") or {}
    explicit = params.get("custom_llm_provider")
    return explicit if isinstance(explicit, str) else str(params.get("model", "")).split("/")[0]


class GatewayRouter(litellm.Router):
    """LiteLLM's Router, handing the engine a LeanStream for the deployments that read lean."""

    def __init__(self, *, lean_deployments: Collection[str] = (), **kwargs: Any) -> None:
        self.lean_deployments = frozenset(lean_deployments)
        for entry in kwargs.get("model_list") or ():
            info = entry.get("model_info") or {}
            if info.get("id") in self.lean_deployments:
                inline = _provider_of(entry) in INLINE_PROVIDERS
                entry["model_info"] = {**info, LEAN_MARK: True, INLINE_MARK: inline}
        super().__init__(**kwargs)
        self._keeps_usage: dict[tuple[str, str], bool] = {}

    async def _increment_deployment_usage(self, **kwargs: Any) -> str | None:  # type: ignore[override]
        """LiteLLM's usage bookkeeping, skipped at once where it would find no limit to keep."""
        key = (kwargs["deployment_id"], kwargs["model_group"])
        keeps = self._keeps_usage.get(key)
        if keeps is None:
            keeps = self._keeps_usage[key] = self._has_usage_limits(*key)
        if not keeps:
            return None
        return await super()._increment_deployment_usage(**kwargs)  # type: ignore[no-any-return]

    def _has_usage_limits(self, deployment_id: str, model_group: str) -> bool:
        """LiteLLM's own test in `_increment_deployment_usage`, done once per deployment."""
        deployment = self.get_deployment(model_id=deployment_id)
        if deployment is None:
            return True  # let LiteLLM decide
        model_info = self.get_router_model_info(
            deployment=deployment, received_model_name=model_group
        )
        limits = (
            deployment.get("tpm", None),
            deployment.get("rpm", None),
            deployment.litellm_params.tpm,
            deployment.litellm_params.rpm,
            model_info.get("tpm", None),
            model_info.get("rpm", None),
        )
        return any(limit is not None for limit in limits) or deployment_has_io_token_limits(
            deployment.model_dump()
        )

    async def _acompletion_streaming_iterator(  # type: ignore[override]
        self,
        model_response: CustomStreamWrapper,
        messages: list[dict[str, str]],
        initial_kwargs: dict[str, Any],
        deployment_slot: contextlib.AsyncExitStack | None = None,
    ) -> Any:
        deployment = (getattr(model_response, "_hidden_params", None) or {}).get("model_id")
        lines = provider_lines(model_response) if deployment in self.lean_deployments else None
        if lines is None:
            split_lines_as_sse(getattr(model_response, "completion_stream", None))
            return await super()._acompletion_streaming_iterator(
                model_response, messages, initial_kwargs, deployment_slot
            )

        def count_success() -> None:
            increment_deployment_successes_for_current_minute(self, str(deployment))

        stream = LeanStream(model_response, lines, deployment_slot, count_success)
        try:
            await stream.start()
        except BaseException as exc:
            await stream.aclose()
            raise stream.mapped(exc) from None
        return stream
