"""Every error leaves the gateway as `{"error": {"type", "message"}}` with a fitting status."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from gateway.errors import GatewayError

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
        loc = [part for part in err.get("loc", ()) if part != "body"]
        if err.get("type") == "json_invalid":
            lines.append("the request body is not valid JSON")
            continue
        where = ""
        for part in loc:
            where += f"[{part}]" if isinstance(part, int) else (f".{part}" if where else str(part))
        message = "field required" if err.get("type") == "missing" else err.get("msg", "invalid")
        lines.append(f"{where}: {message}" if where else message)
    return "; ".join(dict.fromkeys(lines))


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(GatewayError)
    async def _gateway_error(request: Request, exc: GatewayError) -> JSONResponse:
        return error_response(exc.status, exc.error_type, exc.message, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(
            422, "invalid_request", describe_validation_errors(list(exc.errors()))
        )

    @app.exception_handler(HTTPException)
    async def _http_error(request: Request, exc: HTTPException) -> JSONResponse:
        message = exc.detail if isinstance(exc.detail, str) else "request failed"
        error_type = _HTTP_ERROR_TYPES.get(exc.status_code, "http_error")
        return error_response(exc.status_code, error_type, message, exc.headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Our bug, not the client's: log the traceback here, say nothing of it on the wire.
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(500, "internal_error", "the gateway failed to handle this request")
