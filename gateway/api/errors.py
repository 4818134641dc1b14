"""Every error leaves the gateway with a fitting status, in the shape of the door it came in by:
`{"error": {"type", "message"}}` for the frontend's, OpenAI's and Anthropic's for theirs."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.api.doors import door_of
from gateway.api.schemas import MESSAGE_SHAPE_TAGS
from gateway.errors import GatewayError
from gateway.protocols.anthropic_messages import anthropic_error_type

log = logging.getLogger("gateway.api")

_HTTP_ERROR_TYPES = {
    400: "bad_request",
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    413: "request_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}


# Location parts that name pydantic's machinery rather than the client's fields.
_LOCATION_NOISE = {"body", *MESSAGE_SHAPE_TAGS}


def error_response(
    status: int, error_type: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"error": {"type": error_type, "message": message}}, status_code=status, headers=headers
    )


def describe_validation_errors(errors: list[Any]) -> str:
    """One readable line per problem, naming the field: `messages[0].role: ...`."""
    lines = []
    for err in errors[:10]:
        loc = [part for part in err.get("loc", ()) if part not in _LOCATION_NOISE]
        if err.get("type") == "json_invalid":
            lines.append("the request body is not valid JSON")
            continue
        where = ""
        for part in loc:
            where += f"[{part}]" if isinstance(part, int) else (f".{part}" if where else str(part))
        message = "field required" if err.get("type") == "missing" else err.get("msg", "invalid")
        lines.append(f"{where}: {message}" if where else message)
    return "; ".join(dict.fromkeys(lines))


def openai_error_response(
    status: int, error_type: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    """OpenAI's error shape and status conventions, for clients of the /v1 door."""
    if status == 422:
        status = 400
    openai_type = {401: "authentication_error", 429: "rate_limit_error"}.get(status)
    if openai_type is None:
        openai_type = "invalid_request_error" if status < 500 else "api_error"
    body = {"message": message, "type": openai_type, "param": None, "code": error_type}
    return JSONResponse({"error": body}, status_code=status, headers=headers)


def anthropic_error_response(
    status: int, error_type: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    """Anthropic's error shape and status conventions, for clients of the Messages door."""
    if status == 422:
        status = 400
    kind = anthropic_error_type(status, error_type)
    body = {"type": "error", "error": {"type": kind, "message": message}}
    return JSONResponse(body, status_code=status, headers=headers)


_RENDERERS = {
    "gateway": error_response,
    "openai": openai_error_response,
    "anthropic": anthropic_error_response,
}


def _respond(
    request: Request, status: int, error_type: str, message: str, headers: dict[str, str] | None
) -> JSONResponse:
    return _RENDERERS[door_of(request)](status, error_type, message, headers)


def gateway_error_response(request: Request, exc: GatewayError) -> JSONResponse:
    """`exc` in the shape of the door `request` came in by."""
    return _respond(request, exc.status, exc.error_type, exc.message, exc.headers)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(GatewayError)
    async def _gateway_error(request: Request, exc: GatewayError) -> JSONResponse:
        return gateway_error_response(request, exc)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        message = describe_validation_errors(list(exc.errors()))
        return _respond(request, 422, "invalid_request", message, None)

    @app.exception_handler(HTTPException)
    async def _http_error(request: Request, exc: HTTPException) -> JSONResponse:
        message = exc.detail if isinstance(exc.detail, str) else "request failed"
        error_type = _HTTP_ERROR_TYPES.get(exc.status_code, "http_error")
        return _respond(request, exc.status_code, error_type, message, exc.headers)


class UnexpectedErrors:
    """The gateway's own bugs answered 500 `internal_error`, inside the request log and CORS.

    Starlette's handler for `Exception` runs outside every middleware and re-raises: the request
    log saw an exception and wrote 499, the answer had no `x-request-id` and no CORS headers,
    and uvicorn, seeing the exception after the answer, closed the keep-alive connection.
    Answered here, the exception ends here. One raised after the answer started is re-raised:
    only closing the connection tells the client its answer was cut short (the request log
    says 500).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watched_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watched_send)
        except Exception:
            if started:
                raise
            # Our bug, not the client's: log the traceback here, say nothing of it on the wire.
            request = Request(scope)
            log.exception("unhandled error on %s %s", request.method, request.url.path)
            message = "the gateway failed to handle this request"
            await _respond(request, 500, "internal_error", message, None)(scope, receive, send)
