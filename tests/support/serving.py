"""Run ASGI apps on real loopback sockets from synchronous tests.

Everything served in a test session shares one background event loop: LiteLLM caches HTTP
clients that are bound to the loop that made them, so one loop keeps them valid across apps.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

import uvicorn

T = TypeVar("T")


class BackgroundLoop:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="test-loop", daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)


def free_socket() -> socket.socket:
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets created with it, and
    # without that every reused connection waits ~40 ms for delayed ACKs.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


async def serve_lifespan(receive: Any, send: Any) -> None:
    """The ASGI lifespan protocol for raw test apps that need no start-up work."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


class ServedApp:
    """One ASGI app behind uvicorn on a port of its own, started and stopped on demand."""

    def __init__(self, loop: BackgroundLoop, app: Any) -> None:
        self._loop = loop
        self._app = app
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Future[None] | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        sock = free_socket()
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self._app,
            interface="asgi3",
            log_level="warning",
            lifespan="on",
            timeout_graceful_shutdown=1,
            proxy_headers=False,  # as `gateway serve` runs it
            # Far above any gap between tests: a pooled connection the server closed after its
            # idle time, reused by LiteLLM at that very moment, would fail a request at random.
            timeout_keep_alive=75,
        )
        self._server = uvicorn.Server(config)
        self._task = asyncio.run_coroutine_threadsafe(self._serve(sock), self._loop.loop)
        self._loop.run(self._wait_started())

    async def _serve(self, sock: socket.socket) -> None:
        assert self._server is not None
        # uvicorn calls sys.exit on a start-up failure; keep the shared loop alive.
        with contextlib.suppress(SystemExit):
            await self._server.serve(sockets=[sock])

    async def _wait_started(self) -> None:
        assert self._server is not None
        for _ in range(500):
            if self._server.started:
                return
            if self._task is not None and self._task.done():
                break
            await asyncio.sleep(0.01)
        raise RuntimeError("server did not start")

    def stop(self) -> None:
        if self._server is None or self._task is None:
            return
        self._server.should_exit = True
        self._task.result(10)
        self._server = None
