"""A small OTLP/HTTP trace receiver on loopback, for the tracing tests to read spans from."""

from __future__ import annotations

from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.support.serving import BackgroundLoop, ServedApp


class Receiver:
    """An OTLP/HTTP trace endpoint: POST /v1/traces with a protobuf body."""

    def __init__(self, loop: BackgroundLoop) -> None:
        self.spans: list[Any] = []
        self.services: set[str] = set()
        self._served = ServedApp(loop, self._app)

    @property
    def url(self) -> str:
        return self._served.url

    def start(self) -> None:
        self._served.start()

    def stop(self) -> None:
        self._served.stop()

    async def _app(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        if scope["path"] == "/v1/traces":
            request = ExportTraceServiceRequest.FromString(body)
            for resource_spans in request.resource_spans:
                for attribute in resource_spans.resource.attributes:
                    if attribute.key == "service.name":
                        self.services.add(attribute.value.string_value)
                for scope_spans in resource_spans.scope_spans:
                    self.spans.extend(scope_spans.spans)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})


def attributes(span: Any) -> dict[str, Any]:
    found = {}
    for attribute in span.attributes:
        value = attribute.value
        found[attribute.key] = getattr(value, value.WhichOneof("value"))
    return found
