"""Translate whatever LiteLLM or the network raised into a GatewayError a client may see."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

import httpx
import litellm

from gateway.errors import GatewayError, UpstreamError, UpstreamTimeout, sanitize

log = logging.getLogger("gateway.upstream")


def to_gateway_error(exc: BaseException, model_id: str, secrets: Iterable[str]) -> GatewayError:
    if isinstance(exc, GatewayError):
        return exc
    detail = sanitize(_strip_litellm_prefix(str(exc)), secrets)
    if isinstance(exc, litellm.Timeout | asyncio.TimeoutError | httpx.TimeoutException) or (
        _is_read_timeout(exc)
    ):
        return UpstreamTimeout(f"the provider for model '{model_id}' timed out")
    if isinstance(exc, litellm.RateLimitError):
        headers = {}
        retry_after = _retry_after(exc)
        if retry_after:
            headers["Retry-After"] = retry_after
        return GatewayError(
            f"the provider for model '{model_id}' is rate limiting requests: {detail}",
            status=429,
            error_type="upstream_rate_limited",
            headers=headers,
        )
    if isinstance(exc, litellm.ContextWindowExceededError):
        return GatewayError(
            f"the conversation is too long for model '{model_id}': {detail}",
            status=400,
            error_type="context_window_exceeded",
        )
    if isinstance(exc, litellm.AuthenticationError | litellm.PermissionDeniedError):
        return UpstreamError(
            f"the provider rejected the gateway's credentials for model '{model_id}'"
        )
    if isinstance(exc, litellm.BadRequestError):
        return GatewayError(
            f"the provider refused the request for model '{model_id}': {detail}",
            status=400,
            error_type="upstream_bad_request",
        )
    if isinstance(exc, litellm.exceptions.APIError | litellm.APIConnectionError | httpx.HTTPError):
        return UpstreamError(f"the provider for model '{model_id}' failed: {detail}")
    log.error("unexpected error from the upstream call: %s", exc.__class__.__name__)
    return UpstreamError(f"the provider for model '{model_id}' failed")


def _strip_litellm_prefix(text: str) -> str:
    # "litellm.InternalServerError: InternalServerError: OpenAIException - boom" -> "boom"
    for marker in ("Exception - ", "Error - "):
        if marker in text:
            return text.split(marker, 1)[1]
    return text


def _retry_after(exc: BaseException) -> str | None:
    """The provider's Retry-After, wherever LiteLLM kept it (its own headers or the response's)."""
    response = getattr(exc, "response", None)
    sources = ("litellm_response_headers", "headers")
    for headers in (
        *(getattr(exc, name, None) for name in sources),
        getattr(response, "headers", None),
    ):
        if not headers:
            continue
        for name in ("retry-after", "Retry-After", "llm_provider-retry-after"):
            value = headers.get(name)
            if value:
                return str(value)
    return None


def _is_read_timeout(exc: BaseException) -> bool:
    """A stream that went quiet for longer than its `stream_timeout`.

    LiteLLM 1.106's transport reports it as an APIConnectionError saying "Timeout on reading
    data from socket", with the underlying timeout not chained: the text is all there is.
    """
    return isinstance(exc, litellm.APIConnectionError) and "timeout on reading" in str(exc).lower()
