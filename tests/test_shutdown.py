"""SIGTERM: streams in flight finish within the grace period or end with an error part, new
connections are refused, and the process exits 0."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.configs import config_for
from tests.support.fake_upstream import FakeUpstream, Reply
from tests.support.processes import GatewayProcess, serve_config
from tests.support.wire import parse_lines

BODY = {"model": "chat-model", "messages": [{"role": "user", "content": "tell me slowly"}]}


def serve(upstream: FakeUpstream, tmp_path: Path, **env: str) -> GatewayProcess:
    return serve_config(config_for(upstream), tmp_path, **env)


def stream_in_background(url: str) -> tuple[threading.Thread, dict[str, Any]]:
    result: dict[str, Any] = {}

    def run() -> None:
        try:
            result["response"] = httpx.post(f"{url}/api/chat", json=BODY, timeout=60)
        except httpx.HTTPError as exc:
            result["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    return thread, result


def wait_for_stream_start(upstream: FakeUpstream) -> None:
    deadline = time.monotonic() + 10
    while not upstream.requests:
        assert time.monotonic() < deadline, "the stream never reached the upstream"
        time.sleep(0.05)
    time.sleep(0.3)  # a few chunks are out


def test_a_stream_in_flight_completes_and_the_process_exits_0(
    upstream: FakeUpstream, tmp_path: Path
) -> None:
    slow = Reply(chunks=[f"part{i} " for i in range(20)], chunk_delay=0.1)  # about 2 s
    upstream.script(slow)
    server = serve(upstream, tmp_path)
    try:
        thread, result = stream_in_background(server.url)
        wait_for_stream_start(upstream)

        server.signal(signal.SIGTERM)

        assert server.wait_exit(timeout=20) == 0, server.output()
        thread.join(5)
        response = result["response"]
        parts = parse_lines(response.text)
        assert "".join(p["textDelta"] for code, p in parts if code == "0") == slow.text
        assert parts[-1] == ("d", parts[-1][1]) and parts[-1][1]["finishReason"] == "stop"
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{server.url}/health", timeout=2)
    finally:
        server.stop()


def test_a_stream_past_the_grace_period_ends_with_an_error_part(
    upstream: FakeUpstream, tmp_path: Path
) -> None:
    upstream.script(Reply(chunks=[f"part{i} " for i in range(300)], chunk_delay=0.1))  # 30 s
    server = serve(upstream, tmp_path, GATEWAY_SHUTDOWN_GRACE_SECONDS="1")
    try:
        thread, result = stream_in_background(server.url)
        wait_for_stream_start(upstream)
        started = time.monotonic()

        server.signal(signal.SIGTERM)
        time.sleep(0.3)
        with pytest.raises(httpx.ConnectError):  # draining: no new connections
            httpx.get(f"{server.url}/health", timeout=2)

        assert server.wait_exit(timeout=15) == 0, server.output()
        thread.join(5)
        parts = parse_lines(result["response"].text)
        error, finish = parts[-2], parts[-1]
        assert error[0] == "3" and "shutting down" in error[1]["error"]
        assert finish[0] == "d" and finish[1]["finishReason"] == "error"
        assert [code for code, _ in parts[:-2]] == ["0"] * (len(parts) - 2)
        assert time.monotonic() - started < 10  # cut at the grace period, not left hanging
        assert upstream.wait_for_disconnect()  # and the provider's stream was closed
    finally:
        server.stop()
