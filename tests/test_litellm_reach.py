"""The lean reader's reach into LiteLLM: fails loudly if the pinned LiteLLM changes shape, and
shows which reader each deployment gets."""

from __future__ import annotations

import asyncio
import inspect
import logging
import re
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Required

import httpx
import litellm
import openai
import pytest
from litellm.litellm_core_utils.streaming_handler import CustomStreamWrapper
from litellm.llms.base_llm.base_model_iterator import BaseModelResponseIterator
from litellm.llms.openai.chat.gpt_transformation import OpenAIChatCompletionStreamingHandler
from openai._utils._transform import PropertyInfo
from typing_extensions import TypedDict

from gateway.upstream.litellm_reach import GatewayRouter
from tests.support.configs import config_for, model_entry
from tests.support.fake_upstream import FakeUpstream
from tests.support.gateways import Gateway


def test_the_router_hook_the_lean_reader_overrides_is_still_there() -> None:
    hook = litellm.Router._acompletion_streaming_iterator
    assert list(inspect.signature(hook).parameters) == [
        "self",
        "model_response",
        "messages",
        "initial_kwargs",
        "deployment_slot",
    ]
    assert "_acompletion_streaming_iterator" in GatewayRouter.__dict__
    # The Router calls the hook only from inside its own call (where retries, fallbacks and
    # cooldowns see what the hook raises).
    source = inspect.getsource(litellm.Router._acompletion)
    assert "self._acompletion_streaming_iterator(" in source


def test_the_wrapper_sources_the_lean_reader_reads_still_have_their_shape() -> None:
    assert "completion_stream" in inspect.signature(CustomStreamWrapper.__init__).parameters
    assert inspect.iscoroutinefunction(CustomStreamWrapper.aclose)
    assert "response" in inspect.signature(openai.AsyncStream.__init__).parameters
    assert issubclass(OpenAIChatCompletionStreamingHandler, BaseModelResponseIterator)
    iterator = OpenAIChatCompletionStreamingHandler(streaming_response=iter(()), sync_stream=False)
    assert iterator.streaming_response is not None
    assert inspect.iscoroutinefunction(BaseModelResponseIterator.aclose)


@pytest.mark.parametrize(
    ("provider", "entry_reader", "expected"),
    [
        ("openai", None, "lean"),
        ("hosted_vllm", None, "lean"),
        ("openai", "litellm", "litellm"),
    ],
)
def test_each_request_says_which_reader_read_its_stream(
    start_gateway: Callable[..., Gateway],
    upstream: FakeUpstream,
    caplog: pytest.LogCaptureFixture,
    provider: str,
    entry_reader: str | None,
    expected: str,
) -> None:
    entry = model_entry("chat-model", upstream, model=f"{provider}/fake-model")
    if entry_reader:
        entry["stream_reader"] = entry_reader
    config = config_for(upstream)
    config["model_list"] = [entry]
    gateway = start_gateway(config)
    caplog.set_level(logging.INFO, logger="gateway.request")
    response = gateway.chat()
    assert response.status_code == 200
    assert "Hello from upstream-a" in response.text
    (line,) = [r.fields for r in caplog.records if r.name == "gateway.request"]  # type: ignore[attr-defined]
    assert line["reader"] == expected


