"""What a hostile or broken client cannot do to a gateway listening on a public port.

Each test drives a real `gateway serve` process over raw sockets, with the limits made small
through the environment. The tests assert what happens (refused, cut off, still served), never
how long it took: every deadline below is a generous bound for a loaded machine, not a timing.
"""

from __future__ import annotations

import http.client
import json
import os
import select
import signal
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.configs import config_for
from tests.support.fake_upstream import FakeUpstream, Reply
from tests.support.gateways import Gateway
from tests.support.processes import GatewayProcess, serve_config, worker_serving
from tests.support.prometheus import sample
from tests.support.wire import parse_lines

# Small limits so a test sees them act; DEADLINE bounds every wait on the server.
TIMEOUTS = {"GATEWAY_HEADER_TIMEOUT_SECONDS": "1", "GATEWAY_BODY_TIMEOUT_SECONDS": "1"}
DEADLINE = 10.0
CHAT = {"model": "chat-model", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture(scope="module")
def server(
    _upstream_a: FakeUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayProcess]:
    """One gateway with small timeouts for the tests that only need those (it starts slowly)."""
    home = tmp_path_factory.mktemp("hostile")
    gateway = serve_config(config_for(_upstream_a), home, **TIMEOUTS)
    yield gateway
    gateway.stop()


# Loopback addresses of their own, so the gateway sees other clients than 127.0.0.1.
OTHER_CLIENT = "127.0.0.2"
PROBE = "127.0.0.3"


def connect(server: GatewayProcess, source: str = "127.0.0.1") -> socket.socket:
    return socket.create_connection(
        ("127.0.0.1", server.port), timeout=DEADLINE, source_address=(source, 0)
    )


def request_from(source: str, method: str, url: str, **options: Any) -> httpx.Response:
    """One request over a connection from `source`."""
    transport = httpx.HTTPTransport(local_address=source)
    with httpx.Client(transport=transport, timeout=DEADLINE) as client:
        return client.request(method, url, **options)


def still_open(sockets: list[socket.socket], expected: int) -> list[socket.socket]:
    """Those of `sockets` the server has not closed, once no more than `expected` are left
    (it closes a refused connection at once; DEADLINE bounds the wait on a loaded machine)."""
    open_ = set(sockets)
    deadline = time.monotonic() + DEADLINE
    while len(open_) > expected and time.monotonic() < deadline:
        readable, _, _ = select.select(list(open_), [], [], 0.1)
        for sock in readable:
            try:
                closed = sock.recv(1, socket.MSG_PEEK) == b""
            except ConnectionResetError:
                closed = True
            if closed:
                open_.discard(sock)
    return [sock for sock in sockets if sock in open_]


def send(sock: socket.socket, data: bytes) -> bool:
    """Send `data`; False when the server has already closed the connection."""
    try:
        sock.sendall(data)
    except (BrokenPipeError, ConnectionResetError):
        return False
    return True


def read_until_closed(sock: socket.socket, seconds: float) -> tuple[bytes, bool]:
    """What the server sends within `seconds`, and whether it closed the connection."""
    received = b""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            break
        except ConnectionResetError:
            return received, True
        if not chunk:
            return received, True
        received += chunk
    return received, False


def status(response: bytes) -> int | None:
    if not response.startswith(b"HTTP/1.1 "):
        return None
    return int(response.split(b" ", 2)[1])


def post_head(path: str, length: int) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nhost: gateway\r\ncontent-type: application/json\r\n"
        f"content-length: {length}\r\n\r\n"
    ).encode()


def test_an_oversized_header_line_is_refused_and_the_connection_closed(
    server: GatewayProcess,
) -> None:
    sock = connect(server)
    try:
        big = b"x-big: " + b"a" * 32 * 1024  # twice the default cap, on an open route
        send(sock, b"GET /health HTTP/1.1\r\nhost: gateway\r\n" + big + b"\r\n\r\n")
        response, closed = read_until_closed(sock, DEADLINE)
    finally:
        sock.close()
    assert status(response) in (400, 431), response[:200]
    assert closed


def test_a_header_line_that_never_ends_is_cut_off(server: GatewayProcess) -> None:
    sock = connect(server)
    try:
        send(sock, b"GET /health HTTP/1.1\r\nhost: gateway\r\nx-endless: ")
        piece = b"a" * 64 * 1024
        sent_everything = all(send(sock, piece) for _ in range(512))  # at most 32 MiB
        response, closed = read_until_closed(sock, DEADLINE if sent_everything else 1)
    finally:
        sock.close()
    assert not sent_everything or closed
    assert status(response) in (None, 400, 431)


