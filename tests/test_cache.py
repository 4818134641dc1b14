"""The response cache: hits never reach the upstream, replay in every protocol, and stay correct.

Every test asks a question of its own (`fresh_question`) so answers cached by one test, in the
session's shared Redis, can never satisfy another.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import redis

from gateway.cache import MemoryStore
from tests.support import tools_for_tests
from tests.support.ai_sdk import run_data_stream_client, run_ui_message_stream_client
from tests.support.configs import config_for, tool_config
from tests.support.fake_upstream import FakeToolCall, FakeUpstream, Fault, Reply
from tests.support.fake_weather import FakeWeather
from tests.support.gateways import Gateway
from tests.support.redis_server import RedisServer
from tests.support.wire import parse_lines, parse_sse, summary_of

# Every test here runs on both stream readers (tests/conftest.py, stream_reader).
pytestmark = pytest.mark.usefixtures("stream_reader")

KEY_A = "key-a-0123456789abcdef"
KEY_B = "key-b-fedcba9876543210"


def cached(config: dict[str, Any], **cache: Any) -> dict[str, Any]:
    options = config.setdefault("gateway", {})
    options["cache"] = {"ttl": 60, "models": ["chat-model"], **cache}
    return config


def fresh_question() -> list[dict[str, str]]:
    return [{"role": "user", "content": f"Suggest a title ({uuid.uuid4().hex[:8]})"}]


def post(gateway: Gateway, path: str = "/api/chat", **body: Any) -> httpx.Response:
    headers = body.pop("headers", None)
    payload = {"model": "chat-model", **body}
    return gateway.client.post(path, json=payload, headers=headers)


@pytest.fixture(params=["memory", "redis"])
def store(request: pytest.FixtureRequest, redis_server: RedisServer) -> dict[str, str]:
    """Gateway settings for each cache store: none (memory), or the session's Redis."""
    return {"redis_url": redis_server.url} if request.param == "redis" else {}


@pytest.fixture
def private_redis() -> Iterator[RedisServer]:
    server = RedisServer().start()
    yield server
    server.stop()


def test_a_repeated_question_is_answered_from_the_cache(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream, store: dict[str, str]
) -> None:
    gateway = start_gateway(cached(config_for(upstream)), **store)
    upstream.default = Reply(
        chunks=["Trip", " to", " Kyoto"], prompt_tokens=12, completion_tokens=3
    )
    question = fresh_question()

    miss = post(gateway, messages=question)
    hit = post(gateway, messages=question)

    assert miss.headers["x-cache"] == "miss" and hit.headers["x-cache"] == "hit"
    assert len(upstream.requests) == 1
    miss_parts, hit_parts = parse_lines(miss.text), parse_lines(hit.text)
    # The same parts, text delta for text delta; only the usage says where the answer came from.
    assert (
        hit_parts[:-1]
        == miss_parts[:-1]
        == [
            ("0", {"type": "text-delta", "textDelta": piece}) for piece in ["Trip", " to", " Kyoto"]
        ]
    )
    assert miss_parts[-1][1]["usage"] == {"promptTokens": 12, "completionTokens": 3}
    assert hit_parts[-1][1]["usage"] == {"promptTokens": 12, "completionTokens": 3, "cached": True}


def test_a_cached_answer_is_served_in_every_protocol(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream
) -> None:
    gateway = start_gateway(cached(config_for(upstream)))
    upstream.default = Reply(chunks=["Trip", " to", " Kyoto"])
    question = fresh_question()
    assert post(gateway, messages=question).headers["x-cache"] == "miss"

    for protocol in ["data-stream", "ui-message-stream"]:
        response = post(gateway, f"/api/chat?protocol={protocol}", messages=question)
        assert response.headers["x-cache"] == "hit"
        assert summary_of(protocol, response.text)["text"] == "Trip to Kyoto"
    answer = post(gateway, messages=question, stream=False)
    assert answer.headers["x-cache"] == "hit"
    assert answer.json()["text"] == "Trip to Kyoto" and answer.json()["usage"]["cached"] is True

    openai = post(gateway, "/v1/chat/completions", messages=question)
    assert openai.headers["x-cache"] == "hit"
    body = openai.json()
    assert body["choices"][0]["message"]["content"] == "Trip to Kyoto"
    assert body["usage"]["prompt_tokens_details"] == {"cached_tokens": 11}
    chunks = parse_sse(
        post(
            gateway,
            "/v1/chat/completions",
            messages=question,
            stream=True,
            stream_options={"include_usage": True},
        ).text
    )
    streamed = "".join(
        c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"]
    )
    assert streamed == "Trip to Kyoto"

    # The real AI SDK clients read the replayed streams as they read live ones.
    ai4 = run_data_stream_client(
        f"{gateway.url}/api/chat?protocol=data-stream",
        {"model": "chat-model", "messages": question},
    )
    assert ai4["thrown"] is None and not ai4["errors"]
    assert ai4["text"] == "Trip to Kyoto"
    ui_body = {
        "model": "chat-model",
        "messages": [{"id": "u1", "role": "user", "parts": [{"type": "text", "text": q["content"]}]}
                     for q in question],
    }  # fmt: skip
    ui = run_ui_message_stream_client(f"{gateway.url}/api/chat?protocol=ui-message-stream", ui_body)
    assert ui["thrown"] is None and not ui["errors"] and not ui["invalidChunks"]
    assert "".join(p["text"] for p in ui["message"]["parts"] if p["type"] == "text") == (
        "Trip to Kyoto"
    )
    assert len(upstream.requests) == 1


