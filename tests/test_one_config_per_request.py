"""One request, one config: a reload that lands after a door's dependencies were computed and
before its answer runs changes nothing of that request. Its model mapping, client identity
and limits all come from the config that was serving when it arrived."""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from tests.support.configs import model_entry
from tests.support.fake_upstream import FakeUpstream
from tests.support.gateways import Gateway

CLIENT = "203.0.113.7"  # named by X-Forwarded-For; believed only while 127.0.0.1 is trusted

# (route, the module whose `answer` the route calls, the body it is sent)
DOORS = {
    "openai": (
        "/v1/chat/completions",
        "gateway.doors.openai_chat.openai_chat_routes",
        {"model": "chat-model", "messages": [{"role": "user", "content": "hi"}]},
    ),
    "anthropic": (
        "/v1/messages",
        "gateway.doors.anthropic.anthropic_routes",
        {"model": "chat-model", "max_tokens": 50, "messages": [{"role": "user", "content": "hi"}]},
    ),
    "frontend": (
        "/api/chat",
        "gateway.doors.frontend.frontend_routes",
        {"model": "chat-model", "messages": [{"role": "user", "content": "hi"}]},
    ),
}


def first_config(upstream: FakeUpstream) -> dict[str, Any]:
    return {
        "model_list": [model_entry("chat-model", upstream)],
        "router_settings": {"num_retries": 0, "timeout": 10},
        "gateway": {"rate_limit": {"default": "5/minute", "trusted_proxies": ["127.0.0.1"]}},
    }


def second_config(upstream_b: FakeUpstream) -> dict[str, Any]:
    """Another upstream for the same model ID, another limit, no trusted proxy."""
    return {
        "model_list": [model_entry("chat-model", upstream_b)],
        "router_settings": {"num_retries": 0, "timeout": 10},
        "gateway": {"rate_limit": {"default": "1000/minute"}},
    }


@pytest.mark.parametrize("door", sorted(DOORS))
def test_a_reload_between_a_doors_dependencies_and_its_run_changes_nothing_of_that_request(
    door: str,
    start_gateway: Callable[..., Gateway],
    upstream: FakeUpstream,
    upstream_b: FakeUpstream,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path, module_name, body = DOORS[door]
    gateway = start_gateway(first_config(upstream))
    assert gateway.client is not None
    forwarded = {"x-forwarded-for": CLIENT}
    for _ in range(2):  # the client behind the proxy has used 2 of its 5
        assert gateway.client.post(path, json=body, headers=forwarded).status_code == 200

    # The file changes, and its reload lands once the door has all it asked for, before it
    # answers: the last step of the door's own code.
    gateway.config_path.write_text(yaml.safe_dump(second_config(upstream_b)), encoding="utf-8")
    door_module = importlib.import_module(module_name)
    real_answer = door_module.answer
    reloads: list[str] = []

    async def answer_after_a_reload(*args: Any, **kwargs: Any) -> Any:
        reloads.append((await gateway.app.runtime.live.reload("test")).status)
        return await real_answer(*args, **kwargs)

    monkeypatch.setattr(door_module, "answer", answer_after_a_reload)
    first_engine = gateway.app.runtime.engine
    upstream.requests.clear()
    response = gateway.client.post(path, json=body, headers=forwarded)
    assert reloads == ["applied"]
    assert response.status_code == 200, response.text
    # Model mapping: the first config's upstream answered.
    assert len(upstream.requests) == 1 and not upstream_b.requests
    # Limits: the first config's; identity: the client the first config's proxy names (its
    # third request), not the proxy's own address (which would have 4 left).
    assert response.headers["x-ratelimit-limit"] == "5"
    assert response.headers["x-ratelimit-remaining"] == "2"
    # Its lease is let go once the answer is sent: the retired engine goes idle, and closes.
    deadline = time.monotonic() + 5
    while first_engine.in_flight and time.monotonic() < deadline:
        time.sleep(0.01)
    assert first_engine.in_flight == 0

    # The next request is the second config's throughout.
    monkeypatch.setattr(door_module, "answer", real_answer)
    after = gateway.client.post(path, json=body, headers=forwarded)
    assert after.status_code == 200
    assert len(upstream_b.requests) == 1
    assert after.headers["x-ratelimit-limit"] == "1000"
    assert after.headers["x-ratelimit-remaining"] == "999"
