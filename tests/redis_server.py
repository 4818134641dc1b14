"""A real redis-server on a free loopback port, owned by the test session (never 6379)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time

import redis

from tests.serving import free_socket


class RedisServer:
    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
        self._binary = binary
        self._dir = tempfile.mkdtemp(prefix="gateway-redis-")
        sock = free_socket()
        self.port = sock.getsockname()[1]
        sock.close()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        self._process = subprocess.Popen(
            [
                self._binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                self._dir,
                "--daemonize",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2)
        for _ in range(250):
            try:
                if client.ping():
                    return self
            except redis.ConnectionError:
                time.sleep(0.02)
        raise RuntimeError("redis-server did not answer PING")

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(5)
            self._process = None

    def restart(self) -> RedisServer:
        """A new redis-server process on the same port: clients' pooled connections are dead."""
        self.stop()
        return self.start()