def test_a_cached_tool_call_still_runs_the_tool(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream, weather: FakeWeather
) -> None:
    gateway = start_gateway(cached(tool_config(upstream, weather), ttl=60))
    call = FakeToolCall("add", '{"a": 2, "b": 40}', id="call_cached_add", pieces=2)
    upstream.script(Reply(chunks=["Adding. "], tool_calls=[call]), Reply(chunks=["It is 42."]))
    question = fresh_question()
    before = tools_for_tests.CALLS["add"]

    first = post(gateway, messages=question)
    second = post(gateway, messages=question)

    assert second.headers["x-cache"] == "hit"
    assert len(upstream.requests) == 2  # both model calls of the first answer, none after
    assert tools_for_tests.CALLS["add"] == before + 2  # the tool ran for each request
    expected = {
        "text": "Adding. It is 42.",
        "calls": [("call_cached_add", "add", {"a": 2, "b": 40})],
        "results": [("call_cached_add", 42)],
    }
    assert summary_of("typed", first.text) == summary_of("typed", second.text) == expected


def test_a_non_streamed_answer_replays_as_a_stream(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream, weather: FakeWeather
) -> None:
    gateway = start_gateway(cached(tool_config(upstream, weather)))
    call = FakeToolCall("add", '{"a": 1, "b": 1}', id="call_ns", pieces=1)
    upstream.script(Reply(chunks=["On it."], tool_calls=[call]), Reply(chunks=["Two."]))
    question = fresh_question()
    assert post(gateway, messages=question, stream=False).json()["text"] == "On it.Two."

    response = post(gateway, "/api/chat?protocol=ui-message-stream", messages=question)

    assert response.headers["x-cache"] == "hit"
    kinds = [chunk["type"] for chunk in parse_sse(response.text)]
    # A stored non-streamed tool call still opens with its start, as the UI stream requires.
    assert kinds.index("tool-input-start") < kinds.index("tool-input-available")
    assert summary_of("ui-message-stream", response.text)["text"] == "On it.Two."
    assert len(upstream.requests) == 2


CHANGES: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "temperature": lambda body: {**body, "temperature": 0.9},
    "max_tokens": lambda body: {**body, "max_tokens": 50},
    "messages": lambda body: {**body, "messages": [*body["messages"], {"role": "user", "content": "?"}]},  # noqa: E501
    "tools": lambda body: {**body, "tools": ["add"]},
    "api key": lambda body: {**body, "headers": {"authorization": f"Bearer {KEY_B}"}},
}  # fmt: skip


@pytest.mark.parametrize("change", list(CHANGES))
def test_anything_that_changes_the_answer_misses(
    start_gateway: Callable[..., Gateway],
    upstream: FakeUpstream,
    weather: FakeWeather,
    change: str,
) -> None:
    gateway = start_gateway(cached(tool_config(upstream, weather)), api_keys=f"a:{KEY_A},b:{KEY_B}")
    body = {"messages": fresh_question(), "headers": {"authorization": f"Bearer {KEY_A}"}}
    assert post(gateway, **body).headers["x-cache"] == "miss"
    assert post(gateway, **body).headers["x-cache"] == "hit"  # the control

    changed = post(gateway, **CHANGES[change](body))

    assert changed.status_code == 200
    assert changed.headers["x-cache"] == "miss"
    assert len(upstream.requests) == 2


def test_shared_scope_serves_one_key_the_answer_of_another(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream
) -> None:
    gateway = start_gateway(
        cached(config_for(upstream), scope="shared"), api_keys=f"a:{KEY_A},b:{KEY_B}"
    )
    question = fresh_question()
    post(gateway, messages=question, headers={"authorization": f"Bearer {KEY_A}"})

    other = post(gateway, messages=question, headers={"authorization": f"Bearer {KEY_B}"})

    assert other.headers["x-cache"] == "hit" and len(upstream.requests) == 1