def test_check_config_and_readiness_say_which_reader_each_deployment_gets(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream
) -> None:
    import subprocess
    import sys

    config = config_for(upstream)
    config["model_list"].append(
        {"model_name": "claude", "litellm_params": {"model": "anthropic/claude-x", "api_key": "k"}}
    )
    config["model_list"][1]["stream_reader"] = "litellm"
    gateway = start_gateway(config)
    readers = gateway.client.get("/health/ready").json()["config"]["stream_readers"]
    assert readers == {
        "chat-model#0": "lean: OpenAI-shaped provider",
        "title-model#1": "litellm: set by its entry",
        "claude#2": "litellm: provider 'anthropic' does not stream OpenAI chunks",
    }
    checked = subprocess.run(
        [sys.executable, "-m", "gateway", "check-config", str(gateway.config_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert "chat-model#0 streams read by: lean (OpenAI-shaped provider)" in checked.stdout
    assert "title-model#1 streams read by: litellm (set by its entry)" in checked.stdout


def test_the_yaml_turns_the_lean_reader_off_for_every_deployment(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream, caplog: pytest.LogCaptureFixture
) -> None:
    config = config_for(upstream, gateway={"stream_reader": "litellm"})
    gateway = start_gateway(config)
    caplog.set_level(logging.INFO, logger="gateway.request")
    assert gateway.chat().status_code == 200
    (line,) = [r.fields for r in caplog.records if r.name == "gateway.request"]  # type: ignore[attr-defined]
    assert line["reader"] == "litellm"


def test_the_metadata_step_and_usage_bookkeeping_the_reader_trims_still_have_their_shape() -> None:
    import litellm.utils
    from litellm.litellm_core_utils.llm_response_utils import response_metadata

    from gateway.upstream import litellm_reach

    # LiteLLM looks the metadata step up on its utils module at call time, so replacing it there
    # reaches every completion call.
    assert (
        litellm.utils.update_response_metadata
        is litellm_reach._update_response_metadata_unless_lean
    )
    assert "litellm_utils.update_response_metadata" in inspect.getsource(litellm.utils.client)
    original = inspect.signature(response_metadata.update_response_metadata).parameters
    assert list(original)[:4] == ["result", "logging_obj", "model", "kwargs"]
    # The Router passes a deployment's model_info on as the call's own.
    assert 'kwargs["model_info"] = model_info' in inspect.getsource(
        litellm.Router._update_kwargs_with_deployment
    )
    usage = inspect.getsource(litellm.Router._increment_deployment_usage)
    assert "configured_limits" in usage and "deployment_has_io_token_limits" in usage
    assert {"deployment_id", "model_group"} <= set(
        inspect.signature(litellm.Router._increment_deployment_usage).parameters
    )


async def _stream_once(router: GatewayRouter) -> str:
    response = await router.acompletion(
        model="chat-model", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    text = ""
    async for chunk in response:
        delta = chunk["choices"][0]["delta"] if chunk.get("choices") else {}
        text += delta.get("content") or ""
    await response.aclose()
    return text


def _router(upstream: FakeUpstream, **limits: int) -> GatewayRouter:
    entry = model_entry("chat-model", upstream, model="openai/fake-model")
    entry["litellm_params"].update(limits)
    entry["model_info"] = {"id": "chat-model#0"}
    return GatewayRouter(lean_deployments={"chat-model#0"}, model_list=[entry])


def test_a_lean_stream_skips_the_cost_estimate_but_still_says_which_deployment_answered(
    upstream: FakeUpstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    from litellm.litellm_core_utils.litellm_logging import Logging

    priced: list[object] = []
    original = Logging.response_cost_calculator

    def spy(self: Logging, *args: object, **kwargs: object) -> object:
        priced.append(kwargs.get("result"))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Logging, "response_cost_calculator", spy)

    async def scenario() -> None:
        router = _router(upstream)
        assert "Hello from upstream-a" in await _stream_once(router)
        assert priced == []

        response = await router.acompletion(
            model="chat-model", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        assert response._hidden_params["model_id"] == "chat-model#0"
        await response.aclose()

        wrapped = GatewayRouter(lean_deployments=(), model_list=_router(upstream).model_list)
        assert "Hello from upstream-a" in await _stream_once(wrapped)
        assert priced, "a wrapper-read stream keeps LiteLLM's full metadata step"

    asyncio.run(scenario())


def test_usage_bookkeeping_runs_exactly_where_a_deployment_has_a_limit_to_keep(
    upstream: FakeUpstream,
) -> None:
    from litellm.types.router import RouterCacheEnum

    async def counted_requests(router: GatewayRouter) -> int | None:
        await _stream_once(router)
        key = RouterCacheEnum.RPM.value.format(
            id="chat-model#0",
            current_minute=litellm.utils.get_utc_datetime().strftime("%H-%M"),
            model="openai/fake-model",
        )
        return await router.cache.async_get_cache(key, local_only=True)  # type: ignore[no-any-return]

    assert asyncio.run(counted_requests(_router(upstream, rpm=1000))) == 1
    assert asyncio.run(counted_requests(_router(upstream))) is None


class _Aliased(TypedDict, total=False):
    card_id: Required[Annotated[str, PropertyInfo(alias="cardID")]]


class _Dated(TypedDict, total=False):
    when: Annotated[str, PropertyInfo(format="iso8601")]


class _Outer(TypedDict, total=False):
    items: list[str | _Aliased]
    nested: dict[str, _Dated]


class _Plain(TypedDict, total=False):
    items: list[str | dict[str, int]]
    note: Annotated[str, PropertyInfo(discriminator="type")]


_CHAT_BODIES: list[dict[str, object]] = [
    {"messages": [{"role": "user", "content": "hi"}], "model": "m", "stream": True},
    {
        "messages": [
            {"role": "system", "content": "be brief"},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "what is this?"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
                    {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}},
                ],
            },
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "weather", "arguments": '{"city": "Oslo"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
        ],
        "model": "m",
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "weather",
                    "description": "the weather",
                    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
                },
            }
        ],
        "tool_choice": {"type": "function", "function": {"name": "weather"}},
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "answer", "schema": {"type": "object"}, "strict": True},
        },
        "stream_options": {"include_usage": True},
        "stop": ["\n\n", "END"],
        "logit_bias": {"50256": -100},
        "metadata": {"who": "test"},
        "temperature": 0.2,
        "max_tokens": 10,
        "n": 1,
        "seed": 7,
        "user": "u",
        "parallel_tool_calls": False,
        "stream": False,
        "extra_unknown": {"kept": [1, 2.5, None, True]},
    },
]


