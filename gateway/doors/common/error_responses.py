"""Every error leaves the gateway with a fitting status, in the shape of the door it came in by:
`{"error": {"type", "message"}}` for the frontend's, OpenAI's for /v1, and a door's own where it
registered one (Anthropic's, gateway/doors/anthropic/anthropic_errors.py). A
client's mistake names the field: its message starts with it, and OpenAI's `param` holds it."""

from __future__ import annotations

import logging
from typing import Any, Protocol

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.doors.common.door_routes import Door, door_of
from gateway.doors.common.json_body import field_path
from gateway.doors.common.openai_errors import openai_error
from gateway.doors.common.request_models import UNION_TAGS
from gateway.errors import GatewayError
from gateway.validation_problems import Wording, field_problems

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


# Where FastAPI found a value: not part of the field's name.
_LOCATION_KINDS = ("body", "query", "path", "header", "cookie")

_CLIENT_WORDS = Wording(by_type={"missing": "field required"})


def gateway_error(
    status: int, error_type: str, message: str, param: str | None = None
) -> tuple[int, dict[str, Any]]:
    """The gateway's own shape, in both phases' words: its message starts with the field,
    `param` is not repeated."""
    return status, {"error": {"type": error_type, "message": message}}


def describe_validation_errors(errors: list[Any]) -> tuple[str, str]:
    """The first field named, and one readable line per problem: `messages[0].role: ...`."""
    lines = []
    fields = []
    for problem in field_problems(errors, _CLIENT_WORDS, limit=10):
        loc = list(problem.loc)
        if loc and loc[0] in _LOCATION_KINDS:
            loc = loc[1:]
        # Pydantic puts union tags into locations; they name no field of the client's.
        parts = [part for part in loc if not (isinstance(part, str) and part in UNION_TAGS)]
        # A check of the whole body names the field it found wrong in its context.
        where = problem.context.get("param") or field_path(parts)
        fields.append(where)
        lines.append(f"{where}: {problem.message}")
    return (fields[0] if fields else "body"), "; ".join(dict.fromkeys(lines))


class ErrorShape(Protocol):
    """How one door says an error before the first byte: the status and body (its stream's
    error part, after the first byte, is the same shape's: each door's *_errors module)."""

    def __call__(
        self, status: int, error_type: str, message: str, param: str | None = None
    ) -> tuple[int, dict[str, Any]]: ...


# The shapes shared by several doors; a door with a shape of its own registers it (app.py wires
# door_list.ERROR_SHAPES in), so what doors share imports no door.
_RENDERERS: dict[Door, ErrorShape] = {"gateway": gateway_error, "openai": openai_error}


def register_error_shape(door: Door, shape: ErrorShape) -> None:
    _RENDERERS[door] = shape


def render_error(
    door: Door,
    status: int,
    error_type: str,
    message: str,
    headers: dict[str, str] | None = None,
    param: str | None = None,
) -> JSONResponse:
    status, body = _RENDERERS[door](status, error_type, message, param)
    return JSONResponse(body, status_code=status, headers=headers)


def gateway_error_response(request: Request, exc: GatewayError) -> JSONResponse:
    """`exc` in the shape of the door `request` came in by."""
    door = door_of(request)
    return render_error(door, exc.status, exc.error_type, exc.message, exc.headers, exc.param)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(GatewayError)
    async def _gateway_error(request: Request, exc: GatewayError) -> JSONResponse:
        return gateway_error_response(request, exc)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        param, message = describe_validation_errors(list(exc.errors()))
        return render_error(door_of(request), 422, "invalid_request", message, None, param)

    @app.exception_handler(HTTPException)
    async def _http_error(request: Request, exc: HTTPException) -> JSONResponse:
        message = exc.detail if isinstance(exc.detail, str) else "request failed"
        error_type = _HTTP_ERROR_TYPES.get(exc.status_code, "http_error")
        return render_error(door_of(request), exc.status_code, error_type, message, exc.headers)


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
            await render_error(door_of(request), 500, "internal_error", message)(
                scope, receive, send
            )