def test_swapping_the_model_in_the_yaml_never_serves_the_old_answers(
    start_gateway: Callable[..., Gateway],
    upstream: FakeUpstream,
    upstream_b: FakeUpstream,
    redis_server: RedisServer,
) -> None:
    question = fresh_question()
    before = start_gateway(cached(config_for(upstream)), redis_url=redis_server.url)
    assert post(before, messages=question).headers["x-cache"] == "miss"
    # Another process with the same YAML and Redis shares the answer: the control.
    same = start_gateway(cached(config_for(upstream)), redis_url=redis_server.url)
    assert post(same, messages=question).headers["x-cache"] == "hit"

    after = start_gateway(cached(config_for(upstream_b)), redis_url=redis_server.url)
    response = post(after, messages=question)

    assert response.headers["x-cache"] == "miss"
    assert summary_of("typed", response.text)["text"] == "Hello from upstream-b"
    assert len(upstream.requests) == 1 and len(upstream_b.requests) == 1


@pytest.mark.parametrize(
    "failure",
    [
        Reply(chunks=["a", "b", "c", "d"], cut_after=2),
        Reply(chunks=["a", "b", "c", "d"], end_after=3),
        Fault(500),
    ],
    ids=["cut stream", "stream ended without a finish", "upstream error"],
)
def test_a_failed_answer_is_not_cached(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream, failure: Reply | Fault
) -> None:
    gateway = start_gateway(cached(config_for(upstream)))
    upstream.script(failure)
    question = fresh_question()
    post(gateway, messages=question)

    again = post(gateway, messages=question)

    assert again.headers["x-cache"] == "miss"
    assert summary_of("typed", again.text)["text"] == "Hello from upstream-a"
    assert len(upstream.requests) == 2


def test_a_stream_the_client_abandoned_is_not_cached(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream
) -> None:
    gateway = start_gateway(cached(config_for(upstream)))
    upstream.script(Reply(chunks=["slow"] * 20, chunk_delay=0.1))
    question = fresh_question()
    with gateway.client.stream(
        "POST", "/api/chat", json={"model": "chat-model", "messages": question}
    ) as response:
        next(response.iter_lines())
    assert upstream.wait_for_disconnect()

    again = post(gateway, messages=question)

    assert again.headers["x-cache"] == "miss" and len(upstream.requests) == 2


def test_cache_control_no_cache_and_no_store(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream
) -> None:
    gateway = start_gateway(cached(config_for(upstream)))
    question = fresh_question()

    unstored = post(gateway, messages=question, headers={"cache-control": "no-store"})
    assert unstored.headers["x-cache"] == "miss"
    assert post(gateway, messages=question).headers["x-cache"] == "miss"  # nothing was kept
    assert post(gateway, messages=question).headers["x-cache"] == "hit"
    fresh = post(gateway, messages=question, headers={"cache-control": "no-cache"})
    assert fresh.headers["x-cache"] == "bypass"
    assert len(upstream.requests) == 3


def test_models_not_listed_are_not_cached(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream
) -> None:
    gateway = start_gateway(cached(config_for(upstream)))
    question = fresh_question()
    first = post(gateway, messages=question, model="title-model")
    second = post(gateway, messages=question, model="title-model")
    assert "x-cache" not in first.headers and "x-cache" not in second.headers
    assert len(upstream.requests) == 2


def test_answers_expire_after_the_ttl(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream, store: dict[str, str]
) -> None:
    gateway = start_gateway(cached(config_for(upstream), ttl=1), **store)
    question = fresh_question()
    post(gateway, messages=question)
    assert post(gateway, messages=question).headers["x-cache"] == "hit"

    time.sleep(1.2)

    assert post(gateway, messages=question).headers["x-cache"] == "miss"
    assert len(upstream.requests) == 2


def test_the_memory_store_keeps_within_its_bound(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream
) -> None:
    gateway = start_gateway(cached(config_for(upstream), max_entries=2))
    questions = [fresh_question() for _ in range(3)]
    for question in questions:
        post(gateway, messages=question)
    store = gateway.app.runtime.cache.store
    assert isinstance(store, MemoryStore) and len(store) == 2

    assert post(gateway, messages=questions[2]).headers["x-cache"] == "hit"
    assert post(gateway, messages=questions[0]).headers["x-cache"] == "miss"  # evicted


