"""The HTTP/1.1 protocol the gateway serves with: uvicorn's h11 protocol plus the limits a
server on a public port needs.

Uvicorn's default protocol (httptools) has no cap on the request head and no read timeouts: a
200 MB header line is buffered whole, and a client that sends its head or body a byte at a time
holds its connection, and its buffers, forever. This protocol adds what nginx does by default:

- a cap on the request head (request line plus headers), answered 431 and closed;
- a request with both Content-Length and Transfer-Encoding answered 400 and closed (h11 would
  serve it and the requests after it on the connection);
- a deadline for the whole head, from the connection (or the first byte of a keep-alive
  request) to its last header: 408 and closed, or closed silently if nothing came at all;
- a limit on the pause between two reads of a request body: 408 and closed.

None of them can cut an answer: the body timeout stops with the request's last byte, so a
stream that runs for minutes is untouched, and an idle keep-alive connection keeps uvicorn's
own keep-alive timeout.

It also keeps one client from taking every place: each connection is counted against its
address (gateway.serving.peer_connections, handed over by the app in its lifespan state), and closed
at once when the address holds too many, or too many still sending their head. A request
beyond `GATEWAY_MAX_CONNECTIONS` is a 503, except a health probe: uvicorn's own cap
(`limit_concurrency`, see server.py) sits `GATEWAY_PROBE_CONNECTIONS` higher for them.

It is h11, not httptools, because h11 is pure Python that can be told a head limit and watched
event by event; bench/server_limits.py measures what that costs.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import h11
from uvicorn.config import Config
from uvicorn.protocols.http.flow_control import service_unavailable
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState

from gateway.observability import metrics
from gateway.serving.peer_connections import (
    PEER_CONNECTIONS,
    PROBE_PATHS,
    PeerConnections,
    PeerFull,
    Place,
)
from gateway.settings import Settings


@dataclass(frozen=True)
class ServerLimits:
    max_header_bytes: int
    header_timeout_seconds: float
    body_timeout_seconds: float
    max_connections: int

    @classmethod
    def from_settings(cls, settings: Settings) -> ServerLimits:
        return cls(
            settings.max_header_bytes,
            settings.header_timeout_seconds,
            settings.body_timeout_seconds,
            settings.max_connections,
        )


@functools.cache
def server_limits() -> ServerLimits:
    """This process's limits, read once from the same environment the app's settings come
    from (uvicorn builds protocols itself, in each worker, so they cannot be passed in)."""
    return ServerLimits.from_settings(Settings())


def _head_size(request: h11.Request) -> int:
    """Bytes of the request line and headers (h11 has dropped only optional whitespace)."""
    size = len(request.method) + len(request.target) + len(b" HTTP/1.1\r\n") + 1 + 2
    return size + sum(len(name) + len(value) + 4 for name, value in request.headers)


def _has_two_framings(request: h11.Request) -> bool:
    names = {name for name, _ in request.headers}  # h11 gives them lower-cased
    return b"content-length" in names and b"transfer-encoding" in names


class _WatchedConnection(h11.Connection):
    """h11's server connection that refuses what it should not accept and reports each event.

    h11 itself only limits an *incomplete* head, so a large head that arrives in one read
    would pass; the check on each parsed request closes that gap. h11 also takes a request
    with both Content-Length and Transfer-Encoding (chunked wins) and keeps the connection;
    RFC 9112 section 6.1 says to treat it as an error or close after it, since a proxy in
    front that believed Content-Length would read the rest as another request (smuggling).
    It is refused 400 and closed, as httptools does.
    """

    def __init__(self, max_head_bytes: int, on_event: Callable[[Any], None]) -> None:
        super().__init__(h11.SERVER, max_incomplete_event_size=max_head_bytes)
        self._max_head_bytes = max_head_bytes
        self._on_event = on_event
        self.refusal: h11.RemoteProtocolError | None = None

    def next_event(self) -> Any:
        try:
            event = super().next_event()
            if isinstance(event, h11.Request):
                if _head_size(event) > self._max_head_bytes:
                    raise h11.RemoteProtocolError("request head too large", error_status_hint=431)
                if _has_two_framings(event):
                    raise h11.RemoteProtocolError("Content-Length with Transfer-Encoding")
        except h11.RemoteProtocolError as exc:
            self.refusal = exc
            raise
        self._on_event(event)
        return event


class GatewayHttpProtocol(H11Protocol):
    """uvicorn's H11Protocol with a head cap, a head deadline, a body read timeout and caps
    per client address."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.limits = server_limits()
        self._watched = _WatchedConnection(self.limits.max_header_bytes, self._on_event)
        self.conn = self._watched
        self._head_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None
        self._place: Place | None = None
        # uvicorn runs each request with `self.app` (its own 503 app beyond its cap).
        self._app = self.app
        self.app = self._within_the_cap

    # --- the connection's life -------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        peers: PeerConnections | None = self.app_state.get(PEER_CONNECTIONS)
        if peers is not None and self.client is not None:
            try:
                self._place = peers.open(self.client[0])
            except PeerFull as full:
                # Nothing was asked yet, so nothing is answered; it never gets a place.
                metrics.CONNECTIONS_REFUSED.labels(full.reason).inc()
                transport.close()
                return
        self._head_timer = self.loop.call_later(
            self.limits.header_timeout_seconds, self._head_timed_out
        )

    def data_received(self, data: bytes) -> None:
        if self.transport.is_closing():  # refused, or done with: nothing more is read
            return
        super().data_received(data)
        # The first bytes of a keep-alive connection's next request start its head deadline
        # (an idle keep-alive connection is uvicorn's keep-alive timeout's business).
        if self._head_timer is None and self._awaiting_head() and not self.transport.is_closing():
            self._head_timer = self.loop.call_later(
                self.limits.header_timeout_seconds, self._head_timed_out
            )
            if self._place is not None:
                self._place.head_started()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timers()
        if self._place is not None:
            self._place.close()
        super().connection_lost(exc)

    async def _within_the_cap(self, scope: Any, receive: Any, send: Any) -> None:
        """The app, unless this worker is over GATEWAY_MAX_CONNECTIONS: then 503 and closed,
        except for a health probe, which uvicorn's own cap leaves room for."""
        over = len(self.connections) > self.limits.max_connections
        if over and scope["path"] not in PROBE_PATHS:
            metrics.CONNECTIONS_REFUSED.labels("connection_cap").inc()
            await service_unavailable(scope, receive, send)
            return
        await self._app(scope, receive, send)

    def _awaiting_head(self) -> bool:
        return self.conn.their_state is h11.IDLE and self.conn.our_state is h11.IDLE

    def _on_event(self, event: Any) -> None:
        """Called by the h11 connection for each event uvicorn is about to handle."""
        if isinstance(event, h11.Request):
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None
            if self._place is not None:
                self._place.head_done()
        elif event is h11.NEED_DATA:
            # Waiting for more of a body: the client has this long to send some.
            if self._body_timer is None and self.conn.their_state is h11.SEND_BODY:
                self._body_timer = self.loop.call_later(
                    self.limits.body_timeout_seconds, self._body_timed_out
                )
        elif isinstance(event, h11.Data | h11.EndOfMessage) and self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None

    def _cancel_timers(self) -> None:
        for timer in (self._head_timer, self._body_timer):
            if timer is not None:
                timer.cancel()
        self._head_timer = self._body_timer = None

    # --- refusals ----------------------------------------------------------------------------

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing() or not self._awaiting_head():
            return
        if self.conn.trailing_data[0]:
            self._log(
                "request head not complete within %g s: 408", self.limits.header_timeout_seconds
            )
            self._refuse(HTTPStatus.REQUEST_TIMEOUT)
        else:  # a connection that never said anything gets no answer, as nginx does
            self.conn.send(h11.ConnectionClosed())
            self.transport.close()

    def _body_timed_out(self) -> None:
        self._body_timer = None
        if self.transport.is_closing() or self.conn.their_state is not h11.SEND_BODY:
            return
        if self.flow.read_paused:  # the app is not reading; the client is not to blame
            self._body_timer = self.loop.call_later(
                self.limits.body_timeout_seconds, self._body_timed_out
            )
            return
        self._log(
            "request body paused for more than %g s: 408, closed", self.limits.body_timeout_seconds
        )
        cycle = self.cycle
        if cycle is not None:
            answer = not cycle.response_started
            # The app sees a disconnect, and anything it still sends goes nowhere.
            cycle.disconnected = True
            cycle.message_event.set()
            if answer:
                self._refuse(HTTPStatus.REQUEST_TIMEOUT)
                return
        self.transport.close()

    def send_400_response(self, msg: str) -> None:
        """uvicorn answers every unparseable head 400; an oversized one is a 431."""
        refusal = self._watched.refusal
        if refusal is not None and refusal.error_status_hint == 431:
            self._refuse(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE)
        else:
            super().send_400_response(msg)

    def _refuse(self, status: HTTPStatus) -> None:
        """Answer `status` and close, whatever state h11 is in (its own send may refuse)."""
        body = status.phrase.encode()
        head = (
            f"HTTP/1.1 {status.value} {status.phrase}\r\n"
            "content-type: text/plain; charset=utf-8\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
        )
        self.transport.write(head.encode() + body)
        self.transport.close()

    def _log(self, message: str, seconds: float) -> None:
        client = f"{self.client[0]}:{self.client[1]} - " if self.client else ""
        self.logger.info(client + message, seconds)
