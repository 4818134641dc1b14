"""Rate limits: shared across processes through a real Redis, and sane when Redis fails."""

from __future__ import annotations

import ipaddress
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
import yaml

from gateway.limits.rate_limits import _hit_all
from tests.support.configs import UPSTREAM_KEY, config_for
from tests.support.crowd import post_at_once
from tests.support.fake_upstream import FakeUpstream, Reply
from tests.support.gateways import Gateway
from tests.support.processes import GatewayProcess, clean_env
from tests.support.redis_server import RedisServer

KEY_A = "key-a-0123456789abcdef"
KEY_B = "key-b-fedcba9876543210"
BODY = {"model": "chat-model", "messages": [{"role": "user", "content": "hi"}]}


def limited(upstream: FakeUpstream, **rate_limit: Any) -> dict[str, Any]:
    config = config_for(upstream)
    config["gateway"] = {"rate_limit": rate_limit}
    return config


@pytest.fixture
def private_redis() -> Iterator[RedisServer]:
    """A redis-server of this test's own, free to be stopped."""
    server = RedisServer().start()
    yield server
    server.stop()


def test_limit_answers_429_with_headers(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream
) -> None:
    gateway = start_gateway(limited(upstream, default="2/minute"))
    first, second, third = (gateway.chat() for _ in range(3))
    assert first.status_code == second.status_code == 200
    assert first.headers["x-ratelimit-limit"] == "2"
    assert first.headers["x-ratelimit-remaining"] == "1"
    assert second.headers["x-ratelimit-remaining"] == "0"
    assert int(first.headers["x-ratelimit-reset"]) > time.time()
    assert third.status_code == 429
    error = third.json()["error"]
    assert error["type"] == "rate_limited" and "2 per 1 minute" in error["message"]
    assert 1 <= int(third.headers["retry-after"]) <= 60
    assert len(upstream.requests) == 2


def test_every_chat_route_is_limited(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream
) -> None:
    gateway = start_gateway(limited(upstream, default="1/minute"))
    assert gateway.chat().status_code == 200
    openai_door = gateway.client.post("/v1/chat/completions", json=BODY)
    assert openai_door.status_code == 429
    assert openai_door.json()["error"]["type"] == "rate_limit_error"  # OpenAI's shape there


def test_per_model_limits_and_keys_counted_apart(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream
) -> None:
    gateway = start_gateway(
        limited(upstream, default="10/minute", models={"title-model": "1/minute"}),
        api_keys=f"a:{KEY_A},b:{KEY_B}",
    )

    def chat(key: str, model: str) -> int:
        headers = {"authorization": f"Bearer {key}"}
        return gateway.client.post(
            "/api/chat", json={**BODY, "model": model}, headers=headers
        ).status_code  # type: ignore[union-attr]

    assert chat(KEY_A, "title-model") == 200
    assert chat(KEY_A, "title-model") == 429  # the model's own limit
    assert chat(KEY_A, "chat-model") == 200  # other models still under the default
    assert chat(KEY_B, "title-model") == 200  # key B has its own count


def test_streams_still_stream_under_the_limiter(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream, redis_server: RedisServer
) -> None:
    gateway = start_gateway(limited(upstream, default="100/minute"), redis_url=redis_server.url)
    upstream.script(Reply(chunks=[f"w{i} " for i in range(8)], chunk_delay=0.15))
    with gateway.client.stream("POST", "/api/chat", json=BODY) as response:
        lines = response.iter_lines()
        first = next(lines)
        assert upstream.completed_streams == 0  # the upstream is still sending
        assert first.startswith("0:")
        assert response.headers["x-ratelimit-limit"] == "100"
        assert list(lines)[-1].startswith("d:")


def test_two_processes_share_one_limit_through_redis(
    upstream: FakeUpstream, private_redis: RedisServer, tmp_path: Path
) -> None:
    path = tmp_path / "limits.yaml"
    path.write_text(yaml.safe_dump(limited(upstream, default="3/minute")))
    env = clean_env(REDIS_URL=private_redis.url, FAKE_UPSTREAM_KEY=UPSTREAM_KEY)
    servers = [GatewayProcess(path, tmp_path, env=env) for _ in range(2)]
    try:
        urls = [server.wait_ready().url for server in servers]
        statuses = [httpx.post(f"{url}/api/chat", json=BODY, timeout=30) for url in urls + urls]
        assert [r.status_code for r in statuses] == [200, 200, 200, 429]
        assert int(statuses[3].headers["retry-after"]) >= 1
        assert len(upstream.requests) == 3
    finally:
        for server in servers:
            server.stop()