def test_a_client_sending_header_lines_slowly_is_cut_off(server: GatewayProcess) -> None:
    sock = connect(server)
    response, closed = b"", False
    try:
        send(sock, b"GET /health HTTP/1.1\r\nhost: gateway\r\n")
        deadline = time.monotonic() + DEADLINE
        # Each line comes well within the timeout of the last: only a deadline on the whole
        # head stops this client.
        while not closed and time.monotonic() < deadline:
            if not send(sock, b"x-slow: 1\r\n"):
                closed = True
                break
            more, closed = read_until_closed(sock, 0.3)
            response += more
    finally:
        sock.close()
    assert closed
    assert status(response) in (None, 408), response[:200]


def test_a_client_sending_its_body_slowly_is_cut_off(server: GatewayProcess) -> None:
    body = json.dumps(CHAT).encode()
    sock = connect(server)
    response, closed = b"", False
    try:
        send(sock, post_head("/api/chat", len(body)) + body[:5])
        deadline = time.monotonic() + DEADLINE
        for byte in body[5:]:  # one byte every 2 s, as in the report
            more, closed = read_until_closed(sock, 2)
            response += more
            if closed or time.monotonic() > deadline:
                break
            if not send(sock, bytes([byte])):
                closed = True
                break
    finally:
        sock.close()
    assert closed
    assert status(response) == 408, response[:200]


def test_timeouts_cut_slow_senders_but_not_long_answers_or_idle_keep_alive(
    server: GatewayProcess, upstream: FakeUpstream
) -> None:
    slow_answer = Reply(chunks=[f"part{i} " for i in range(12)], chunk_delay=0.25)
    upstream.script(slow_answer)  # about 3 s: longer than both timeouts
    slowloris = connect(server)
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=DEADLINE)
    try:
        send(slowloris, b"GET /health HTTP/1.1\r\nhost: gateway\r\n")  # and nothing more
        connection.request(
            "POST", "/api/chat", json.dumps(CHAT), {"content-type": "application/json"}
        )
        answer = connection.getresponse()
        parts = parse_lines(answer.read().decode())
        kept_socket = connection.sock

        time.sleep(1.5)  # idle longer than the header timeout, within keep-alive
        connection.request("GET", "/health")
        health = connection.getresponse()
        health.read()
        reused = connection.sock is kept_socket
        response, closed = read_until_closed(slowloris, DEADLINE)
    finally:
        slowloris.close()
        connection.close()
    assert answer.status == 200
    assert "".join(p["textDelta"] for code, p in parts if code == "0") == slow_answer.text
    assert parts[-1][0] == "d" and parts[-1][1]["finishReason"] == "stop"
    assert closed and status(response) in (None, 408)
    assert health.status == 200 and reused


def test_connections_beyond_the_cap_are_refused_but_health_probes_are_answered(
    upstream: FakeUpstream, tmp_path: Path
) -> None:
    server = serve_config(
        config_for(upstream),
        tmp_path,
        GATEWAY_MAX_CONNECTIONS="3",
        GATEWAY_MAX_CONNECTIONS_PER_CLIENT="3",
        GATEWAY_HEADER_TIMEOUT_SECONDS="60",  # the idle connections must outlive the test
    )
    idle = [connect(server) for _ in range(3)]
    try:
        time.sleep(0.5)  # accepted (the server has no way to say so)
        extra = connect(server, OTHER_CLIENT)
        send(extra, b"GET /v1/models HTTP/1.1\r\nhost: gateway\r\n\r\n")
        refused, closed = read_until_closed(extra, DEADLINE)
        extra.close()
        assert status(refused) == 503, refused[:200]
        assert closed
        # A probe has places of its own beyond the cap: a full worker is not a dead one.
        for path in ("/health", "/health/ready"):
            assert request_from(PROBE, "GET", f"{server.url}{path}").status_code == 200, path

        idle.pop().close()  # a place frees up
        deadline = time.monotonic() + DEADLINE
        while request_from(OTHER_CLIENT, "GET", f"{server.url}/v1/models").status_code != 200:
            assert time.monotonic() < deadline, "the freed place was never given out"
            time.sleep(0.1)
    finally:
        for sock in idle:
            sock.close()
        server.stop()


