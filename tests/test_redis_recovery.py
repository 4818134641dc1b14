"""After Redis restarts, the gateway's pooled connections are dead; the next use must not fail.

Each test makes the gateway use its Redis connection pools, restarts Redis, and checks that the
very next request is served by Redis (a cache `miss` that was stored, a limit counted in Redis)
rather than degraded (`bypass`, per-process counting). Two kinds of restart: redis-server
restarted on the same port (the gateway's sockets get a FIN), and a restart whose FIN never
reached the gateway (a proxy that silently forgets its connections and resets them on next use,
as a replaced container or a NAT does), which redis-py's pool cannot see before it sends.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from collections.abc import Callable, Iterator

import pytest
import redis

from tests.support.configs import config_for
from tests.support.fake_upstream import FakeUpstream
from tests.support.gateways import Gateway
from tests.support.redis_server import RedisServer
from tests.support.serving import free_socket

QUESTION = [{"role": "user", "content": "Suggest a title for a restart"}]


class ForgetfulProxy:
    """A TCP proxy to Redis whose `forget()` drops every connection without telling the client.

    The client's socket stays open (no FIN arrives); the next bytes it sends are answered with
    a reset. Connections made after `forget()` are proxied normally.
    """

    def __init__(self, target_port: int) -> None:
        self._target_port = target_port
        self._listener = free_socket()
        self._listener.listen(64)
        self.port = int(self._listener.getsockname()[1])
        self._generation = 0
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def forget(self) -> None:
        with self._lock:
            self._generation += 1

    def stop(self) -> None:
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in [self._listener, *sockets]:
            with contextlib.suppress(OSError):
                sock.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self._target_port))
            with self._lock:
                self._sockets += [client, server]
                generation = self._generation
            threading.Thread(
                target=self._up, args=(client, server, generation), daemon=True
            ).start()
            threading.Thread(target=self._down, args=(server, client), daemon=True).start()

    def _up(self, client: socket.socket, server: socket.socket, generation: int) -> None:
        while True:
            try:
                data = client.recv(65536)
            except OSError:
                return
            if data and generation != self._generation:
                # A connection this proxy forgot: reset it, and let the server side go quietly.
                client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                client.close()
                server.close()
                return
            if not data:
                server.close()
                return
            server.sendall(data)

    def _down(self, server: socket.socket, client: socket.socket) -> None:
        # Never closes the client: only `_up` ends a connection, and a forgotten one with a reset.
        while True:
            try:
                data = server.recv(65536)
                if not data:
                    return
                client.sendall(data)
            except OSError:
                return


@pytest.fixture
def private_redis() -> Iterator[RedisServer]:
    server = RedisServer().start()
    yield server
    server.stop()


@pytest.fixture
def forgetful_proxy(private_redis: RedisServer) -> Iterator[ForgetfulProxy]:
    proxy = ForgetfulProxy(private_redis.port)
    yield proxy
    proxy.stop()


def cached_gateway(start: Callable[..., Gateway], upstream: FakeUpstream, url: str) -> Gateway:
    config = config_for(upstream, gateway={"cache": {"ttl": 60, "models": ["chat-model"]}})
    return start(config, redis_url=url)


def limited_gateway(start: Callable[..., Gateway], upstream: FakeUpstream, url: str) -> Gateway:
    config = config_for(upstream, gateway={"rate_limit": {"default": "100/minute"}})
    return start(config, redis_url=url)


def test_the_cache_answers_from_redis_right_after_a_restart(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream, private_redis: RedisServer
) -> None:
    gateway = cached_gateway(start_gateway, upstream, private_redis.url)
    assert gateway.chat(messages=QUESTION).headers["x-cache"] == "miss"  # read and stored
    assert gateway.chat(messages=QUESTION).headers["x-cache"] == "hit"

    private_redis.restart()  # the stored answer is gone with the old process

    after = gateway.chat(messages=QUESTION)
    assert after.status_code == 200
    assert after.headers["x-cache"] == "miss"  # the store answered; `bypass` if it failed
    assert gateway.chat(messages=QUESTION).headers["x-cache"] == "hit"  # and stored it


def test_rate_limits_count_in_redis_right_after_a_restart(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream, private_redis: RedisServer
) -> None:
    gateway = limited_gateway(start_gateway, upstream, private_redis.url)
    assert gateway.chat().headers["x-ratelimit-remaining"] == "99"

    private_redis.restart()  # the counts are gone with the old process

    assert gateway.chat().status_code == 200
    assert gateway.client.get("/health/ready").json()["rate_limit_store"] == "redis"
    assert redis.Redis.from_url(private_redis.url).keys("LIMITS*")  # counted in the new Redis


def test_the_cache_answers_after_a_restart_it_never_heard_of(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream, forgetful_proxy: ForgetfulProxy
) -> None:
    gateway = cached_gateway(start_gateway, upstream, forgetful_proxy.url)
    question = [{"role": "user", "content": "Suggest a title for a silent restart"}]
    assert gateway.chat(messages=question).headers["x-cache"] == "miss"

    forgetful_proxy.forget()

    assert gateway.chat(messages=question).headers["x-cache"] == "hit"  # not `bypass`


def test_rate_limits_count_in_redis_after_a_restart_they_never_heard_of(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream, forgetful_proxy: ForgetfulProxy
) -> None:
    gateway = limited_gateway(start_gateway, upstream, forgetful_proxy.url)
    assert gateway.chat().headers["x-ratelimit-remaining"] == "99"

    forgetful_proxy.forget()

    after = gateway.chat()
    assert after.headers["x-ratelimit-remaining"] == "98"  # the shared count went on
    assert gateway.client.get("/health/ready").json()["rate_limit_store"] == "redis"
