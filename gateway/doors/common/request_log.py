"""One log line and one set of metrics per request, written when its last byte is sent.

Pure ASGI (no BaseHTTPMiddleware): it must not buffer or delay streamed answers. It gives every
request an id (the client's `x-request-id` when it is sane, else a new one), returns it as
`x-request-id`, and reads what the chat routes left in `request.state.outcome` (and what a route
without a model call left in `request.state.log_fields`).
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.observability import metrics, tracing
from gateway.observability.logs import text_value
from gateway.observability.outcome import CallOutcome
from gateway.observability.server_timing import gateway_seconds, server_timing

log = logging.getLogger("gateway.request")

_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
# Probes and scrapes are counted in metrics but not logged at info, or they would drown the log.
_QUIET_PATHS = frozenset({"/health", "/health/ready", "/metrics"})
_IN_MESSAGE = ("method", "path", "status")  # text lines say these up front, not again
CLIENT_CLOSED = 499  # nginx's status for a client that left before its answer was sent


class RequestLog:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        started = time.perf_counter()
        status = 0
        done = False
        span = None if scope["path"] in _QUIET_PATHS else tracing.start_server_span(scope)

        async def send_with_id(message: Message) -> None:
            nonlocal status, done
            if message["type"] == "http.response.start":
                status = message["status"]
                timing = server_timing(state.get("outcome"), started, time.perf_counter())
                message["headers"] = [
                    *message.get("headers", []),
                    (b"x-request-id", request_id.encode()),
                    (b"server-timing", timing.encode()),
                ]
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                # Recorded before the last byte goes out, so whoever has read the whole answer
                # can already see it in the log and the metrics.
                done = True
                _record(scope, state, request_id, status, started)
                _end_span(span, scope, state, request_id, status)
            await send(message)

        # A response that never finished is the client's leaving (499), unless the gateway
        # raised: then it is the gateway's fault (500), whatever status went out first.
        unfinished = CLIENT_CLOSED
        metrics.IN_FLIGHT.inc()
        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            unfinished = 500
            raise
        finally:
            tracing.leave_server_span(span)
            metrics.IN_FLIGHT.dec()
            if not done:
                _record(scope, state, request_id, unfinished, started)
                _end_span(span, scope, state, request_id, unfinished)


def _end_span(span: Any, scope: Scope, state: dict[str, Any], request_id: str, status: int) -> None:
    if span is None:
        return
    outcome: CallOutcome | None = state.get("outcome")
    key = state.get("api_key")
    attributes = {
        "gateway.request_id": request_id,
        "gateway.api_key": key.name if key is not None else None,
    }
    if outcome is not None:
        attributes["gen_ai.request.model"] = outcome.model_id if outcome.model_known else None
        attributes["gateway.protocol"] = outcome.protocol or None
        attributes["gateway.error_type"] = outcome.error_type
        attributes["gateway.messages"] = tracing.content_attribute(outcome.messages)
    route = getattr(scope.get("route"), "path", None) or "unmatched"
    tracing.end_server_span(span, route, status, attributes)


def _request_id(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            text = value.decode("latin-1")
            if _SANE_REQUEST_ID.match(text):
                return text
            break
    return uuid.uuid4().hex


def _record(
    scope: Scope, state: dict[str, Any], request_id: str, status: int, started: float
) -> None:
    elapsed = time.perf_counter() - started
    route = getattr(scope.get("route"), "path", None) or "unmatched"
    outcome: CallOutcome | None = state.get("outcome")
    model = outcome.model_id if outcome and outcome.model_known else ""
    protocol = outcome.protocol if outcome else ""
    metrics.REQUESTS.labels(route, model, protocol, str(status)).inc()
    metrics.LATENCY.labels(route, model, protocol).observe(elapsed)
    own = gateway_seconds(outcome, started, started + elapsed)
    metrics.OWN_TIME.labels(route).observe(own)
    fields: dict[str, Any] = {
        "request_id": request_id,
        "method": scope["method"],
        "path": scope["path"],
        "status": status,
        "latency_ms": round(elapsed * 1000, 1),
        "gateway_ms": round(own * 1000, 2),
    }
    key = state.get("api_key")
    if key is not None:
        fields["key"] = key.name
    if outcome is not None:
        fields.update(_outcome_fields(outcome))
        _count_outcome(outcome)
    # What a route without a model call says of itself (/mcp: the JSON-RPC method, the tool).
    fields.update(state.get("log_fields") or {})
    level = logging.DEBUG if scope["path"] in _QUIET_PATHS else logging.INFO
    # The path is the client's (`%20`, `%0a` decoded): one token, or it could fake a field.
    log.log(
        level,
        "%s %s %s",
        text_value(scope["method"]),
        text_value(scope["path"]),
        status,
        extra={"fields": fields, "fields_in_message": _IN_MESSAGE},
    )


def _outcome_fields(outcome: CallOutcome) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "model": outcome.model_id,
        "deployment": outcome.deployment,
        "protocol": outcome.protocol,
        "stream": outcome.stream,
        "cache": outcome.cache,
        "reader": outcome.reader,
        "finish_reason": outcome.finish_reason,
        "error_type": outcome.error_type,
        "error": outcome.error_message,
    }
    ttft = outcome.ttft_seconds
    if ttft is not None:
        fields["ttft_ms"] = round(ttft * 1000, 1)
    if outcome.provider_ttfb is not None:
        fields["provider_ttfb_ms"] = round(outcome.provider_ttfb * 1000, 1)
        fields["provider_ms"] = round(outcome.provider_seconds * 1000, 1)
    if outcome.tool_seconds:
        fields["tools_ms"] = round(outcome.tool_seconds * 1000, 1)
    if outcome.usage is not None:
        fields["prompt_tokens"] = outcome.usage.prompt_tokens
        fields["completion_tokens"] = outcome.usage.completion_tokens
    if outcome.messages is not None:
        fields["messages"] = outcome.messages
    return fields


def _count_outcome(outcome: CallOutcome) -> None:
    if outcome.provider_ttfb is not None and outcome.model_known:
        metrics.PROVIDER_TTFB.labels(outcome.model_id).observe(outcome.provider_ttfb)
    ttft = outcome.ttft_seconds
    if ttft is not None:
        metrics.TIME_TO_FIRST_TOKEN.labels(outcome.model_id, outcome.protocol).observe(ttft)
    usage = outcome.usage
    if usage is not None:
        cached = "true" if usage.cached else "false"
        tokens = metrics.TOKENS
        tokens.labels(outcome.model_id, "prompt", cached).inc(usage.prompt_tokens)
        tokens.labels(outcome.model_id, "completion", cached).inc(usage.completion_tokens)
