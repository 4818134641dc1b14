"""The catalogue of errors a client can see: one class per kind, with its status and type.

Every error a client sees is a GatewayError: an HTTP status, a short machine-readable type and a
message that is safe to show (no keys, no credentials in URLs, no tracebacks). A client's mistake
also names the field (`param`: `messages[0].content`, or `body` for the whole body), which its
message starts with. Before the first byte it is the response's status and body; after it, an
error part with the same type. The door decides the wire shape (the gateway's own, OpenAI's,
Anthropic's); the README's error table is checked against this catalogue by a test.
"""

from __future__ import annotations

from gateway.events import ErrorEvent
from gateway.redaction import sanitize

__all__ = ["sanitize"]  # kept here too: error text and scrubbing go together


class GatewayError(Exception):
    status: int = 500
    error_type: str = "internal_error"
    # Some errors can only happen once an answer has started: they are never a status.
    mid_stream_only: bool = False

    def __init__(
        self, message: str, *, headers: dict[str, str] | None = None, param: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.headers = headers or {}
        self.param = param

    def as_event(self) -> ErrorEvent:
        """This error after the first byte: the error part of a stream, with its status."""
        return ErrorEvent(self.message, self.error_type, self.status)


# --- the client's mistakes -------------------------------------------------------------------


class UnknownProtocol(GatewayError):
    status = 400
    error_type = "unknown_protocol"


class UnknownModel(GatewayError):
    """Not a model ID of the YAML, or not one the client's key may use: the same 404 either
    way, so a key cannot learn which IDs exist beyond its own."""

    status = 404
    error_type = "unknown_model"


class WrongModelMode(GatewayError):
    """The model ID answers another kind of request (`model_info.mode`): an embedding model on a
    chat door, a chat model on /v1/embeddings."""

    status = 400
    error_type = "wrong_model_mode"


class Unauthorized(GatewayError):
    status = 401
    error_type = "unauthorized"

    def __init__(self, message: str) -> None:
        super().__init__(message, headers={"WWW-Authenticate": "Bearer"})


class AdminDisabled(GatewayError):
    status = 403
    error_type = "admin_disabled"


class OriginNotAllowed(GatewayError):
    """A browser page from an origin the gateway does not serve, on /mcp (the MCP transport's
    guard against DNS rebinding)."""

    status = 403
    error_type = "origin_not_allowed"


class RequestTooLarge(GatewayError):
    status = 413
    error_type = "request_too_large"


class UnsupportedMediaType(GatewayError):
    """A request body that is not sent as JSON (`Content-Type: application/json`)."""

    status = 415
    error_type = "unsupported_media_type"


class InvalidRequest(GatewayError):
    status = 422
    error_type = "invalid_request"


class RateLimited(GatewayError):
    status = 429
    error_type = "rate_limited"


class TooManyRequestsInFlight(GatewayError):
    """The client address has GATEWAY_MAX_CONNECTIONS_PER_CLIENT requests running already."""

    status = 429
    error_type = "too_many_requests_in_flight"


class TokenBudgetExceeded(GatewayError):
    status = 429
    error_type = "token_budget_exceeded"


class BudgetExceeded(GatewayError):
    """The key's spend budget in money (`max_budget` per `budget_duration`) is used up."""

    status = 429
    error_type = "budget_exceeded"


# --- what the provider said ------------------------------------------------------------------


class UpstreamBadRequest(GatewayError):
    """The provider refused this request's content (not the gateway's credentials)."""

    status = 400
    error_type = "upstream_bad_request"


class ContextWindowExceeded(GatewayError):
    status = 400
    error_type = "context_window_exceeded"


class UpstreamRateLimited(GatewayError):
    status = 429
    error_type = "upstream_rate_limited"


class UpstreamError(GatewayError):
    status = 502
    error_type = "upstream_error"


class UpstreamIncomplete(GatewayError):
    """The provider's answer ended without saying how (no finish): it may be cut short."""

    status = 502
    error_type = "upstream_incomplete"


class UpstreamTimeout(GatewayError):
    status = 504
    error_type = "upstream_timeout"


# --- what this gateway cannot do now ---------------------------------------------------------


class ModelUnavailable(GatewayError):
    """The model ID is mapped but cannot be called (for example its key variable is unset)."""

    status = 503
    error_type = "model_unavailable"


class ModelCoolingDown(GatewayError):
    """LiteLLM's Router took every deployment of the model out for a while after failures."""

    status = 503
    error_type = "model_cooling_down"


class StoreUnavailable(GatewayError):
    status = 503
    error_type = "rate_limit_store_unavailable"


class ChatNotFound(GatewayError):
    """No such chat for this client: unknown, expired, or another client's (never told apart)."""

    status = 404
    error_type = "chat_not_found"


class PreviousResponseNotFound(GatewayError):
    """/v1/responses: no stored response (or item) under this id for this client: unknown,
    expired, not stored, or another client's (never told apart)."""

    status = 404
    error_type = "previous_response_not_found"


class ResponseNotFound(GatewayError):
    """GET or DELETE /v1/responses/{id}: no stored response under this id for this client:
    unknown, expired, deleted, not stored, or another client's (never told apart)."""

    status = 404
    error_type = "response_not_found"


class ChatBusy(GatewayError):
    """The chat is still producing an answer: stop it (or wait) before sending the next one."""

    status = 409
    error_type = "chat_busy"


class TooManyUnreadAnswers(GatewayError):
    """The client already has `gateway.chats.max_unread_answers` chat answers running that
    nobody reads (`Retry-After`: when the first of them is stopped for it)."""

    status = 429
    error_type = "too_many_unread_answers"


class ChatStoreUnavailable(GatewayError):
    status = 503
    error_type = "chat_store_unavailable"


class ShuttingDown(GatewayError):
    """A stream still running when the shutdown grace ran out."""

    status = 503
    error_type = "shutting_down"
    mid_stream_only = True


class AnswerUnread(GatewayError):
    """A resumable chat answer nobody read for `gateway.chats.unread_timeout` seconds."""

    status = 504
    error_type = "unread_timeout"
    mid_stream_only = True


class InternalError(GatewayError):
    """The gateway's own bug: logged with its traceback, never described on the wire."""

    status = 500
    error_type = "internal_error"
