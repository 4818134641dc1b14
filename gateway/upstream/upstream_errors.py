"""Translate whatever LiteLLM or the network raised into a GatewayError a client may see.

The provider's own message is the most useful thing a client (and an operator reading the log)
can get, so it is kept: taken from the error body the provider sent, never the raw body (which
can echo request headers), and scrubbed of every form of the gateway's keys.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import re
from typing import Any

import httpx
import litellm
import openai
from litellm.types.router import RouterRateLimitError

from gateway.errors import (
    ContextWindowExceeded,
    GatewayError,
    ModelCoolingDown,
    UpstreamBadRequest,
    UpstreamError,
    UpstreamIncomplete,
    UpstreamRateLimited,
    UpstreamTimeout,
)
from gateway.redaction import Redactor
from gateway.upstream.litellm_reach import ProviderStreamError

log = logging.getLogger("gateway.upstream")

# How Python's json module ends every parse error; LiteLLM passes on only this text.
_UNREADABLE_BODY = re.compile(r": line \d+ column \d+ \(char \d+\)$")
_RAW_BODY_MARK = ", Original Response:"


def to_gateway_error(exc: BaseException, model_id: str, redactor: Redactor) -> GatewayError:
    if isinstance(exc, GatewayError):
        return exc
    if isinstance(exc, RouterRateLimitError):
        seconds = max(1, math.ceil(float(getattr(exc, "cooldown_time", 0) or 0)))
        return ModelCoolingDown(
            f"model '{model_id}' is cooling down after provider failures; retry in {seconds} s",
            headers={"Retry-After": str(seconds)},
        )
    if isinstance(exc, litellm.Timeout | asyncio.TimeoutError | httpx.TimeoutException) or (
        _is_read_timeout(exc)
    ):
        return UpstreamTimeout(f"the provider for model '{model_id}' timed out")
    said = redactor.clean(provider_message(exc))
    if isinstance(exc, litellm.RateLimitError):
        retry_after = _retry_after(exc)
        return UpstreamRateLimited(
            f"the provider for model '{model_id}' is rate limiting requests: {said}",
            headers={"Retry-After": retry_after} if retry_after else None,
        )
    if isinstance(exc, litellm.ContextWindowExceededError):
        return ContextWindowExceeded(f"the conversation is too long for model '{model_id}': {said}")
    if isinstance(exc, litellm.AuthenticationError | litellm.PermissionDeniedError):
        # The operator's problem, not the client's: a 502, with the provider's words.
        return UpstreamError(
            f"the provider rejected the gateway's credentials for model '{model_id}': {said}"
        )
    if isinstance(exc, litellm.BadRequestError | litellm.UnprocessableEntityError):
        return UpstreamBadRequest(
            f"the provider refused the request for model '{model_id}': {said}"
        )
    if _UNREADABLE_BODY.search(said):
        # LiteLLM could not parse the body (an empty 200, say); its JSON error says only where.
        return UpstreamIncomplete(
            f"the provider for model '{model_id}' sent an empty or unreadable answer ({said})"
        )
    if isinstance(
        exc, openai.APIError | litellm.exceptions.APIError | httpx.HTTPError | ProviderStreamError
    ):
        return UpstreamError(f"the provider for model '{model_id}' failed: {said}")
    log.error("unexpected error from the upstream call: %s", exc.__class__.__name__)
    return UpstreamError(f"the provider for model '{model_id}' failed")


def provider_message(exc: BaseException) -> str:
    """What the provider said, without LiteLLM's wrapping or anything else of its error body."""
    body = getattr(exc, "body", None)
    said = _message_in(body) if isinstance(body, dict) else None
    if said:
        return said
    text = str(getattr(exc, "message", None) or exc)
    # "litellm.InternalServerError: InternalServerError: OpenAIException - boom" -> "boom"
    for marker in ("Exception - ", "Error - "):
        if marker in text:
            text = text.split(marker, 1)[1]
            break
    text = text.split("\n\nLiteLLM:", 1)[0].strip()
    # LiteLLM's provider transforms append the raw body to a parse error ("Unable to get json
    # response - <error>, Original Response: <body>"): the body is not the provider's words.
    text = text.split(_RAW_BODY_MARK, 1)[0].strip()
    try:
        document = json.loads(text)
    except ValueError:
        return text
    # A JSON body LiteLLM could not read as an error: keep only its message, if it has one.
    return _message_in(document) or "the provider's error had no message"


def _message_in(document: Any) -> str | None:
    if isinstance(document, str):
        return document
    if not isinstance(document, dict):
        return None
    for key in ("message", "detail", "error_message", "msg", "error"):
        value = document.get(key)
        if isinstance(value, str) and value:
            return value
        if isinstance(value, dict):
            nested = _message_in(value)
            if nested:
                return nested
    return None


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