def test_redis_down_with_allow_keeps_serving_and_says_so(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream, private_redis: RedisServer
) -> None:
    gateway = start_gateway(limited(upstream, default="100/minute"), redis_url=private_redis.url)
    assert gateway.chat().status_code == 200
    assert gateway.client.get("/health/ready").json()["rate_limit_store"] == "redis"

    private_redis.stop()
    for _ in range(3):
        assert gateway.chat().status_code == 200
    ready = gateway.client.get("/health/ready")
    assert ready.status_code == 200  # this process still serves: not pulled from the pool
    assert ready.json()["rate_limit_store"] == "degraded: per-process memory"
    assert ready.json()["degraded"] == ["rate_limits"]

    private_redis.start()
    time.sleep(2.2)  # one probe interval
    assert gateway.chat().status_code == 200
    assert gateway.client.get("/health/ready").json()["rate_limit_store"] == "redis"
    counted = redis.Redis.from_url(private_redis.url).keys("LIMITS*")
    assert counted  # shared counting resumed in Redis


def test_redis_down_with_deny_is_503(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream, private_redis: RedisServer
) -> None:
    gateway = start_gateway(
        limited(upstream, default="100/minute", on_store_error="deny"), redis_url=private_redis.url
    )
    private_redis.stop()
    response = gateway.chat()
    assert response.status_code == 503
    assert response.json()["error"]["type"] == "rate_limit_store_unavailable"
    assert upstream.requests == []


def _blocked_limit_checks(admin: redis.Redis) -> int:
    """Clients whose rate-limit script Redis is holding (paused), as Redis itself lists them."""
    return sum(1 for c in admin.client_list() if c["cmd"] == "evalsha" and "b" in c["flags"])


def test_paused_redis_does_not_freeze_the_event_loop(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream, private_redis: RedisServer
) -> None:
    # A Redis timeout longer than the test: the limit check waits until the test unpauses Redis.
    gateway = start_gateway(
        limited(upstream, default="100/minute"), redis_url=private_redis.url, redis_timeout=60
    )
    assert gateway.chat().headers["x-ratelimit-remaining"] == "99"
    admin = redis.Redis.from_url(private_redis.url)
    # WRITE pauses the limit script but still answers CLIENT LIST.
    admin.execute_command("CLIENT", "PAUSE", "60000", "WRITE")
    answers: list[httpx.Response] = []
    stalled = threading.Thread(target=lambda: answers.append(gateway.chat()))
    try:
        stalled.start()
        deadline = time.monotonic() + 10
        while _blocked_limit_checks(admin) == 0:
            assert time.monotonic() < deadline, "the chat request never reached Redis"
            time.sleep(0.02)

        # Had the check run on the event loop, this request would wait for it (the deadline
        # fails it); instead it answers while the check is still held by the paused Redis.
        assert httpx.get(f"{gateway.url}/health", timeout=5).status_code == 200
        assert _blocked_limit_checks(admin) == 1 and stalled.is_alive()
    finally:
        admin.execute_command("CLIENT", "UNPAUSE")
        stalled.join(10)
    assert answers[0].status_code == 200
    assert answers[0].headers["x-ratelimit-remaining"] == "98"  # counted in Redis, once


def test_a_key_can_carry_its_own_limit(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream, tmp_path: Path
) -> None:
    keys = tmp_path / "keys.yaml"
    keys.write_text(
        f"- {{name: tight, key: {KEY_A}, rate_limit: 1/minute}}\n- {{name: normal, key: {KEY_B}}}\n"
    )
    gateway = start_gateway(limited(upstream, default="3/minute"), api_keys_file=keys)

    def status(key: str) -> int:
        headers = {"authorization": f"Bearer {key}"}
        return gateway.client.post("/api/chat", json=BODY, headers=headers).status_code  # type: ignore[union-attr]

    assert [status(KEY_A), status(KEY_A)] == [200, 429]  # its own 1/minute
    assert [status(KEY_B) for _ in range(4)] == [200, 200, 200, 429]  # the default 3/minute


def test_token_budget_refuses_the_request_after_the_one_that_crossed_it(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream, redis_server: RedisServer
) -> None:
    # Each fake answer reports 11 prompt + 7 completion = 18 tokens.
    gateway = start_gateway(
        limited(upstream, tokens_per_minute=25, model_tokens_per_minute={"title-model": 10}),
        redis_url=redis_server.url,
        api_keys=f"a:{KEY_A},b:{KEY_B}",
    )

    def chat(key: str, model: str = "chat-model", stream: bool = True) -> Any:
        body = {**BODY, "model": model, "stream": stream}
        return gateway.client.post(
            "/api/chat", json=body, headers={"authorization": f"Bearer {key}"}
        )  # type: ignore[union-attr]

    assert chat(KEY_A).status_code == 200  # 18 of 25
    assert chat(KEY_A, stream=False).status_code == 200  # 36: this one crosses the budget
    refused = chat(KEY_A)
    assert refused.status_code == 429
    assert refused.json()["error"]["type"] == "token_budget_exceeded"
    assert int(refused.headers["retry-after"]) >= 1
    assert len(upstream.requests) == 2
    # Key B has its own budget; the per-model budget of title-model is separate and smaller.
    assert chat(KEY_B, "title-model").status_code == 200  # 18 > 10: crossed at once
    assert chat(KEY_B, "title-model").status_code == 429
    assert chat(KEY_B, "chat-model").status_code == 200  # 18 of its 25 on the client budget