@pytest.mark.parametrize("body", _CHAT_BODIES)
def test_the_chat_body_transform_gives_what_the_sdks_own_gives(body: dict[str, object]) -> None:
    from openai import NOT_GIVEN, omit
    from openai.types.chat import completion_create_params

    from gateway.upstream import openai_body

    expected_type = completion_create_params.CompletionCreateParamsStreaming
    data = {**body, "audio": NOT_GIVEN, "functions": omit, "top_p": omit}

    async def both() -> tuple[object, object]:
        sdk = await openai_body._sdk_transform(data, expected_type)
        return sdk, await openai_body.transform_chat_body(data, expected_type)

    sdk, ours = asyncio.run(both())
    assert ours == sdk == body


def test_the_chat_body_transform_leaves_anything_not_plain_json_to_the_sdk() -> None:
    import pydantic
    from openai.types.chat import completion_create_params

    from gateway.upstream import openai_body

    class Part(pydantic.BaseModel):
        type: str = "text"
        text: str = "hi"

    expected_type = completion_create_params.CompletionCreateParamsNonStreaming
    data = {"model": "m", "messages": [{"role": "user", "content": [Part()]}], "stop": ("a",)}
    sdk = asyncio.run(openai_body._sdk_transform(data, expected_type))
    assert sdk == {"model": "m", "messages": [{"role": "user", "content": [{}]}], "stop": ["a"]}
    assert asyncio.run(openai_body.transform_chat_body(data, expected_type)) == sdk
    assert not openai_body.is_plain_json(("a",))
    assert not openai_body.is_plain_json({"a": [Part()]})
    assert not openai_body.is_plain_json({1: "x"})


def test_the_chat_body_transform_still_stands_in_for_the_sdks_and_has_nothing_to_rename() -> None:
    import openai.resources.chat.completions.completions as chat_completions

    from gateway.upstream import openai_body

    # The SDK's create looks the transform up in its module at call time, for both param types.
    source = inspect.getsource(chat_completions.AsyncCompletions.create)
    assert "await async_maybe_transform(" in source
    assert "CompletionCreateParamsStreaming" in source
    assert "CompletionCreateParamsNonStreaming" in source
    assert chat_completions.async_maybe_transform is openai_body.transform_chat_body
    # The pinned SDK's chat params rename and format nothing; the check would see it if they did.
    assert openai_body._CHAT_BODY_IS_PLAIN
    assert openai_body.transform_changes_keys_or_values(_Outer)
    assert openai_body.transform_changes_keys_or_values(_Dated)
    assert not openai_body.transform_changes_keys_or_values(_Plain)


def _lines_of(reads: list[bytes], headers: dict[str, str] | None = None) -> list[str]:
    import httpx

    from gateway.upstream.litellm_reach import sse_lines

    async def body() -> AsyncIterator[bytes]:
        for read in reads:
            yield read

    async def scenario() -> list[str]:
        response = httpx.Response(200, headers=headers, content=body())
        return [line async for line in sse_lines(response)]

    return asyncio.run(scenario())


