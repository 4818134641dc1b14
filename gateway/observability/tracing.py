"""OpenTelemetry traces: off unless an operator sets the standard `OTEL_*` variables.

`OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) turns them on; the SDK
and its OTLP/HTTP exporter read the rest themselves (`OTEL_SERVICE_NAME`, headers, batching).
Each request gets a server span (joined to the caller's `traceparent`), each model call and
each tool call a child span. Spans carry ids, names, statuses and token counts, never message
content (`GATEWAY_LOG_CONTENT=true` adds the request's messages to the server span, as it does
to the log line). Off, every call here is one `None` check.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

if TYPE_CHECKING:  # the types only: tracing is imported by what it describes
    from gateway.observability.outcome import CallOutcome
    from gateway.upstream.chunks import StepState

_tracer: trace.Tracer | None = None


def configure() -> bool:
    """Set up the tracer provider once per process if the environment asks for traces."""
    global _tracer
    if _tracer is not None:
        return True
    wanted = os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get(
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
    )
    if not wanted or os.environ.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return False
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    service = os.environ.get("OTEL_SERVICE_NAME") or "llm-gateway"
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    _tracer = trace.get_tracer("gateway")
    return True


def shutdown() -> None:
    """Send what is buffered (at process exit)."""
    provider = trace.get_tracer_provider()
    flush = getattr(provider, "shutdown", None)
    if _tracer is not None and flush is not None:
        flush()


def start_server_span(scope: dict[str, Any]) -> tuple[Span, object] | None:
    """A server span for this request, current until `end_server_span`; None when off."""
    if _tracer is None:
        return None
    carrier = {name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]}
    parent = propagate.extract(carrier)
    span = _tracer.start_span(
        f"{scope['method']} {scope['path']}",
        context=parent,
        kind=SpanKind.SERVER,
        attributes={"http.request.method": scope["method"], "url.path": scope["path"]},
    )
    token = otel_context.attach(trace.set_span_in_context(span, parent))
    return span, token


def end_server_span(
    started: tuple[Span, object], route: str, status: int, attributes: dict[str, Any]
) -> None:
    span = started[0]
    method = span.attributes.get("http.request.method", "") if span.attributes else ""
    span.update_name(f"{method} {route}")
    span.set_attribute("http.route", route)
    span.set_attribute("http.response.status_code", status)
    for name, value in attributes.items():
        if value is not None:
            span.set_attribute(name, value)
    if status >= 500:
        span.set_status(Status(StatusCode.ERROR))
    span.end()


def leave_server_span(started: tuple[Span, object] | None) -> None:
    """Make the request's span no longer current (in the task that started it)."""
    if started is not None:
        otel_context.detach(started[1])


def content_attribute(messages: list[dict[str, Any]] | None) -> str | None:
    return json.dumps(messages, ensure_ascii=False, default=str) if messages else None


def start_child(name: str, attributes: dict[str, Any]) -> Span | None:
    """A span under the current one (the request's), ended by the caller; None when off."""
    if _tracer is None:
        return None
    return _tracer.start_span(name, kind=SpanKind.CLIENT, attributes=attributes)


def end_child(span: Span | None, attributes: dict[str, Any], error: str | None = None) -> None:
    if span is None:
        return
    for name, value in attributes.items():
        if value is not None:
            span.set_attribute(name, value)
    if error is not None:
        span.set_status(Status(StatusCode.ERROR, error))
    span.end()


def model_call_attributes(outcome: CallOutcome, step: StepState) -> dict[str, Any]:
    """What a model call's span says when it ends: who answered, how, and what it cost."""
    return {
        "gateway.deployment": outcome.deployment,
        "gateway.cache": outcome.cache,
        "gateway.reader": outcome.reader,
        "gen_ai.response.finish_reasons": [step.finish_reason] if step.finish_reason else None,
        "gen_ai.usage.input_tokens": step.usage.prompt_tokens,
        "gen_ai.usage.output_tokens": step.usage.completion_tokens,
        "gateway.time_to_first_token_ms": (
            round(outcome.ttft_seconds * 1000, 1) if outcome.ttft_seconds is not None else None
        ),
    }