def test_a_half_open_wave_from_one_client_leaves_health_and_other_clients_served(
    upstream: FakeUpstream, tmp_path: Path
) -> None:
    """The issue's wave, scaled down: three times the connection cap of half-open connections
    from one address used to make every other connection a 503 until the header timeout."""
    server = serve_config(
        config_for(upstream),
        tmp_path,
        GATEWAY_MAX_CONNECTIONS="100",
        GATEWAY_MAX_INCOMPLETE_HEADS_PER_CLIENT="16",
        GATEWAY_HEADER_TIMEOUT_SECONDS="60",  # the wave would outlive the test
    )
    wave: list[socket.socket] = []
    try:
        for _ in range(300):
            wave.append(connect(server))
            send(wave[-1], b"POST /api/chat HTTP/1.1\r\nhost: gateway\r\n")  # and no more
        upstream.default = Reply(chunks=["still", " served"])
        chat = request_from(OTHER_CLIENT, "POST", f"{server.url}/api/chat", json=CHAT)
        probes = [request_from(PROBE, "GET", f"{server.url}/health").status_code for _ in range(10)]
        held = still_open(wave, 16)  # GATEWAY_MAX_INCOMPLETE_HEADS_PER_CLIENT
        refused = sample(
            request_from(PROBE, "GET", f"{server.url}/metrics").text,
            "gateway_connections_refused_total",
            reason="incomplete_heads",
        )
    finally:
        for sock in wave:
            sock.close()
        server.stop()
    assert chat.status_code == 200 and parse_lines(chat.text)[0][1]["textDelta"] == "still"
    assert probes == [200] * 10
    assert len(held) == 16
    assert refused == 300 - 16


def test_a_client_at_its_connection_cap_gets_no_more_while_others_do(
    upstream: FakeUpstream, tmp_path: Path
) -> None:
    server = serve_config(config_for(upstream), tmp_path, GATEWAY_MAX_CONNECTIONS_PER_CLIENT="2")
    stalled = Reply(chunks=["late"], stall_before=1, stall_seconds=20)
    upstream.script(stalled, stalled)
    body = json.dumps(CHAT).encode()
    streams = [connect(server) for _ in range(2)]
    try:
        for sock in streams:  # complete requests: only the connection cap holds them back
            send(sock, post_head("/api/chat", len(body)) + body)
        deadline = time.monotonic() + DEADLINE
        while len(upstream.requests) < 2:
            assert time.monotonic() < deadline, "the streams never reached the upstream"
            time.sleep(0.05)
        third = connect(server)
        send(third, b"GET /v1/models HTTP/1.1\r\nhost: gateway\r\n\r\n")
        answer, closed = read_until_closed(third, DEADLINE)
        third.close()
        other = request_from(OTHER_CLIENT, "GET", f"{server.url}/v1/models")
    finally:
        for sock in streams:
            sock.close()
        server.stop()
    assert (answer, closed) == (b"", True)  # closed before it cost a place: nothing to answer
    assert other.status_code == 200


def test_a_trusted_proxy_s_connections_are_not_capped_by_its_address(
    upstream: FakeUpstream, tmp_path: Path
) -> None:
    config = config_for(upstream)
    config["gateway"] = {"rate_limit": {"trusted_proxies": ["127.0.0.1"]}}
    server = serve_config(
        config,
        tmp_path,
        GATEWAY_MAX_CONNECTIONS_PER_CLIENT="2",
        GATEWAY_MAX_INCOMPLETE_HEADS_PER_CLIENT="2",
        GATEWAY_HEADER_TIMEOUT_SECONDS="60",
    )
    waiting = [connect(server) for _ in range(5)]  # the proxy's clients, still sending
    try:
        for sock in waiting:
            send(sock, b"GET /v1/models HTTP/1.1\r\nhost: gateway\r\n")
        served = [
            httpx.get(
                f"{server.url}/v1/models",
                headers={"x-forwarded-for": f"198.51.100.{n}"},
                timeout=DEADLINE,
            ).status_code
            for n in range(3)
        ]
        # Answered after the five were accepted: had any been refused, it would be closed now.
        closed = select.select(waiting, [], [], 0)[0]
    finally:
        for sock in waiting:
            sock.close()
        server.stop()
    assert served == [200] * 3
    assert closed == []


