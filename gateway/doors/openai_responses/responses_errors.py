"""The Responses door's errors. Before the first byte they are OpenAI's shape, as on every /v1
path (gateway/doors/openai_chat/openai_errors.py); after it, an `error` stream event names
the gateway's own type, and the `response.failed` that follows holds one of OpenAI's closed
list of `response.error.code`s."""

from __future__ import annotations

from typing import Any

from gateway.events import ErrorEvent

# OpenAI's `response.error.code` is a closed list: the gateway's own type goes in `error` events.
_FAILED_CODES = {
    "rate_limited": "rate_limit_exceeded",
    "upstream_rate_limited": "rate_limit_exceeded",
}


def stream_error(event: ErrorEvent) -> dict[str, Any]:
    """The `error` stream event (without its sequence number)."""
    return {"type": "error", "code": event.error_type, "message": event.message, "param": None}


def failed_error(event: ErrorEvent) -> dict[str, Any]:
    """The `error` of a failed response object."""
    return {"code": _FAILED_CODES.get(event.error_type, "server_error"), "message": event.message}
