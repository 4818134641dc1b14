"""Every background task ends with its owner, on Python 3.11 too, and a gauge counts those alive.

The leak these guard against: a chat answer that failed left its heartbeat refreshing
`…:flag:alive:…` in Redis forever. On Python 3.11 `asyncio.wait_for` runs the awaited call in a
task of its own and, when the caller is cancelled just as that call completes, returns the
result and drops the cancel (CPython gh-86296); the heartbeat's loop then never ended. The
deterministic tests time a cancel to arrive exactly as a Redis reply does; the last one is the
issue's reproduction: failed answers in a row and at once against a real gateway and Redis,
then a count of the tasks still alive and of the `alive` flags still being refreshed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import redis
from prometheus_client import REGISTRY

from gateway import tasks
from gateway.cache.stores import RedisStore
from gateway.chats.generation import Generation
from gateway.chats.running_answers import Generations
from gateway.chats.store import ActiveStream, RedisChatStore
from gateway.config import ChatOptions
from gateway.errors import UpstreamError
from gateway.serving.lifecycle import Drain
from tests.support.configs import config_for
from tests.support.fake_upstream import FakeUpstream, Fault
from tests.support.gateways import Gateway
from tests.support.redis_server import RedisServer
from tests.support.serving import BackgroundLoop

UI = "?protocol=ui-message-stream"


def alive_tasks(kind: str) -> float:
    return REGISTRY.get_sample_value("gateway_background_tasks", {"kind": kind}) or 0.0


def heartbeats() -> list[asyncio.Task[Any]]:
    """The chat answers' heartbeat tasks alive on the running loop."""
    found = asyncio.all_tasks()
    return [t for t in found if t.get_coro().__qualname__ == "Generation._heartbeat"]


def reply_then(client: Any, method: str, then: Callable[[], None]) -> list[int]:
    """Make `client.<method>` call `then()` as its Redis reply arrives, just before it returns;
    the list counts the calls."""
    real = getattr(client, method)
    calls: list[int] = []

    async def replied(*args: Any, **kwargs: Any) -> Any:
        result = await real(*args, **kwargs)
        calls.append(1)
        then()
        return result

    setattr(client, method, replied)
    return calls


async def cancelled_as_the_reply_arrives(call: Awaitable[Any], client: Any) -> bool:
    """Await `call` (a store call that SETs through `client`) in a task that is cancelled as
    the Redis reply arrives: did the cancel end the task?"""
    caller: asyncio.Task[Any] | None = None

    def cancel_caller() -> None:
        assert caller is not None
        caller.cancel()

    reply_then(client, "set", cancel_caller)

    async def call_then_carry_on() -> str:
        await call
        await asyncio.sleep(0.05)  # a cancel that got through ends the task by here
        return "carried on"

    caller = asyncio.create_task(call_then_carry_on())
    try:
        await caller
    except asyncio.CancelledError:
        return True
    return False


def test_a_cancel_arriving_as_a_chat_store_call_completes_reaches_the_caller(
    redis_server: RedisServer,
) -> None:
    async def scenario() -> bool:
        store = RedisChatStore(redis_server.url, 1.0)
        try:
            call = store.set_flag("tasks-chat", "alive:s1", 1.0)
            return await cancelled_as_the_reply_arrives(call, store._client)
        finally:
            await store.aclose()

    assert asyncio.run(scenario())


def test_a_cancel_arriving_as_a_cache_call_completes_reaches_the_caller(
    redis_server: RedisServer,
) -> None:
    async def scenario() -> bool:
        cache = RedisStore(redis_server.url, 1.0)
        try:
            call = cache.set("tasks-cache-key", b"value", 60)
            return await cancelled_as_the_reply_arrives(call, cache._client)
        finally:
            await cache.aclose()

    assert asyncio.run(scenario())


def test_a_heartbeat_cancelled_as_its_store_call_completes_ends_with_its_answer(
    redis_server: RedisServer,
) -> None:
    """The provider fails exactly as the heartbeat's `alive` write gets its reply, so the
    answer's end cancels the heartbeat at that instant. The heartbeat must end with the answer
    and write no `alive` flag after it."""
    options = ChatOptions(unread_timeout=0.4)  # a beat every 0.1 s

    async def scenario() -> tuple[int, int, int]:
        store = RedisChatStore(redis_server.url, 1.0)
        provider_fails = asyncio.Event()
        writes = reply_then(store._client, "set", provider_fails.set)

        async def events() -> Any:
            await provider_fails.wait()
            raise UpstreamError("upstream exploded")
            yield  # an async generator of events, failing before its first

        generation = Generation(
            chat_id="tasks-heartbeat",
            owner="ip:127.0.0.1",
            active=ActiveStream("stream-heartbeat", "msg-heartbeat"),
            store=store,
            shared_store=True,
            options=options,
            drain=Drain(1.0),
            registry=Generations(),
        )
        generation.start(events())
        with pytest.raises(UpstreamError):
            await generation.first_event()
        await generation.wait()
        for _ in range(20):  # the answer's task is about to end: give it a moment
            if not heartbeats():
                break
            await asyncio.sleep(0.05)
        after_end = len(writes)
        await asyncio.sleep(0.5)  # five beats
        alive = len(heartbeats())
        later = len(writes)
        for task in heartbeats():
            await tasks.end(task)
        await store.aclose()
        return alive, after_end, later

    alive, writes_at_end, writes_later = asyncio.run(scenario())
    assert alive == 0
    assert writes_later == writes_at_end  # no `alive` flag refreshed after the answer ended


