"""OpenAI's error shape, shared by the /v1 doors (chat completions, Responses, embeddings), in
both phases: before the first byte, the status and `{"error": {"message", "type", "param",
"code"}}`; after it, the same object as a chat-completion stream's `data:` chunk (the Responses
stream has events of its own: openai_responses/responses_errors.py). `code` is the gateway's
own error type; `type` is OpenAI's. Pure: encoders use it."""

from __future__ import annotations

from typing import Any

from gateway.events import ErrorEvent


def openai_error_type(status: int) -> str:
    """OpenAI's `error.type` for a status before the first byte."""
    named = {401: "authentication_error", 429: "rate_limit_error"}.get(status)
    return named or ("invalid_request_error" if status < 500 else "api_error")


def openai_error(
    status: int, error_type: str, message: str, param: str | None = None
) -> tuple[int, dict[str, Any]]:
    """Before the first byte: the status (a 422 is OpenAI's 400) and body."""
    status = 400 if status == 422 else status
    body = {
        "message": message,
        "type": openai_error_type(status),
        "param": param,
        "code": error_type,
    }
    return status, {"error": body}


def openai_stream_error(event: ErrorEvent) -> dict[str, Any]:
    """After the first byte: the chunk a chat-completion stream ends with. Its `type` is always
    `api_error`: the answer is under way (status 200), so the SDKs raise an APIError for it."""
    error = {"message": event.message, "type": "api_error", "param": None, "code": event.error_type}
    return {"error": error}
