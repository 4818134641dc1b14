"""Retries, timeouts and fallbacks from the YAML, all through LiteLLM's Router.

A fallback is invisible to the frontend except for `x-gateway-deployment`, which names the
model_list entry that answered (`<model ID>#<index>`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.support.ai_sdk import run_data_stream_client
from tests.support.configs import model_entry
from tests.support.fake_upstream import FakeUpstream, Fault, Reply
from tests.support.gateways import Gateway
from tests.support.wire import parse_lines

# Every test here runs on both stream readers (tests/conftest.py, stream_reader).
pytestmark = pytest.mark.usefixtures("stream_reader")

CONTEXT_TOO_LONG = (
    "This model's maximum context length is 8192 tokens. However, your messages resulted in "
    "9000 tokens. Please reduce the length of the messages."
)


def with_backup(
    primary: FakeUpstream, backup: FakeUpstream, primary_params: dict[str, Any] | None = None,
    **router_settings: Any,
) -> dict[str, Any]:  # fmt: skip
    return {
        "model_list": [
            model_entry("chat-model", primary, **(primary_params or {})),
            model_entry("backup-model", backup),
        ],
        "router_settings": {"num_retries": 0, "timeout": 10, **router_settings},
    }


def text_of(body: str) -> str:
    return "".join(part["textDelta"] for code, part in parse_lines(body) if code == "0")


def test_a_failing_primary_falls_back_and_the_frontend_sees_a_normal_stream(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream, upstream_b: FakeUpstream
) -> None:
    gateway = start_gateway(
        with_backup(upstream, upstream_b, fallbacks=[{"chat-model": ["backup-model"]}])
    )
    upstream.script(Fault(500), Fault(503))

    response = gateway.chat()

    assert response.status_code == 200
    assert response.headers["x-gateway-deployment"] == "backup-model#1"
    parts = parse_lines(response.text)
    assert [code for code, _ in parts] == ["0", "d"]  # no error part, nothing unusual
    assert text_of(response.text) == "Hello from upstream-b"
    # The AI SDK's own client reads the fallback answer as any other.
    client = run_data_stream_client(
        f"{gateway.url}/api/chat?protocol=data-stream",
        {"model": "chat-model", "messages": [{"role": "user", "content": "hi"}]},
    )
    assert client["thrown"] is None and client["errors"] == []
    assert client["text"] == "Hello from upstream-b"
    assert len(upstream.requests) == 2 and len(upstream_b.requests) == 2


def test_a_slow_first_token_times_out_into_the_fallback(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream, upstream_b: FakeUpstream
) -> None:
    gateway = start_gateway(
        with_backup(
            upstream,
            upstream_b,
            primary_params={"stream_timeout": 0.5},
            fallbacks=[{"chat-model": ["backup-model"]}],
        )
    )
    upstream.script(Reply(first_byte_delay=3))

    response = gateway.chat()

    assert response.status_code == 200
    assert response.headers["x-gateway-deployment"] == "backup-model#1"
    assert text_of(response.text) == "Hello from upstream-b"


def test_a_total_timeout_without_fallback_is_a_clear_504(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream, upstream_b: FakeUpstream
) -> None:
    gateway = start_gateway(with_backup(upstream, upstream_b, timeout=0.5))
    upstream.script(Reply(first_byte_delay=3))

    response = gateway.chat(stream=False)

    assert response.status_code == 504
    assert response.json()["error"]["message"] == "the provider for model 'chat-model' timed out"


def test_a_context_window_error_falls_back_to_the_bigger_model(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream, upstream_b: FakeUpstream
) -> None:
    gateway = start_gateway(
        with_backup(
            upstream, upstream_b, context_window_fallbacks=[{"chat-model": ["backup-model"]}]
        )
    )
    upstream.script(Fault(400, message=CONTEXT_TOO_LONG))

    response = gateway.chat(stream=False)

    assert response.status_code == 200
    assert response.json()["text"] == "Hello from upstream-b"
    assert response.headers["x-gateway-deployment"] == "backup-model#1"


def test_retries_stay_on_the_model_and_succeed(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream, upstream_b: FakeUpstream
) -> None:
    gateway = start_gateway(with_backup(upstream, upstream_b, num_retries=2, retry_after=0))
    upstream.script(Fault(500), Fault(502))

    response = gateway.chat()

    assert response.status_code == 200
    assert response.headers["x-gateway-deployment"] == "chat-model#0"
    assert text_of(response.text) == "Hello from upstream-a"
    assert len(upstream.requests) == 3 and not upstream_b.requests


def test_several_deployments_behind_one_model_id_share_the_traffic(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream, upstream_b: FakeUpstream
) -> None:
    config = {
        "model_list": [model_entry("chat-model", upstream), model_entry("chat-model", upstream_b)],
        "router_settings": {"num_retries": 0},
    }
    gateway = start_gateway(config)

    deployments = {gateway.chat(stream=False).headers["x-gateway-deployment"] for _ in range(20)}

    # Random choice: all 20 on one deployment would happen about twice in a million runs.
    assert deployments == {"chat-model#0", "chat-model#1"}
    assert upstream.requests and upstream_b.requests


def test_a_stream_that_stalls_mid_way_ends_with_a_timeout_part(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream, upstream_b: FakeUpstream
) -> None:
    gateway = start_gateway(
        with_backup(upstream, upstream_b, primary_params={"stream_timeout": 0.5})
    )
    upstream.script(Reply(chunks=["quick", "then", "stuck"], stall_before=2, stall_seconds=3))

    response = gateway.chat()

    assert response.status_code == 200
    parts = parse_lines(response.text)
    assert parts[0] == ("0", {"type": "text-delta", "textDelta": "quick"})
    assert parts[-2] == (
        "3",
        {"type": "error", "error": "the provider for model 'chat-model' timed out"},
    )
    assert parts[-1][1]["finishReason"] == "error"
