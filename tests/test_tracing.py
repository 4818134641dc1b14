"""OpenTelemetry traces from a real `gateway serve` to a small OTLP/HTTP receiver on loopback:
a server span joined to the caller's traceparent, a child span per model call and per tool call,
no message content; and no exporter at all without the OTEL_* variables."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.configs import config_for
from tests.support.fake_upstream import FakeToolCall, FakeUpstream, Reply
from tests.support.otlp_receiver import Receiver, attributes
from tests.support.processes import serve_config
from tests.support.serving import BackgroundLoop

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"


@pytest.fixture
def receiver(background_loop: BackgroundLoop) -> Iterator[Receiver]:
    found = Receiver(background_loop)
    found.start()
    yield found
    found.stop()


def test_a_request_is_one_trace_joined_to_the_callers(
    upstream: FakeUpstream, receiver: Receiver, tmp_path: Path
) -> None:
    config = config_for(upstream, gateway={"tools": ["current_time"]})
    gateway = serve_config(
        config,
        tmp_path,
        OTEL_EXPORTER_OTLP_ENDPOINT=receiver.url,
        OTEL_SERVICE_NAME="gateway-under-test",
        OTEL_BSP_SCHEDULE_DELAY="100",
    )
    try:
        upstream.script(
            Reply(chunks=[], tool_calls=[FakeToolCall("current_time", "{}")]),
            Reply(chunks=["It is late."]),
        )
        secret = "a question nobody else may read"
        response = httpx.post(
            f"{gateway.url}/api/chat",
            json={"model": "chat-model", "messages": [{"role": "user", "content": secret}]},
            headers={"traceparent": f"00-{TRACE_ID}-{CALLER_SPAN}-01", "x-request-id": "req-42"},
            timeout=30,
        )
        assert response.status_code == 200
        assert "It is late." in response.text
        deadline = time.monotonic() + 15
        while len(receiver.spans) < 4 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        gateway.stop()

    assert receiver.services == {"gateway-under-test"}
    spans = {span.name: span for span in receiver.spans}
    (server,) = [span for span in receiver.spans if span.parent_span_id.hex() == CALLER_SPAN]
    assert server.name == "POST /api/chat"
    assert server.trace_id.hex() == TRACE_ID
    assert attributes(server) | {
        "gateway.request_id": "req-42",
        "gen_ai.request.model": "chat-model",
        "gateway.protocol": "typed",
        "http.response.status_code": 200,
        "http.route": "/api/chat",
    } == attributes(server)

    model_calls = [span for span in receiver.spans if span.name == "chat chat-model"]
    assert len(model_calls) == 2  # the tool step and the answer
    tool = spans["tool current_time"]
    for child in [*model_calls, tool]:
        assert child.trace_id == server.trace_id
        assert child.parent_span_id == server.span_id
    first, second = sorted(model_calls, key=lambda span: attributes(span)["gateway.step"])
    assert attributes(first)["gateway.deployment"] == "chat-model#0"
    assert attributes(second)["gen_ai.usage.output_tokens"] == 7
    assert "gateway.time_to_first_token_ms" in attributes(second)

    exported = b"".join(span.SerializeToString() for span in receiver.spans)
    assert secret.encode() not in exported  # no message content without GATEWAY_LOG_CONTENT


def test_without_otel_variables_nothing_is_exported(
    upstream: FakeUpstream, receiver: Receiver, tmp_path: Path
) -> None:
    gateway = serve_config(config_for(upstream), tmp_path)
    try:
        response = httpx.post(
            f"{gateway.url}/api/chat",
            json={"model": "chat-model", "messages": [{"role": "user", "content": "hi"}]},
            timeout=30,
        )
        assert response.status_code == 200
    finally:
        gateway.stop()
    assert "traces on" not in gateway.output()
    assert receiver.spans == []
