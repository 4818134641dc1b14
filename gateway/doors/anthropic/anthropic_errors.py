"""Anthropic's error shape before the first byte: `{"type": "error", "error": {"type", "message"}}`
(the error types by status are the wire's, in anthropic_encoder.py, which the stream's `error`
event uses too)."""

from __future__ import annotations

from fastapi.responses import JSONResponse

from gateway.doors.anthropic.anthropic_encoder import anthropic_error_type


def anthropic_error_response(
    status: int,
    error_type: str,
    message: str,
    headers: dict[str, str] | None = None,
    param: str | None = None,
) -> JSONResponse:
    """Anthropic's error shape and status conventions, for clients of the Messages door (it has
    no `param`: the message names the field)."""
    if status == 422:
        status = 400
    kind = anthropic_error_type(status, error_type)
    body = {"type": "error", "error": {"type": kind, "message": message}}
    return JSONResponse(body, status_code=status, headers=headers)