def test_the_lean_reader_splits_the_body_where_sse_splits_lines() -> None:
    event = 'data: {"text": "a\u2028b é"}'
    whole = f"{event}\n\n: comment\r\ndata: [DONE]\r\n\r\n".encode()
    expected = [event, "", ": comment", "data: [DONE]", ""]
    assert _lines_of([whole]) == expected
    # However the reads fall: lines across reads, a multi-byte character across reads, a CRLF
    # split in two (one blank line more, which a reader of `data:` lines skips).
    for cut in range(1, len(whole)):
        lines = _lines_of([whole[:cut], whole[cut:]])
        assert [line for line in lines if line] == [line for line in expected if line]
    assert _lines_of([b"data: 1\ndata: 2"]) == ["data: 1", "data: 2"]  # no final newline
    assert _lines_of([b"data: \xff\n"]) == ["data: \ufffd"]


def test_the_lean_reader_reads_a_compressed_body_decompressed() -> None:
    import gzip

    packed = gzip.compress(b"data: {}\n\ndata: [DONE]\n\n")
    reads = [packed[:7], packed[7:]]
    assert _lines_of(reads, {"content-encoding": "gzip"}) == ["data: {}", "", "data: [DONE]", ""]


def test_litellm_still_hands_its_sync_setup_to_the_default_executor_as_expected() -> None:
    import litellm.main

    source = inspect.getsource(litellm.main.acompletion)
    assert "func: Final = partial(completion, **completion_kwargs, **kwargs)" in source
    assert "func_with_context: Final = partial(ctx.run, func)" in source
    assert "await loop.run_in_executor(None, func_with_context)" in source
    # For an async openai/ stream, completion() hands back the coroutine that sends the request.
    handler = inspect.getsource(litellm.llms.openai.openai.OpenAIChatCompletion.completion)
    assert "if acompletion is True:" in handler and "return self.async_streaming(" in handler
    # And on LiteLLM's own HTTP handler, the route openai/ calls take (openai_route.py): the
    # transport client is only fetched inside the coroutine handed back.
    from litellm.llms.custom_httpx.llm_http_handler import BaseLLMHTTPHandler

    base = inspect.getsource(BaseLLMHTTPHandler.completion)
    assert "return dispatch_async(data, signed_headers, signed_json_body)" in base
    assert "get_async_httpx_client" not in base


def _setup_threads(
    upstream: FakeUpstream, monkeypatch: pytest.MonkeyPatch, model: str, lean: bool
) -> tuple[set[str], str]:
    """The threads LiteLLM's completion() ran in for one streamed call, and the loop's thread."""
    import threading

    import litellm.main

    from gateway.upstream.litellm_reach import use_inline_completion_setup

    threads: set[str] = set()
    completion = litellm.main.completion

    def spy(*args: object, **kwargs: object) -> object:
        threads.add(threading.current_thread().name)
        return completion(*args, **kwargs)

    monkeypatch.setattr(litellm.main, "completion", spy)
    entry = model_entry("chat-model", upstream, model=model)
    entry["model_info"] = {"id": "chat-model#0"}
    router = GatewayRouter(lean_deployments={"chat-model#0"} if lean else (), model_list=[entry])

    async def scenario() -> None:
        use_inline_completion_setup(asyncio.get_running_loop())
        assert "Hello from upstream-a" in await _stream_once(router)
        # Other work given to the default executor still runs in a worker thread.
        worker = await asyncio.to_thread(lambda: threading.current_thread().name)
        assert worker != threading.current_thread().name

    asyncio.run(scenario())
    return threads, threading.current_thread().name