def test_memory_store_lru_and_expiry_with_a_clock() -> None:
    now = [0.0]
    store = MemoryStore(max_entries=2, now=lambda: now[0])

    async def scenario() -> None:
        await store.set("a", b"1", ttl_seconds=10)
        await store.set("b", b"2", ttl_seconds=10)
        assert await store.get("a") == b"1"  # "a" is now the most recently used
        await store.set("c", b"3", ttl_seconds=10)
        assert await store.get("b") is None and await store.get("a") == b"1"
        now[0] = 10.0
        assert await store.get("a") is None and len(store) == 1

    asyncio.run(scenario())


def test_with_redis_down_requests_succeed_as_bypass_and_caching_recovers(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream, private_redis: RedisServer
) -> None:
    gateway = start_gateway(cached(config_for(upstream)), redis_url=private_redis.url)
    question = fresh_question()
    assert post(gateway, messages=question).headers["x-cache"] == "miss"
    private_redis.stop()

    down = [post(gateway, messages=question) for _ in range(2)]

    assert [r.status_code for r in down] == [200, 200]
    assert [r.headers["x-cache"] for r in down] == ["bypass", "bypass"]
    assert all(summary_of("typed", r.text)["text"] == "Hello from upstream-a" for r in down)
    private_redis.start()
    deadline = time.monotonic() + 10
    while post(gateway, messages=question).headers["x-cache"] == "bypass":
        assert time.monotonic() < deadline, "the cache never came back after Redis did"
        time.sleep(0.2)
    assert post(gateway, messages=question).headers["x-cache"] == "hit"


def test_a_redis_that_stops_answering_times_out_into_a_bypass(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream, private_redis: RedisServer
) -> None:
    gateway = start_gateway(cached(config_for(upstream)), redis_url=private_redis.url)
    question = fresh_question()
    assert post(gateway, messages=question).headers["x-cache"] == "miss"
    redis.Redis.from_url(private_redis.url).execute_command("CLIENT", "PAUSE", "3000")

    stalled = post(gateway, messages=question)

    assert stalled.status_code == 200 and stalled.headers["x-cache"] == "bypass"
    assert summary_of("typed", stalled.text)["text"] == "Hello from upstream-a"


def test_answers_from_the_cache_spend_no_token_budget(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream
) -> None:
    config = cached(config_for(upstream))
    config["gateway"]["rate_limit"] = {"tokens_per_minute": 20}
    gateway = start_gateway(config)
    question = fresh_question()  # each answer reports 11 + 7 = 18 tokens

    statuses = [post(gateway, messages=question).status_code for _ in range(3)]

    assert statuses == [200, 200, 200]
    assert post(gateway, messages=fresh_question()).status_code == 200  # 18 of 20 spent
    assert post(gateway, messages=fresh_question()).status_code == 429


@pytest.mark.parametrize(
    ("cache", "message"),
    [
        ({"models": ["chat-model"]}, "gateway.cache: ttl is required"),
        ({"ttl": 60, "models": ["nope"]}, "gateway.cache.models[0]: unknown model ID"),
        ({"ttl": 60, "models": ["chat-model"], "scope": "global"}, "gateway.cache.scope"),
    ],
)
def test_cache_settings_are_validated(
    upstream: FakeUpstream, tmp_path: Any, cache: dict[str, Any], message: str
) -> None:
    from gateway.catalog import GATEWAY_CATALOG
    from gateway.config import ConfigError, load_config

    path = tmp_path / "c.yaml"
    path.write_text(json.dumps({**config_for(upstream), "gateway": {"cache": cache}}))
    with pytest.raises(ConfigError) as caught:
        load_config(path, GATEWAY_CATALOG)
    assert message in str(caught.value)


def test_a_cached_answer_replays_into_every_door(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream
) -> None:
    gateway = start_gateway(cached(config_for(upstream)))
    said = [{"role": "user", "content": "the same question"}]
    first = gateway.client.post(
        "/api/chat", json={"model": "chat-model", "messages": said, "max_tokens": 64}
    )
    assert first.headers["x-cache"] == "miss"
    doors = {
        "/v1/chat/completions": {"model": "chat-model", "messages": said, "max_tokens": 64},
        "/v1/responses": {"model": "chat-model", "input": said, "max_output_tokens": 64},
        "/v1/messages": {"model": "chat-model", "messages": said, "max_tokens": 64},
    }
    for path, body in doors.items():
        for stream in (False, True):
            response = gateway.client.post(path, json={**body, "stream": stream})
            assert response.status_code == 200, (path, response.text)
            assert response.headers["x-cache"] == "hit", (path, stream)
            assert "Hello from upstream-a" in response.text.replace('"', "")
    assert len(upstream.requests) == 1
