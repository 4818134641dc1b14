"""REDIS_URL as Redis Cluster and Redis Sentinel: rate limits, spend budgets, the response cache
and chats work on both, through one served gateway and across two gateway processes sharing the
Redis; and a Sentinel failover under 20 concurrent streams costs no 500 and cuts no stream."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
import yaml
from redis.cluster import RedisCluster

from gateway.chats.store import Chat, RedisChatStore
from gateway.redis_client import topology
from tests.support.fake_upstream import FakeUpstream, Reply
from tests.support.gateways import Gateway
from tests.support.processes import serve_config
from tests.support.redis_server import RedisClusterServers, RedisSentinels
from tests.support.redis_topology import everything, post, send_to_chat
from tests.support.wire import parse_lines

# The failover's load: this many streams at once, each a chunk every CHUNK_DELAY seconds
# (WORDS chunks: ~2 s a stream), so streams are in flight while the master dies.
STREAMS = 20
WORDS = [f"w{i} " for i in range(20)]
CHUNK_DELAY = 0.1


@pytest.fixture(scope="module")
def cluster() -> Iterator[RedisClusterServers]:
    servers = RedisClusterServers(masters=3).start()
    yield servers
    servers.stop()


@pytest.fixture(scope="module")
def sentinels() -> Iterator[RedisSentinels]:
    servers = RedisSentinels(sentinels=3).start()
    yield servers
    servers.stop()


@pytest.fixture
def sentinels_to_kill() -> Iterator[RedisSentinels]:
    """A Sentinel setup of the failover test's own: it kills the master, so no other test
    (whatever the order they run in) may share it."""
    servers = RedisSentinels(sentinels=3).start()
    yield servers
    servers.stop()


@pytest.fixture(params=["cluster", "sentinel"])
def redis_url(request: pytest.FixtureRequest) -> str:
    servers = request.getfixturevalue("cluster" if request.param == "cluster" else "sentinels")
    return str(servers.url)


def fresh_key() -> tuple[str, dict[str, str]]:
    """api_keys for a tenant of this test's own (counts in Redis outlive a test)."""
    tenant, key = f"t{uuid.uuid4().hex[:8]}", f"sk-{uuid.uuid4().hex}"
    return f"{tenant}:{key}", {"authorization": f"Bearer {key}"}


def chat_by_id(client: httpx.Client, headers: dict[str, str], chat_id: str, text: str) -> None:
    answer = send_to_chat(client, headers, chat_id, text)
    assert answer.status_code == 200, answer.text


def stored_roles(client: httpx.Client, headers: dict[str, str], chat_id: str) -> list[str]:
    stored = client.get(f"/api/chat/{chat_id}/messages", headers=headers)
    assert stored.status_code == 200, stored.text
    return [m["role"] for m in stored.json()["messages"]]


def ready(client: httpx.Client) -> dict[str, Any]:
    return dict(client.get("/health/ready").json())


def line_text(body: str) -> str:
    """The text of a line-format stream (/api/chat's default protocol)."""
    return "".join(part["textDelta"] for code, part in parse_lines(body) if code == "0")


def assert_on_redis(client: httpx.Client) -> None:
    report = ready(client)
    assert report["redis"] == "ok" and report["rate_limit_store"] == "redis", report


