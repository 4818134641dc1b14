"""Requests in flight per client address, so that no one client behind a proxy takes every place.

The HTTP protocol caps connections per socket address (gateway.serving.peer_connections), but a
trusted proxy's connections carry everyone: the client behind it is only known from a
complete head, as `X-Forwarded-For` names it. Here, with the head read, each client address
(the forwarded one behind a trusted proxy, the same one the rate limits count) may have
`GATEWAY_MAX_CONNECTIONS_PER_CLIENT` requests in flight in this worker; one more is a 429
`too_many_requests_in_flight`. Health probes are not counted: they have headroom of their own.
Pure ASGI, so a stream holds its place until its last byte and adds nothing per chunk.

It runs before the request is routed, so before its lease: `trusts` is the serving config's
`rate_limit.trusts`, read as the request arrives (create_app wires it).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.doors.common.admission import client_address
from gateway.doors.common.error_responses import gateway_error_response
from gateway.errors import TooManyRequestsInFlight
from gateway.serving.peer_connections import PROBE_PATHS


class ClientConcurrency:
    def __init__(self, app: ASGIApp, max_requests: int, trusts: Callable[[str], bool]) -> None:
        self.app = app
        self.max_requests = max_requests
        self.trusts = trusts
        self._in_flight: Counter[str] = Counter()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in PROBE_PATHS:
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        address = client_address(request, self.trusts)
        if self._in_flight[address] >= self.max_requests:
            refusal = TooManyRequestsInFlight(
                f"this client has {self._in_flight[address]} requests in flight, the most one "
                "client may; wait for one to finish"
            )
            await gateway_error_response(request, refusal)(scope, receive, send)
            return
        self._in_flight[address] += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self._in_flight[address] -= 1
            if not self._in_flight[address]:
                del self._in_flight[address]
