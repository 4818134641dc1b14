"""REDIS_URL as Redis Cluster and Redis Sentinel: rate limits, the response cache and chats work
on both, through a served gateway; and a Sentinel failover under load costs no 500."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import redis
from redis.cluster import RedisCluster

from gateway.chats.store import Chat, RedisChatStore
from gateway.redis_client import topology
from tests.conftest import Gateway, config_for
from tests.fake_upstream import FakeUpstream
from tests.redis_server import RedisClusterServers, RedisSentinels

UI = "?protocol=ui-message-stream"


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


@pytest.fixture(params=["cluster", "sentinel"])
def redis_url(request: pytest.FixtureRequest) -> str:
    servers = request.getfixturevalue("cluster" if request.param == "cluster" else "sentinels")
    return str(servers.url)


def everything(upstream: FakeUpstream) -> dict[str, Any]:
    """Rate limits (title-model: 2/minute), the response cache (chat-model), and chats."""
    return config_for(
        upstream,
        gateway={
            "rate_limit": {"default": "1000/minute", "models": {"title-model": "2/minute"}},
            "cache": {"ttl": 60, "models": ["chat-model"]},
        },
    )


def fresh_key() -> tuple[str, dict[str, str]]:
    """api_keys for a tenant of this test's own (counts in Redis outlive a test)."""
    tenant, key = f"t{uuid.uuid4().hex[:8]}", f"sk-{uuid.uuid4().hex}"
    return f"{tenant}:{key}", {"authorization": f"Bearer {key}"}


def post(gateway: Gateway, headers: dict[str, str], model: str, text: str) -> httpx.Response:
    assert gateway.client is not None
    body = {"model": model, "messages": [{"role": "user", "content": text}]}
    return gateway.client.post("/api/chat", json=body, headers=headers)


def chat_by_id(gateway: Gateway, headers: dict[str, str], chat_id: str, text: str) -> None:
    assert gateway.client is not None
    message = {"id": uuid.uuid4().hex, "role": "user", "parts": [{"type": "text", "text": text}]}
    body = {"id": chat_id, "message": message, "selectedChatModel": "chat-model"}
    answer = gateway.client.post("/api/chat" + UI, json=body, headers=headers)
    assert answer.status_code == 200, answer.text


def stored_roles(gateway: Gateway, headers: dict[str, str], chat_id: str) -> list[str]:
    assert gateway.client is not None
    stored = gateway.client.get(f"/api/chat/{chat_id}/messages", headers=headers)
    assert stored.status_code == 200, stored.text
    return [m["role"] for m in stored.json()["messages"]]


def ready(gateway: Gateway) -> dict[str, Any]:
    assert gateway.client is not None
    return dict(gateway.client.get("/health/ready").json())


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
    gateway = start_gateway(everything(upstream), redis_url=redis_url, api_keys=api_keys)

    report = ready(gateway)
    assert report["redis"] == "ok" and report["rate_limit_store"] == "redis", report

    # The rate limit: 2/minute on title-model, the third is a 429.
    statuses = [post(gateway, headers, "title-model", f"title {n}").status_code for n in range(3)]
    assert statuses == [200, 200, 429]

    # The response cache: the same question again is a hit, and the upstream is asked once.
    question = f"cache me {uuid.uuid4().hex}"
    calls = len(upstream.requests)
    miss, hit = (post(gateway, headers, "chat-model", question) for _ in range(2))
    assert miss.headers["x-cache"] == "miss" and hit.headers["x-cache"] == "hit"
    assert len(upstream.requests) == calls + 1

    # A chat by id keeps its history, in this topology's Redis.
    chat_id = f"chat-{uuid.uuid4().hex[:8]}"
    chat_by_id(gateway, headers, chat_id, "hi")
    chat_by_id(gateway, headers, chat_id, "and?")
    assert stored_roles(gateway, headers, chat_id) == ["user", "assistant", "user", "assistant"]
    assert _exists(redis_url, f"gateway:chat:{{{chat_id}}}")
    assert ready(gateway)["degraded"] == []


def test_a_sentinel_failover_under_load_costs_no_500(
    sentinels: RedisSentinels, start_gateway: Callable[..., Gateway], upstream: FakeUpstream
) -> None:
    api_keys, headers = fresh_key()
    load_keys, load_headers = fresh_key()
    gateway = start_gateway(
        everything(upstream), redis_url=sentinels.url, api_keys=f"{api_keys},{load_keys}"
    )
    old_master = sentinels.master_port()
    assert old_master == sentinels.master.port

    statuses: list[int] = []
    stop = threading.Event()

    def load() -> None:
        while not stop.is_set():
            # A question of its own each time: a cache miss, a cache write, a rate-limit hit.
            answer = post(gateway, load_headers, "chat-model", f"load {uuid.uuid4().hex}")
            statuses.append(answer.status_code)

    workers = [threading.Thread(target=load) for _ in range(2)]
    for worker in workers:
        worker.start()
    try:
        time.sleep(0.3)
        sentinels.master.stop()  # the master is gone: the Sentinels promote the replica
        deadline = time.monotonic() + 20
        while sentinels.master_port() == old_master:
            assert time.monotonic() < deadline, "no failover"
            time.sleep(0.1)
        # Until the gateway counts on the new master again (it probes every 2 s).
        while not (
            (report := ready(gateway))["redis"] == "ok" and report["rate_limit_store"] == "redis"
        ):
            assert time.monotonic() < deadline, f"the gateway did not resume: {report}"
            time.sleep(0.1)
        time.sleep(0.5)  # and some load on it
    finally:
        stop.set()
        for worker in workers:
            worker.join(10)

    assert len(statuses) > 10
    assert set(statuses) == {200}, sorted(set(statuses))

    # After the failover: limits are enforced, counted on the new master; chats are stored.
    statuses = [post(gateway, headers, "title-model", f"title {n}").status_code for n in range(3)]
    assert statuses == [200, 200, 429]
    new_master = redis.Redis(port=sentinels.master_port(), socket_timeout=1)
    try:
        assert new_master.role()[0] == b"master"
        assert new_master.keys("*LIMITER*title-model*"), "the limit is not counted on the master"
    finally:
        new_master.close()
    chat_id = f"chat-{uuid.uuid4().hex[:8]}"
    chat_by_id(gateway, headers, chat_id, "after the failover")
    assert stored_roles(gateway, headers, chat_id) == ["user", "assistant"]


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