def test_the_chat_store_works_on_the_topology(redis_url: str) -> None:
    """WATCH transactions, the event log (XADD/XREAD), flags and stop pub/sub, directly."""

    async def scenario() -> None:
        store = RedisChatStore(redis_url, timeout_seconds=2.0)
        chat_id = uuid.uuid4().hex
        try:

            async def append(n: int) -> None:
                def edit(chat: Chat | None) -> Chat:
                    return Chat("owner", [*(chat.messages if chat else []), {"n": n}])

                await store.change(chat_id, edit, ttl=60)

            await asyncio.gather(*(append(n) for n in range(4)))  # contended: WATCH retries
            chat = await store.load(chat_id)
            assert chat is not None and sorted(m["n"] for m in chat.messages) == [0, 1, 2, 3]

            await store.append_events(chat_id, "s1", ["a", "b"], ttl=60)
            cursor, lines = await store.read_events(chat_id, "s1", "0", wait=0.1)
            assert lines == ["a", "b"]
            assert await store.read_events(chat_id, "s1", cursor, wait=0.1) == (cursor, [])

            await store.set_flag(chat_id, "alive", ttl=5)
            assert await store.has_flag(chat_id, "alive")
            assert not await store.has_flag(chat_id, "stop")

            heard: list[str] = []

            async def listen() -> None:
                async for stream_id in store.stop_requests():
                    heard.append(stream_id)
                    return

            listener = asyncio.create_task(listen())
            deadline = time.monotonic() + 5
            while not heard and time.monotonic() < deadline:  # until subscribed and heard
                await store.publish_stop("s1")
                await asyncio.sleep(0.1)
            await asyncio.wait_for(listener, 1)
            assert heard == ["s1"]
        finally:
            await store.aclose()

    asyncio.run(scenario())


def test_limits_cache_and_chats_through_the_gateway(
    redis_url: str, start_gateway: Callable[..., Gateway], upstream: FakeUpstream
) -> None:
    api_keys, headers = fresh_key()
    client = start_gateway(everything(upstream), redis_url=redis_url, api_keys=api_keys).client
    assert_on_redis(client)

    # The rate limit: 2/minute on title-model, the third is a 429.
    statuses = [post(client, headers, "title-model", f"title {n}").status_code for n in range(3)]
    assert statuses == [200, 200, 429]

    # The response cache: the same question again is a hit, and the upstream is asked once.
    question = f"cache me {uuid.uuid4().hex}"
    calls = len(upstream.requests)
    miss, hit = (post(client, headers, "chat-model", question) for _ in range(2))
    assert miss.headers["x-cache"] == "miss" and hit.headers["x-cache"] == "hit"
    assert len(upstream.requests) == calls + 1

    # A chat by id keeps its history, in this topology's Redis.
    chat_id = f"chat-{uuid.uuid4().hex[:8]}"
    chat_by_id(client, headers, chat_id, "hi")
    chat_by_id(client, headers, chat_id, "and?")
    assert stored_roles(client, headers, chat_id) == ["user", "assistant", "user", "assistant"]
    assert _exists(redis_url, f"gateway:chat:{{{chat_id}}}")
    assert ready(client)["degraded"] == []


@pytest.fixture
def two_gateways(
    redis_url: str,
    upstream: FakeUpstream,
    start_gateway: Callable[..., Gateway],
    tmp_path: Path,
) -> Iterator[tuple[httpx.Client, httpx.Client, dict[str, str], dict[str, str]]]:
    """Two gateway processes sharing nothing but REDIS_URL (and the upstream): A, a `gateway
    serve` child process; B, the gateway app served in this test process (one child process
    less to start: importing LiteLLM takes seconds). A client on each, and the headers of two
    keys both know: one without a spend budget, one with room for a single chat-model answer."""
    api_keys, headers = fresh_key()
    budgeted_keys, budgeted = fresh_key()
    keys_file = tmp_path / "keys.yaml"
    keys_file.write_text(
        yaml.safe_dump(
            [
                {"name": name, "key": key, **extra}
                for (name, key), extra in (
                    (api_keys.split(":", 1), {}),
                    (budgeted_keys.split(":", 1), {"max_budget": 0.02, "budget_duration": "1d"}),
                )
            ]
        )
    )
    config = everything(upstream)
    # $0.025 an answer (11 prompt, 7 completion tokens): one uses up the budgeted key.
    config["model_list"][0]["litellm_params"].update(
        input_cost_per_token=0.001, output_cost_per_token=0.002
    )
    served = serve_config(
        config, tmp_path, REDIS_URL=redis_url, GATEWAY_API_KEYS_FILE=str(keys_file)
    )
    a = httpx.Client(base_url=served.url, timeout=15)
    try:
        b = start_gateway(config, redis_url=redis_url, api_keys_file=str(keys_file)).client
        yield a, b, headers, budgeted
    finally:
        a.close()
        served.stop()