def test_behind_a_trusted_proxy_each_forwarded_client_has_its_own_requests_in_flight(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream
) -> None:
    """The proxy's connections carry everyone, so they are not capped by address; the client
    each request is forwarded for is, once its head has said who it is."""
    config = config_for(upstream)
    config["gateway"] = {"rate_limit": {"trusted_proxies": ["127.0.0.1"]}}
    gateway = start_gateway(config, max_connections_per_client=2)
    stalled = Reply(chunks=["late"], stall_before=1, stall_seconds=20)
    upstream.script(stalled, stalled, Reply(chunks=["served"]))
    host, port = gateway.url.removeprefix("http://").split(":")
    body = json.dumps(CHAT).encode()
    busy = {"x-forwarded-for": "198.51.100.7"}
    holders = [socket.create_connection((host, int(port)), timeout=DEADLINE) for _ in range(2)]
    try:
        for sock in holders:
            head = post_head("/api/chat", len(body)).replace(b"\r\n\r\n", b"\r\n")
            send(sock, head + b"x-forwarded-for: 198.51.100.7\r\n\r\n" + body)
        deadline = time.monotonic() + DEADLINE
        while len(upstream.requests) < 2:
            assert time.monotonic() < deadline, "the streams never reached the upstream"
            time.sleep(0.05)
        third = gateway.client.post("/api/chat", json=CHAT, headers=busy)
        probe = gateway.client.get("/health", headers=busy)
        other = gateway.client.post(
            "/api/chat", json=CHAT, headers={"x-forwarded-for": "198.51.100.8"}
        )
    finally:
        for sock in holders:
            sock.close()
    assert third.status_code == 429, third.text
    assert third.json()["error"]["type"] == "too_many_requests_in_flight"
    assert probe.status_code == 200
    assert other.status_code == 200 and parse_lines(other.text)[0][1]["textDelta"] == "served"


@pytest.fixture(params=["h11", "httptools"])
def listener(request: pytest.FixtureRequest) -> tuple[str, int]:
    """Where a gateway listens, for each HTTP implementation it may run on: `gateway serve`
    runs uvicorn's h11 (gateway.serving.http_server); the app under plain uvicorn gets httptools."""
    if request.param == "h11":
        served: GatewayProcess = request.getfixturevalue("server")
        return "127.0.0.1", served.port
    gateway: Gateway = request.getfixturevalue("gateway_for")
    host, port = gateway.url.removeprefix("http://").split(":")
    return host, int(port)


@pytest.mark.parametrize(
    "framing",
    [
        b"content-length: 5\r\ntransfer-encoding: chunked\r\n",
        b"transfer-encoding: chunked\r\ncontent-length: 5\r\n",
        b"Content-Length: 0\r\nTransfer-Encoding: chunked\r\n",
    ],
)
def test_a_request_with_both_content_length_and_transfer_encoding_is_refused_and_closed(
    listener: tuple[str, int], framing: bytes
) -> None:
    """RFC 9112 section 6.1: the two framings disagree, so whatever follows on the connection
    could be read as a request the sender hid in a body (request smuggling)."""
    smuggled = b"GET /health HTTP/1.1\r\nhost: gateway\r\n\r\n"
    head = b"POST /api/chat HTTP/1.1\r\nhost: gateway\r\ncontent-type: application/json\r\n"
    with socket.create_connection(listener, timeout=DEADLINE) as sock:
        send(sock, head + framing + b"\r\n5\r\n{}{}{\r\n0\r\n\r\n" + smuggled)
        response, closed = read_until_closed(sock, DEADLINE)
    assert status(response) == 400, response[:200]
    assert response.count(b"HTTP/1.1 ") == 1, "the pipelined request was served"
    assert closed


def test_api_routes_never_redirect_to_the_client_host(gateway_for: Gateway) -> None:
    evil = {"host": "evil.example.com"}
    models = gateway_for.client.get("/v1/models/", headers=evil, follow_redirects=False)
    chat = gateway_for.client.post("/api/chat/", json=CHAT, headers=evil, follow_redirects=False)
    for response in (models, chat):
        assert response.status_code in (404, 405)
        assert "location" not in response.headers


def test_a_killed_worker_leaves_no_request_in_flight(
    upstream: FakeUpstream, tmp_path: Path
) -> None:
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    server = serve_config(
        config_for(upstream), tmp_path, "--workers", "2", PROMETHEUS_MULTIPROC_DIR=str(metrics_dir)
    )

    def in_flight() -> float:
        text = httpx.get(f"{server.url}/metrics", timeout=DEADLINE).text
        return sample(text, "gateway_requests_in_flight")

    upstream.script(Reply(chunks=["never"], stall_before=1, stall_seconds=30))
    client = connect(server)
    try:
        idle = in_flight()  # counts the scrape itself
        body = json.dumps(CHAT).encode()
        send(client, post_head("/api/chat", len(body)) + body)
        deadline = time.monotonic() + DEADLINE
        while not upstream.requests:
            assert time.monotonic() < deadline, "the stream never reached the upstream"
            time.sleep(0.05)
        assert in_flight() == idle + 1

        worker = worker_serving(server.process.pid, client.getsockname()[1], server.port)
        os.kill(worker, signal.SIGKILL)
        deadline = time.monotonic() + 3 * DEADLINE
        while (now := in_flight()) != idle:
            assert time.monotonic() < deadline, f"still {now} in flight after the worker died"
            time.sleep(0.2)
    finally:
        client.close()
        server.stop()
