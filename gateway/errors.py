"""Errors the gateway answers with, and the translation of provider failures into them.

Every error a client sees is a GatewayError: an HTTP status, a short machine-readable type and a
message that is safe to show (no keys, no credentials in URLs, no tracebacks).
"""

from __future__ import annotations

import re
from collections.abc import Iterable


class GatewayError(Exception):
    status: int = 500
    error_type: str = "internal_error"

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        error_type: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
        if error_type is not None:
            self.error_type = error_type
        self.headers = headers or {}

    def body(self) -> dict[str, dict[str, str]]:
        return {"error": {"type": self.error_type, "message": self.message}}


class InvalidRequest(GatewayError):
    status = 422
    error_type = "invalid_request"


class UnknownModel(GatewayError):
    status = 400
    error_type = "unknown_model"


class ModelUnavailable(GatewayError):
    """The model ID is mapped but cannot be called (for example its key variable is unset)."""

    status = 503
    error_type = "model_unavailable"


class BodyTooLarge(GatewayError):
    status = 413
    error_type = "request_too_large"


class UpstreamError(GatewayError):
    status = 502
    error_type = "upstream_error"


class UpstreamTimeout(GatewayError):
    status = 504
    error_type = "upstream_timeout"


_SECRET_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    # Provider key shapes (OpenAI/Anthropic style, Google).
    (re.compile(r"\b(?:sk|pk|rk)-[A-Za-z0-9_\-]{8,}"), "***"),
    (re.compile(r"\bAIza[0-9A-Za-z_\-]{20,}"), "***"),
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=\-]{6,}"), r"\1 ***"),
    (
        re.compile(r"(?i)\b((?:api[_-]?key|token|secret|password)\s*[=:]\s*)['\"]?[^\s'\",}&]+"),
        r"\1***",
    ),
    # Credentials inside URLs: scheme://user:pass@host
    (re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)[^/\s:@]+:[^/\s@]+@"), r"\1***@"),
]
_TRACEBACK = re.compile(r"Traceback \(most recent call last\):.*", re.DOTALL)
# LiteLLM appends router bookkeeping that says nothing useful to a frontend user.
_LITELLM_NOISE = re.compile(
    r"(Received Model Group=.*|Available Model Group Fallbacks=.*|LiteLLM Retried:.*"
    r"|Give Feedback / Get Help:.*|LiteLLM\.Info:.*)",
    re.DOTALL,
)
_MAX_MESSAGE = 500


def sanitize(message: str, secrets: Iterable[str] = ()) -> str:
    """Strip secrets, credentials and tracebacks from text that may reach a client or a log."""
    text = _TRACEBACK.sub("", message)
    text = _LITELLM_NOISE.sub("", text)
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    text = " ".join(text.split())
    if len(text) > _MAX_MESSAGE:
        text = text[: _MAX_MESSAGE - 1] + "…"
    return text or "the provider failed without a message"
