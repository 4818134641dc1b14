"""POST /mcp: the gateway as one MCP server over streamable HTTP (gateway/doors/mcp_endpoint/).

Behind what every door is behind (DOOR_DEPENDENCIES: the engine leased first, then the key, 401
without one; the body limit; the request log), then:
- an `Origin` header must be one of GATEWAY_CORS_ORIGINS (the MCP transport's guard against DNS
  rebinding: a web page must not reach a gateway on localhost), else 403;
- each `tools/call` counts as one request of the client against its rate limit (the key's own
  `rate_limit`, else `gateway.rate_limit.default`), 429 with Retry-After when over; listing
  does not count;
- the SDK answers the JSON-RPC (mcp_server.py): a body that is not JSON-RPC is its error.
GET and DELETE are 405: a stateless server has no stream to open and no session to end.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request, Response
from mcp.server import Server
from starlette.types import Message, Receive, Scope, Send

from gateway.doors.common.admission import count_request
from gateway.doors.common.dependencies import DOOR_DEPENDENCIES, AdmissionDep
from gateway.doors.common.door_routes import door_router
from gateway.doors.mcp_endpoint.mcp_offer import tools_for_key
from gateway.doors.mcp_endpoint.mcp_server import request_server, serve
from gateway.errors import OriginNotAllowed
from gateway.settings import Settings

router = door_router("mcp", dependencies=DOOR_DEPENDENCIES)

# Per-model limits do not apply to a tool call: it calls no model.
NO_MODEL = ""


@router.post("/mcp")
async def mcp_endpoint(request: Request, admission: AdmissionDep) -> Response:
    _check_origin(request, admission.settings)
    body = await request.body()  # within the body limit, or a 413 before the SDK sees it
    method = _method_of(body)
    log_fields: dict[str, Any] = {"mcp_method": method}
    request.state.log_fields = log_fields
    headers: dict[str, str] = {}
    if method == "tools/call":
        headers = await count_request(admission.limiter, admission.key, admission.client, NO_MODEL)
    served = tools_for_key(admission.engine, admission.key)
    server = request_server(admission.engine, served, log_fields)
    return _McpAnswer(server, body, headers, admission.settings.max_body_bytes)


def _check_origin(request: Request, settings: Settings) -> None:
    origin = request.headers.get("origin")
    if origin is None or origin in settings.cors_origins or "*" in settings.cors_origins:
        return
    raise OriginNotAllowed(
        f"Origin {origin[:200]!r} may not use /mcp; allowed: "
        f"{', '.join(settings.cors_origins) or 'none'} (GATEWAY_CORS_ORIGINS)"
    )


def _method_of(body: bytes) -> str | None:
    """The JSON-RPC method, for the limits and the log (the SDK parses the body itself)."""
    try:
        message = json.loads(body)
    except (ValueError, RecursionError):
        return None
    method = message.get("method") if isinstance(message, dict) else None
    return method[:100] if isinstance(method, str) else None


class _McpAnswer(Response):
    """The SDK's answer, written as it writes it: FastAPI sends a Response by calling it, within
    the request (so the engine's lease is held until the answer is sent)."""

    def __init__(
        self, server: Server[Any], body: bytes, headers: dict[str, str], max_body_bytes: int
    ) -> None:
        super().__init__(headers=headers)
        self._server = server
        self._body = body
        self._max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # What FastAPI and the route set (the rate-limit headers), less the empty body's length.
        extra = [(name, value) for name, value in self.raw_headers if name != b"content-length"]
        replayed = False

        async def receive_body() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": self._body, "more_body": False}
            return await receive()

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await serve(self._server, self._max_body_bytes, scope, receive_body, send_with_headers)
        if self.background is not None:
            await self.background()