def test_two_gateways_share_one_rate_limit_the_cache_and_a_budget(
    two_gateways: tuple[httpx.Client, httpx.Client, dict[str, str], dict[str, str]],
    upstream: FakeUpstream,
) -> None:
    a, b, headers, budgeted = two_gateways
    assert_on_redis(a)
    assert_on_redis(b)

    # One limit, 2/minute on title-model, counted in Redis: A, B, then A again is over it.
    statuses = [
        post(gateway, headers, "title-model", f"title {n}").status_code
        for n, gateway in enumerate((a, b, a, b))
    ]
    assert statuses == [200, 200, 429, 429]

    # An answer cached through A is a hit through B: the upstream is asked once.
    question = f"cache me {uuid.uuid4().hex}"
    calls = len(upstream.requests)
    miss = post(a, headers, "chat-model", question)
    hit = post(b, headers, "chat-model", question)
    assert miss.status_code == 200 and hit.status_code == 200
    assert miss.headers["x-cache"] == "miss" and hit.headers["x-cache"] == "hit"
    assert len(upstream.requests) == calls + 1
    assert line_text(hit.text) == line_text(miss.text) == upstream.default.text

    # One spend budget: what the key spent through A is gone through B too.
    spent = post(a, budgeted, "chat-model", f"spend {uuid.uuid4().hex}")
    assert spent.status_code == 200 and spent.headers["x-budget-remaining"] == "0.020000"
    refused = post(b, budgeted, "chat-model", f"spend {uuid.uuid4().hex}")
    assert refused.status_code == 429, refused.text
    assert refused.json()["error"]["type"] == "budget_exceeded"
    assert refused.headers["x-budget-remaining"] == "0.000000"


@dataclass
class Streamed:
    """One stream of the failover's load, as its client saw it (times: time.monotonic())."""

    door: str
    status: int
    body: str
    started: float
    ended: float


def stream_once(client: httpx.Client, headers: dict[str, str], door: str) -> Streamed:
    """A streamed chat on `door` ("/api/chat": the line format, or "/v1/chat/completions"),
    a question of its own: a cache miss, a cache write, a rate-limit hit, all on Redis."""
    messages = [{"role": "user", "content": f"load {uuid.uuid4().hex}"}]
    body = {"model": "chat-model", "messages": messages, "stream": True}
    started = time.monotonic()
    with client.stream("POST", door, json=body, headers=headers) as response:
        text = response.read().decode()
    return Streamed(door, response.status_code, text, started, time.monotonic())


def finished(stream: Streamed) -> bool:
    """The stream carries the whole answer, ends with its finish part, and has no error."""
    if stream.door == "/api/chat":
        parts = parse_lines(stream.body)
        return bool(
            parts
            and all(code in ("0", "d") for code, _ in parts)
            and parts[-1][0] == "d"
            and parts[-1][1]["finishReason"] == "stop"
            and line_text(stream.body) == "".join(WORDS)
        )
    events = [line[len("data: ") :] for line in stream.body.split("\n") if line]
    if not events or events[-1] != "[DONE]":
        return False
    chunks = [json.loads(event) for event in events[:-1]]
    if any("error" in chunk for chunk in chunks):
        return False
    choices = [chunk["choices"][0] for chunk in chunks if chunk.get("choices")]
    text = "".join(choice["delta"].get("content") or "" for choice in choices)
    return choices[-1]["finish_reason"] == "stop" and text == "".join(WORDS)