def test_a_lean_openai_call_runs_its_litellm_setup_in_the_loops_thread(
    upstream: FakeUpstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads, loop_thread = _setup_threads(upstream, monkeypatch, "openai/fake-model", lean=True)
    assert threads == {loop_thread}


@pytest.mark.parametrize(
    ("model", "lean"), [("openai/fake-model", False), ("hosted_vllm/fake-model", True)]
)
def test_other_calls_keep_their_litellm_setup_in_a_worker_thread(
    upstream: FakeUpstream, monkeypatch: pytest.MonkeyPatch, model: str, lean: bool
) -> None:
    threads, loop_thread = _setup_threads(upstream, monkeypatch, model, lean=lean)
    assert len(threads) == 1 and loop_thread not in threads


def test_a_failing_setup_run_inline_raises_what_litellm_raises(
    upstream: FakeUpstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    import litellm.main

    from gateway.upstream.litellm_reach import use_inline_completion_setup

    def refusing(*args: object, **kwargs: object) -> object:
        raise ValueError("setup refused")

    monkeypatch.setattr(litellm.main, "completion", refusing)
    entry = model_entry("chat-model", upstream, model="openai/fake-model")
    entry["model_info"] = {"id": "chat-model#0"}
    router = GatewayRouter(lean_deployments={"chat-model#0"}, model_list=[entry], num_retries=0)

    async def scenario() -> None:
        use_inline_completion_setup(asyncio.get_running_loop())
        with pytest.raises(litellm.APIConnectionError, match="setup refused"):
            await _stream_once(router)

    asyncio.run(scenario())


def test_the_stream_wrapper_steps_the_reader_trims_still_have_their_shape() -> None:
    import re

    from litellm.litellm_core_utils import streaming_handler

    from gateway.upstream import litellm_reach

    module = inspect.getsource(streaming_handler)
    init = inspect.getsource(CustomStreamWrapper.__init__)
    # Each name has exactly one use, in the wrapper's __init__, looked up in the module.
    assert module.count("GenericLiteLLMParams.model_validate(") == 1
    assert init.count("GenericLiteLLMParams.model_validate(") == 1
    assert len(re.findall(r"\bget_api_base\(", module)) == 1
    assert "_api_base: Final = get_api_base(" in init
    assert set(re.findall(r"\blitellm_params\.(\w+)", init)) == {
        "merge_reasoning_content_in_choices",
        "model_info",
    }
    assert streaming_handler.get_api_base is litellm_reach._api_base_unless_lean
    assert streaming_handler.GenericLiteLLMParams is litellm_reach._WrapperParamsUnlessLean


def test_a_lean_streams_wrapper_skips_its_api_base_and_a_wrapper_read_one_keeps_it(
    upstream: FakeUpstream,
) -> None:
    async def hidden(router: GatewayRouter) -> dict[str, object]:
        response = await router.acompletion(
            model="chat-model", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        await response.aclose()
        return dict(response._hidden_params)

    lean = asyncio.run(hidden(_router(upstream)))
    assert lean["model_id"] == "chat-model#0" and lean["api_base"] is None
    entry = model_entry("chat-model", upstream, model="openai/fake-model")
    entry["model_info"] = {"id": "chat-model#0"}
    kept = asyncio.run(hidden(GatewayRouter(lean_deployments=(), model_list=[entry])))
    assert kept["model_id"] == "chat-model#0"
    assert kept["api_base"] == upstream.base_url


def test_the_cookie_step_the_gateway_trims_still_has_its_shape() -> None:
    import http.cookiejar

    import httpx

    from gateway.upstream import httpx_cookies

    assert httpx.Cookies.extract_cookies is httpx_cookies.extract_cookies_if_set
    assert "self.cookies.extract_cookies(response)" in inspect.getsource(
        httpx.AsyncClient._send_single_request
    )
    # The jar reads nothing of a response but these two headers.
    make = inspect.getsource(http.cookiejar.CookieJar.make_cookies)
    assert set(re.findall(r'get_all\("([\w-]+)"', make)) == {"Set-Cookie2", "Set-Cookie"}


def test_cookies_a_provider_sets_are_still_kept_and_sent_back() -> None:
    import httpx

    seen: list[str | None] = []

    def provider(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("cookie"))
        if request.url.path == "/set":
            return httpx.Response(200, headers={"set-cookie": "affinity=b2; Path=/"})
        return httpx.Response(200)

    async def scenario() -> None:
        transport = httpx.MockTransport(provider)
        async with httpx.AsyncClient(transport=transport, base_url="http://up.test") as client:
            await client.get("/plain")
            assert not client.cookies
            await client.get("/set")
            await client.get("/plain")
            assert client.cookies.get("affinity") == "b2"

    asyncio.run(scenario())
    assert seen == [None, None, "affinity=b2"]


def test_litellms_handler_still_hands_its_iterator_httpx_lines_and_the_response() -> None:
    # split_lines_as_sse replaces exactly this generator, and needs the response beside it.
    from litellm.llms.custom_httpx.llm_http_handler import BaseLLMHTTPHandler

    source = inspect.getsource(BaseLLMHTTPHandler.make_async_call_stream_helper)
    assert "streaming_response=response.aiter_lines()" in source
    assert "completion_stream.http_response = response" in source
    lines = httpx.Response(200, content=b"").aiter_lines()
    assert lines.__qualname__ == "Response.aiter_lines"
    # And the openai/ route the gateway picks is still read from this variable, per call.
    assert 'get_secret_bool("EXPERIMENTAL_OPENAI_BASE_LLM_HTTP_HANDLER")' in inspect.getsource(
        litellm.main
    )
