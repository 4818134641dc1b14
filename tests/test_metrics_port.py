"""GATEWAY_METRICS_PORT: /metrics on a listener of its own, off the main port.

Real `gateway serve` processes on real sockets: the scrape on the metrics port counts requests
made on the main port (one worker, and two workers summed by the supervisor's listener), the
main port answers /metrics with 404, the listener goes away with the gateway, and bad settings
stop the start with a message that names the setting.
"""

from __future__ import annotations

import http.client
import json
import socket
from collections import Counter
from pathlib import Path

import httpx

from tests.support.configs import UPSTREAM_KEY, config_for
from tests.support.fake_upstream import FakeUpstream, Reply
from tests.support.processes import (
    clean_env,
    free_port,
    refuses_connections,
    serve_config,
    serve_to_exit,
    worker_serving,
    write_config,
)
from tests.support.prometheus import sample

CHAT = {"model": "chat-model", "messages": [{"role": "user", "content": "hi"}]}
ROUTE = {"route": "/api/chat", "model": "chat-model", "protocol": "typed", "status": "200"}


def scrape(port: int) -> str:
    response = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return response.text


def test_metrics_are_served_on_their_own_port_and_not_on_the_main_one(
    upstream: FakeUpstream, tmp_path: Path
) -> None:
    metrics_port = free_port()
    server = serve_config(config_for(upstream), tmp_path, GATEWAY_METRICS_PORT=str(metrics_port))
    try:
        before = scrape(metrics_port)
        upstream.default = Reply(chunks=["ok"], prompt_tokens=5, completion_tokens=3)
        assert httpx.post(f"{server.url}/api/chat", json=CHAT, timeout=30).status_code == 200
        after = scrape(metrics_port)

        assert sample(after, "gateway_requests_total", **ROUTE) == (
            sample(before, "gateway_requests_total", **ROUTE) + 1
        )
        tokens = {"model": "chat-model", "direction": "completion", "cached": "false"}
        assert sample(after, "gateway_tokens_total", **tokens) == (
            sample(before, "gateway_tokens_total", **tokens) + 3
        )
        assert "gateway_requests_in_flight" in after

        main = httpx.get(f"{server.url}/metrics", timeout=10)
        assert main.status_code == 404 and "gateway_" not in main.text
        # The metrics listener serves /metrics and nothing else.
        for path in ("/health", "/v1/models", "/metrics/x"):
            other = httpx.get(f"http://127.0.0.1:{metrics_port}{path}", timeout=10)
            assert other.status_code == 404, path
        assert httpx.get(f"http://127.0.0.1:{metrics_port}/metrics?x=1", timeout=10).is_success
    finally:
        server.stop()
    assert server.process.returncode == 0, server.output()
    assert refuses_connections(metrics_port), "the metrics listener outlived the gateway"


def served_by(server_port: int, parent: int) -> tuple[int, int]:
    """POST one chat on a new connection: its status, and the worker (pid) that answered it."""
    connection = http.client.HTTPConnection("127.0.0.1", server_port, timeout=30)
    try:
        body = json.dumps(CHAT)
        connection.request("POST", "/api/chat", body, {"content-type": "application/json"})
        response = connection.getresponse()
        response.read()
        assert connection.sock is not None  # kept alive: the worker still holds it
        worker = worker_serving(parent, connection.sock.getsockname()[1], server_port)
        return response.status, worker
    finally:
        connection.close()


def test_with_two_workers_the_metrics_port_sums_both(
    upstream: FakeUpstream, tmp_path: Path
) -> None:
    metrics_port = free_port()
    server = serve_config(
        config_for(upstream), tmp_path, "--workers", "2", GATEWAY_METRICS_PORT=str(metrics_port)
    )
    try:
        upstream.default = Reply(chunks=["ok"], prompt_tokens=5, completion_tokens=3)
        workers: Counter[int] = Counter()
        # New connections until both workers have answered some (the kernel picks who accepts).
        while len(workers) < 2 or sum(workers.values()) < 8:
            assert sum(workers.values()) < 200, f"one worker took every connection: {workers}"
            status, worker = served_by(server.port, server.process.pid)
            assert status == 200
            workers[worker] += 1
        total = sum(workers.values())

        for _ in range(3):  # the same sum on every scrape
            text = scrape(metrics_port)
            assert sample(text, "gateway_requests_total", **ROUTE) == total, workers
            tokens = {"model": "chat-model", "direction": "completion", "cached": "false"}
            assert sample(text, "gateway_tokens_total", **tokens) == 3 * total
        assert httpx.get(f"{server.url}/metrics", timeout=10).status_code == 404
    finally:
        server.stop()
    assert server.process.returncode == 0, server.output()
    assert refuses_connections(metrics_port), "the metrics listener outlived the gateway"


def test_a_taken_metrics_port_stops_the_start(upstream: FakeUpstream, tmp_path: Path) -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    try:
        metrics_port = taken.getsockname()[1]
        port = free_port()
        env = clean_env(FAKE_UPSTREAM_KEY=UPSTREAM_KEY, GATEWAY_METRICS_PORT=str(metrics_port))
        config = write_config(upstream, tmp_path)
        code, output = serve_to_exit(
            tmp_path, "--config", str(config), "--port", str(port), env=env
        )
    finally:
        taken.close()
    assert code == 1
    assert f"GATEWAY_METRICS_PORT: cannot listen on 127.0.0.1 port {metrics_port}" in output
    assert refuses_connections(port), "the gateway started without its metrics listener"