def test_end_cancels_again_a_task_that_swallows_its_cancel_and_the_gauge_counts_it() -> None:
    async def scenario() -> tuple[float, float, bool, int]:
        swallowed = 0

        async def stubborn() -> None:
            nonlocal swallowed
            while True:
                try:
                    await asyncio.sleep(10)
                except asyncio.CancelledError:
                    swallowed += 1
                    if swallowed == 3:
                        raise

        before = alive_tasks("test_stubborn")
        task = tasks.spawn(stubborn(), "test_stubborn")
        await asyncio.sleep(0)
        while_running = alive_tasks("test_stubborn") - before
        ended = await tasks.end(task)
        return while_running, alive_tasks("test_stubborn") - before, ended, swallowed

    while_running, after, ended, swallowed = asyncio.run(scenario())
    assert (while_running, after) == (1, 0)
    assert ended is True
    assert swallowed == 3


def test_a_cancel_of_the_owner_while_it_ends_a_task_waits_for_the_task_then_goes_on() -> None:
    async def scenario() -> tuple[bool, bool]:
        async def slow_to_unwind() -> None:
            try:
                await asyncio.sleep(10)
            finally:
                await asyncio.sleep(0.2)  # cleanup that takes a while

        child = tasks.spawn(slow_to_unwind(), "test_unwinding")
        await asyncio.sleep(0)
        owner = asyncio.create_task(tasks.end(child))
        await asyncio.sleep(0.05)
        owner.cancel()
        with pytest.raises(asyncio.CancelledError):
            await owner
        return child.done(), owner.cancelled()

    assert asyncio.run(scenario()) == (True, True)


def test_stopping_the_gateway_ends_its_background_tasks_and_closes_a_retiring_engine(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream, background_loop: BackgroundLoop
) -> None:
    """A reload retires the old engine, which waits for the request still holding it; the
    gateway stops meanwhile. The retiring task must end and still close that engine, and the
    file watch and the stop listener must end too."""
    gateway = start_gateway(config_for(upstream))  # watches its file (GATEWAY_CONFIG_POLL_SECONDS)
    old = gateway.app.runtime.engine
    closed: list[str] = []
    close = old.aclose

    async def counted_close() -> None:
        closed.append("closed")
        await close()

    old.aclose = counted_close

    async def hold_and_reload() -> Any:
        lease = old.lease()  # a request still answering on the old engine
        config = gateway.config_path.read_text(encoding="utf-8")
        gateway.config_path.write_text(config.replace("timeout: 10", "timeout: 11"))
        result = await gateway.app.runtime.live.reload("test")
        return lease, result.status

    lease, status = background_loop.run(hold_and_reload())
    assert status == "applied"
    kinds = ("engine_retire", "config_watch", "chat_stop_listener")
    assert all(alive_tasks(kind) >= 1 for kind in kinds)
    gateway.stop()
    background_loop.loop.call_soon_threadsafe(lease.release)
    assert closed == ["closed"]
    assert {kind: alive_tasks(kind) for kind in kinds} == dict.fromkeys(kinds, 0)


async def count_heartbeats() -> int:
    return len(heartbeats())


def test_failed_chat_answers_leave_no_task_running_and_no_alive_flag_refreshed(
    start_gateway: Callable[..., Gateway],
    upstream: FakeUpstream,
    redis_server: RedisServer,
    background_loop: BackgroundLoop,
) -> None:
    """The issue's loop: 100 chat-by-id answers in a row and 300 at once, the provider
    answering 500 to each; afterwards no heartbeat (or other chat task) is alive and no
    `alive` flag is refreshed."""
    upstream.default = Fault(500)
    options = {"unread_timeout": 2}  # a beat every 0.5 s: an `alive` flag lives 1.5 s
    gateway = start_gateway(
        config_for(upstream, gateway={"chats": options}), redis_url=redis_server.url
    )
    client = gateway.client

    def ask(n: int) -> str:
        body = {
            "id": f"tasks-leak-{n}",
            "message": {"id": "u1", "role": "user", "parts": [{"type": "text", "text": "hi"}]},
            "selectedChatModel": "chat-model",
        }
        response = client.post("/api/chat" + UI, json=body)
        return f"{response.status_code} {response.json()['error']['type']}"

    told = [ask(n) for n in range(100)]
    with ThreadPoolExecutor(30) as pool:
        told += pool.map(ask, range(100, 400))
    # Each failure is told: the provider's 502, or, on a loaded machine where 30 requests at
    # once wait on Redis past its 0.5 s timeout, the chat store's truthful 503. Nothing else.
    assert set(told) <= {"502 upstream_error", "503 chat_store_unavailable"}, set(told)
    assert told.count("502 upstream_error") >= 300

    kinds = ("chat_answer", "chat_heartbeat", "chat_event_log")
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline:
        if not background_loop.run(count_heartbeats()) and all(alive_tasks(k) == 0 for k in kinds):
            break
        time.sleep(0.1)
    assert background_loop.run(count_heartbeats()) == 0
    assert {kind: alive_tasks(kind) for kind in kinds} == dict.fromkeys(kinds, 0)

    plain = redis.Redis(port=redis_server.port)
    try:
        deadline = time.monotonic() + 5.0  # every flag written before the end expires by then
        while plain.keys("gateway:chat:{tasks-leak-*}:flag:alive:*"):
            assert time.monotonic() < deadline, "alive flags are still being refreshed"
            time.sleep(0.1)
    finally:
        plain.close()