def test_a_key_can_carry_its_own_token_budget(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream, tmp_path: Path
) -> None:
    keys = tmp_path / "keys.yaml"
    keys.write_text(f"- {{name: big, key: {KEY_A}, tokens_per_minute: 1000}}\n")
    gateway = start_gateway(limited(upstream, tokens_per_minute=20), api_keys_file=keys)
    headers = {"authorization": f"Bearer {KEY_A}"}
    statuses = [
        gateway.client.post("/api/chat", json=BODY, headers=headers).status_code for _ in range(3)
    ]
    assert statuses == [200, 200, 200]  # 54 tokens: over the default 20, within its own 1000


@pytest.mark.parametrize(
    "proxies", [["127.0.0.1"], ["10.0.0.0/8", "127.0.0.0/8"], [], ["10.0.0.0/8"]]
)
def test_forwarded_client_ip_is_believed_only_from_trusted_proxies(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream, proxies: list[str]
) -> None:
    trusted = any(ipaddress.ip_address("127.0.0.1") in ipaddress.ip_network(p) for p in proxies)
    gateway = start_gateway(limited(upstream, default="1/minute", trusted_proxies=proxies))

    def status(forwarded_for: str) -> int:
        headers = {"x-forwarded-for": forwarded_for}
        return gateway.client.post("/api/chat", json=BODY, headers=headers).status_code  # type: ignore[union-attr]

    first, second = status("203.0.113.5"), status("198.51.100.7, 203.0.113.6")
    assert first == 200
    # Behind a trusted proxy each forwarded client has its own limit; otherwise the header is
    # ignored and both requests come from the one peer address.
    assert second == (200 if trusted else 429)
    assert status("203.0.113.5") == 429


def test_a_trusted_proxy_that_is_no_address_is_a_config_error(upstream: FakeUpstream) -> None:
    from gateway.catalog import GATEWAY_CATALOG
    from gateway.config import ConfigError, parse_config

    text = yaml.safe_dump(limited(upstream, trusted_proxies=["nginx"]))
    with pytest.raises(ConfigError) as caught:
        parse_config(text, Path("c.yaml"), GATEWAY_CATALOG)
    message = "gateway.rate_limit.trusted_proxies: 'nginx' is not an IP address or network"
    assert message in str(caught.value)


@pytest.mark.parametrize("store", ["memory", "redis"])
def test_each_accepted_request_of_a_crowd_sees_its_own_remaining_count(
    start_gateway: Callable[..., Gateway],
    upstream: FakeUpstream,
    redis_server: RedisServer,
    store: str,
) -> None:
    # A key of this test's own: the session's redis-server keeps other tests' counts.
    key = f"crowd-{uuid.uuid4().hex}"
    gateway = start_gateway(
        limited(upstream, default="10/minute"),
        api_keys=f"crowd:{key}",
        redis_url=redis_server.url if store == "redis" else None,
    )
    responses = post_at_once(
        gateway.url, "/api/chat", 50, BODY, headers={"authorization": f"Bearer {key}"}
    )
    accepted = [r for r in responses if r.status_code == 200]
    assert len(accepted) == 10
    assert sorted(int(r.headers["x-ratelimit-remaining"]) for r in accepted) == list(range(10))
    refused = [r for r in responses if r.status_code != 200]
    assert {r.status_code for r in refused} == {429}
    assert {r.headers["x-ratelimit-remaining"] for r in refused} == {"0"}


def _remaining_seen_by_threads(limiter: Any, client: str, count: int) -> list[int]:
    """What each of `count` threads, released at once, sees remaining after its own hit."""
    from limits import parse

    start = threading.Barrier(count)
    seen: list[int] = []

    def hit() -> None:
        start.wait()
        decision = limiter._with_backend(_hit_all, client, [("all", parse("10/minute"))])
        if decision.allowed:
            seen.append(decision.remaining)

    threads = [threading.Thread(target=hit) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    return seen


def test_the_memory_store_gives_each_of_many_threads_its_own_count() -> None:
    # The race of the crowd above, narrowed to the threads the checks run in: 50 of them
    # released at once, switching as often as the interpreter allows, 100 times over.
    from gateway.config import RateLimitOptions
    from gateway.limits.rate_limits import RateLimitCounts

    limiter = RateLimitCounts(redis_url=None).limiter(RateLimitOptions(default="10/minute"))
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        for trial in range(100):
            seen = _remaining_seen_by_threads(limiter, f"client-{trial}", 50)
            assert sorted(seen) == list(range(10)), f"trial {trial}"
    finally:
        sys.setswitchinterval(interval)
