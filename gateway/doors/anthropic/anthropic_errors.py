"""Anthropic's error shape, in both phases: before the first byte, the status and
`{"type": "error", "error": {"type", "message"}}`; after it, the stream's `error` event with the
same body. The error type is chosen by status (carried by the error event after the first byte).
Pure: the encoder uses it, and error_responses.py makes the HTTP response of it."""

from __future__ import annotations

from typing import Any

from gateway.events import ErrorEvent

# Anthropic's error types by status (platform.claude.com/docs/en/api/errors); any other 4xx is
# `invalid_request_error`, any other 5xx `api_error`.
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}


def anthropic_error_type(status: int, error_type: str) -> str:
    """Anthropic's `error.type` for one of the gateway's errors."""
    if error_type == "model_cooling_down":
        return "overloaded_error"  # every deployment is out for a while: Anthropic's 529 case
    return ERROR_TYPES.get(status) or ("api_error" if status >= 500 else "invalid_request_error")


def _body(status: int, error_type: str, message: str) -> dict[str, Any]:
    error = {"type": anthropic_error_type(status, error_type), "message": message}
    return {"type": "error", "error": error}


def anthropic_error(
    status: int, error_type: str, message: str, param: str | None = None
) -> tuple[int, dict[str, Any]]:
    """Before the first byte: the status and body (no `param`: the message names the field;
    a 422 is Anthropic's 400)."""
    status = 400 if status == 422 else status
    return status, _body(status, error_type, message)


def anthropic_stream_error(event: ErrorEvent) -> dict[str, Any]:
    """After the first byte: the `error` event's data."""
    return _body(event.status, event.error_type, event.message)
