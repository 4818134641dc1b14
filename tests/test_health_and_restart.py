"""Health probes, and an operator's YAML edit taking effect on restart."""

from __future__ import annotations

from collections.abc import Callable

import yaml

from tests.support.configs import config_for, model_entry
from tests.support.fake_upstream import FakeUpstream, Reply
from tests.support.gateways import Gateway
from tests.support.redis_server import RedisServer
from tests.support.serving import free_socket
from tests.support.wire import parse_lines


def test_health_is_open_and_cheap(gateway_for: Gateway, upstream: FakeUpstream) -> None:
    assert gateway_for.client.get("/health").json() == {"status": "ok"}
    ready = gateway_for.client.get("/health/ready")
    assert ready.status_code == 200
    assert ready.json()["redis"] == "not configured"
    assert ready.json()["config"]["models"] == ["chat-model", "title-model"]
    assert upstream.requests == []  # probes never call a provider


def test_ready_checks_redis_when_configured(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream, redis_server: RedisServer
) -> None:
    gateway = start_gateway(config_for(upstream), redis_url=redis_server.url)
    ready = gateway.client.get("/health/ready")
    assert ready.status_code == 200
    assert ready.json()["redis"] == "ok"


def _dead_redis_url() -> str:
    sock = free_socket()  # a port with nothing listening on it
    port = sock.getsockname()[1]
    sock.close()
    return f"redis://127.0.0.1:{port}/0"


def test_ready_reports_unreachable_redis_that_nothing_needs(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream
) -> None:
    gateway = start_gateway(config_for(upstream), redis_url=_dead_redis_url())
    ready = gateway.client.get("/health/ready")
    assert ready.status_code == 200  # no cache, no limits: nothing this process does needs it
    assert ready.json() | {"config": None} == {
        "status": "ready",
        "redis": "unreachable",
        "degraded": [],
        "config": None,
    }
    assert gateway.client.get("/health").status_code == 200
    assert gateway.chat().status_code == 200


def test_ready_with_redis_down_and_allow_serves_degraded(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream
) -> None:
    # Every replica shares this Redis: readiness must not pull them all while they still serve.
    options = {
        "rate_limit": {"default": "100/minute", "on_store_error": "allow"},
        "cache": {"ttl": 60, "models": ["chat-model"]},
    }
    gateway = start_gateway(config_for(upstream, gateway=options), redis_url=_dead_redis_url())
    ready = gateway.client.get("/health/ready")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"
    assert ready.json()["redis"] == "unreachable"
    assert ready.json()["degraded"] == ["rate_limits", "response_cache"]
    chat = gateway.chat()
    assert chat.status_code == 200 and chat.headers["x-cache"] == "bypass"  # as reported
    after = gateway.client.get("/health/ready").json()
    assert after["rate_limit_store"] == "degraded: per-process memory"
    assert after["degraded"] == ["rate_limits", "response_cache"]


def test_ready_with_redis_down_and_deny_is_503(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream
) -> None:
    options = {"rate_limit": {"default": "100/minute", "on_store_error": "deny"}}
    gateway = start_gateway(config_for(upstream, gateway=options), redis_url=_dead_redis_url())
    ready = gateway.client.get("/health/ready")
    assert ready.status_code == 503
    body = ready.json()
    assert body["status"] == "not_ready" and body["redis"] == "unreachable"
    assert "on_store_error: deny" in body["reason"]
    assert gateway.chat().status_code == 503  # what readiness predicted


def test_ready_with_redis_up_and_deny_is_ready(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream, redis_server: RedisServer
) -> None:
    options = {"rate_limit": {"default": "100/minute", "on_store_error": "deny"}}
    gateway = start_gateway(config_for(upstream, gateway=options), redis_url=redis_server.url)
    ready = gateway.client.get("/health/ready")
    assert ready.status_code == 200
    assert ready.json() | {"config": None} == {
        "status": "ready",
        "redis": "ok",
        "rate_limit_store": "redis",
        "degraded": [],
        "config": None,
    }


def test_editing_the_yaml_and_restarting_moves_traffic(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream, upstream_b: FakeUpstream
) -> None:
    upstream.default = Reply(chunks=["from A"])
    upstream_b.default = Reply(chunks=["from B"])
    gateway = start_gateway(config_for(upstream))
    assert _text(gateway.chat()) == "from A"

    edited = config_for(upstream)
    edited["model_list"][0] = model_entry("chat-model", upstream_b)
    gateway.config_path.write_text(yaml.safe_dump(edited))
    gateway.stop()
    gateway.start()

    assert _text(gateway.chat()) == "from B"
    assert _text(gateway.chat(model="title-model")) == "from A"
    assert len(upstream_b.requests) == 1
    assert len(upstream.requests) == 2


def _text(response: object) -> str:
    body = getattr(response, "text", "")
    return "".join(p["textDelta"] for code, p in parse_lines(body) if code == "0")