def test_a_sentinel_failover_under_20_streams_costs_no_500_and_cuts_no_stream(
    sentinels_to_kill: RedisSentinels, start_gateway: Callable[..., Gateway], upstream: FakeUpstream
) -> None:
    api_keys, headers = fresh_key()
    load_keys, load_headers = fresh_key()
    sentinels = sentinels_to_kill
    client = start_gateway(
        everything(upstream), redis_url=sentinels.url, api_keys=f"{api_keys},{load_keys}"
    ).client
    assert_on_redis(client)
    old_master = sentinels.master_port()
    assert old_master == sentinels.master.port
    # Every answer streams for ~2 s: streams are in flight when the master dies.
    upstream.default = Reply(chunks=WORDS, chunk_delay=CHUNK_DELAY)

    streams: list[Streamed] = []
    failures: list[BaseException] = []
    streams_started = threading.Semaphore(0)
    stop = threading.Event()

    def load(door: str) -> None:
        try:
            while not stop.is_set():
                streams_started.release()
                streams.append(stream_once(client, load_headers, door))
        except BaseException as error:  # reported below
            failures.append(error)

    # Half on the frontend's door, half on OpenAI's.
    doors = ["/api/chat", "/v1/chat/completions"]
    workers = [threading.Thread(target=load, args=(doors[n % 2],)) for n in range(STREAMS)]
    for worker in workers:
        worker.start()
    try:
        for _ in range(STREAMS):  # every worker has a stream going
            assert streams_started.acquire(timeout=10), "the load did not start"
        time.sleep(0.5)  # and the streams are answering
        killed_at = time.monotonic()
        sentinels.master.stop()  # the master is gone: the Sentinels promote the replica
        deadline = time.monotonic() + 20
        while sentinels.master_port() == old_master:
            assert time.monotonic() < deadline, "no failover"
            time.sleep(0.1)
        promoted_at = time.monotonic()
        # Until the gateway counts on the new master again (it probes every 2 s).
        while not (
            (report := ready(client))["redis"] == "ok" and report["rate_limit_store"] == "redis"
        ):
            assert time.monotonic() < deadline, f"the gateway did not resume: {report}"
            time.sleep(0.1)
        time.sleep(1.0)  # and some load on it
    finally:
        stop.set()
        for worker in workers:
            worker.join(20)
    assert not any(worker.is_alive() for worker in workers), "a stream never ended"
    assert not failures, failures

    statuses = sorted({stream.status for stream in streams})
    assert statuses == [200], [(s.status, s.body[:200]) for s in streams if s.status != 200]
    cut = [stream for stream in streams if not finished(stream)]
    assert not cut, [(s.door, s.body[-300:]) for s in cut]
    # The load did run through the failover: streams open when the master died, and more
    # streams over the whole of it, on both doors.
    across_the_kill = [s for s in streams if s.started < killed_at < s.ended]
    assert len(across_the_kill) >= STREAMS // 2, len(across_the_kill)
    assert any(s.started < promoted_at < s.ended for s in streams)
    assert {s.door for s in streams if s.started > promoted_at} == set(doors)

    # After the failover: limits are enforced, counted on the new master; chats are stored.
    statuses = [post(client, headers, "title-model", f"title {n}").status_code for n in range(3)]
    assert statuses == [200, 200, 429]
    new_master = redis.Redis(port=sentinels.master_port(), socket_timeout=1)
    try:
        assert new_master.role()[0] == b"master"
        assert new_master.keys("*LIMITER*title-model*"), "the limit is not counted on the master"
    finally:
        new_master.close()
    chat_id = f"chat-{uuid.uuid4().hex[:8]}"
    chat_by_id(client, headers, chat_id, "after the failover")
    assert stored_roles(client, headers, chat_id) == ["user", "assistant"]


def _exists(redis_url: str, key: str) -> bool:
    found = topology(redis_url)
    assert found is not None
    if found.scheme == "redis+cluster":
        client: Any = RedisCluster(host=found.nodes[0][0], port=found.nodes[0][1])
    else:
        sentinel = redis.Redis(*found.nodes[0], socket_timeout=1)
        host, port = sentinel.sentinel_get_master_addr_by_name(found.service)
        sentinel.close()
        client = redis.Redis(host, port)
    try:
        return bool(client.exists(key))
    finally:
        client.close()
