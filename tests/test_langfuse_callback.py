"""Langfuse with no extra package: LiteLLM's `langfuse_otel` integration, named under
`litellm_settings`, posts OTLP/HTTP traces from a real `gateway serve` to a stand-in Langfuse
on loopback (the receiver of tests/test_tracing.py, answering on Langfuse's path).

LiteLLM builds the exporter from LANGFUSE_PUBLIC_KEY / LANGFUSE_SECRET_KEY and LANGFUSE_OTEL_HOST
(or LANGFUSE_HOST): protobuf spans POSTed to <host>/api/public/otel/v1/traces with
`Authorization: Basic base64(public:secret)`. Its span processor batches, so
OTEL_BSP_SCHEDULE_DELAY is shortened to have spans arrive within the test's bounded polls.

Each model call is one `litellm_request` span carrying the prompt and the answer (Langfuse's
observation input/output) and the deployment's model (`llm.model_name`), not the gateway's
model name: LiteLLM's langfuse_otel attribute set returns before it would add
`litellm.model_group`."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Status

from tests.support.configs import config_for
from tests.support.fake_upstream import FakeUpstream, Fault, Reply
from tests.support.otlp_receiver import Receiver, attributes
from tests.support.processes import serve_config
from tests.support.serving import BackgroundLoop

LANGFUSE_PATH = "/api/public/otel/v1/traces"
PUBLIC_KEY = "pk-lf-public-0123456789"
SECRET_KEY = "sk-lf-secret-do-not-print-9876543210"
DEADLINE = 20.0  # seconds spans may take to arrive (a bound on a poll, not a timing)


@dataclass(frozen=True)
class Posted:
    """One request the stand-in Langfuse received."""

    path: str
    headers: dict[str, str]
    body: bytes


class LangfuseReceiver(Receiver):
    """tests/test_tracing.py's OTLP receiver, also keeping each request's path, headers and
    body (it parses spans only on the bare /v1/traces path; Langfuse's is longer)."""

    def __init__(self, loop: BackgroundLoop) -> None:
        super().__init__(loop)
        self.posted: list[Posted] = []

    async def _app(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        chunks: list[bytes] = []

        async def recording() -> Any:
            message = await receive()
            chunks.append(message.get("body", b""))
            return message

        await super()._app(scope, recording, send)
        headers = {
            key.decode("latin-1"): value.decode("latin-1") for key, value in scope["headers"]
        }
        self.posted.append(Posted(scope["path"], headers, b"".join(chunks)))

    def langfuse_spans(self) -> list[Any]:
        """Spans from the requests on Langfuse's OTLP path."""
        spans: list[Any] = []
        for posted in list(self.posted):
            if posted.path != LANGFUSE_PATH:
                continue
            request = ExportTraceServiceRequest.FromString(posted.body)
            for resource_spans in request.resource_spans:
                for scope_spans in resource_spans.scope_spans:
                    spans.extend(scope_spans.spans)
        return spans


@pytest.fixture
def langfuse(background_loop: BackgroundLoop) -> Iterator[LangfuseReceiver]:
    found = LangfuseReceiver(background_loop)
    found.start()
    yield found
    found.stop()


def model_calls(spans: list[Any]) -> dict[str, Any]:
    """LiteLLM's span per model call (`litellm_request`), by the user message sent in it."""
    found: dict[str, Any] = {}
    for span in spans:
        if span.name == "litellm_request":
            (message,) = json.loads(attributes(span)["langfuse.observation.input"])
            found[message["content"]] = span
    return found


def test_langfuse_otel_sends_each_model_call_to_langfuse(
    upstream: FakeUpstream, langfuse: LangfuseReceiver, tmp_path: Path
) -> None:
    config = config_for(
        upstream,
        litellm_settings={
            "success_callback": ["langfuse_otel"],
            "failure_callback": ["langfuse_otel"],
        },
    )
    gateway = serve_config(
        config,
        tmp_path,
        LANGFUSE_PUBLIC_KEY=PUBLIC_KEY,
        LANGFUSE_SECRET_KEY=SECRET_KEY,
        LANGFUSE_OTEL_HOST=langfuse.url,
        OTEL_BSP_SCHEDULE_DELAY="100",
    )
    try:
        upstream.script(Reply(chunks=["streamed", " answer"]))
        streamed = httpx.post(
            f"{gateway.url}/api/chat",
            json={"model": "chat-model", "messages": [{"role": "user", "content": "streamed q"}]},
            timeout=30,
        )
        upstream.script(Reply(chunks=["plain answer"]))
        plain = httpx.post(
            f"{gateway.url}/v1/chat/completions",
            json={"model": "chat-model", "messages": [{"role": "user", "content": "plain q"}]},
            timeout=30,
        )
        upstream.script(Fault(500, "upstream exploded"))
        failed = httpx.post(
            f"{gateway.url}/v1/chat/completions",
            json={"model": "chat-model", "messages": [{"role": "user", "content": "failing q"}]},
            timeout=30,
        )
        deadline = time.monotonic() + DEADLINE
        while len(model_calls(langfuse.langfuse_spans())) < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        gateway.stop()

    assert streamed.status_code == 200
    assert "streamed" in streamed.text
    assert plain.status_code == 200
    assert plain.json()["choices"][0]["message"]["content"] == "plain answer"
    assert failed.status_code == 502

    # Langfuse's OTLP endpoint, protobuf, Basic auth of public:secret, v4 ingestion.
    assert langfuse.posted
    basic = base64.b64encode(f"{PUBLIC_KEY}:{SECRET_KEY}".encode()).decode()
    for posted in langfuse.posted:
        assert posted.path == LANGFUSE_PATH
        assert posted.headers["content-type"] == "application/x-protobuf"
        assert posted.headers["authorization"] == f"Basic {basic}"
        assert posted.headers["x-langfuse-ingestion-version"] == "4"

    calls = model_calls(langfuse.langfuse_spans())
    assert set(calls) == {"streamed q", "plain q", "failing q"}
    for span in calls.values():
        found = attributes(span)
        assert found["langfuse.observation.type"] == "generation"
        assert found["llm.model_name"] == "fake-model"  # the deployment's model (model_list)
        assert found["llm.provider"] == "openai"

    ok = attributes(calls["streamed q"])
    assert ok["llm.is_streaming"] == "True"
    assert json.loads(ok["langfuse.observation.output"])["content"] == "streamed answer"
    assert ok["llm.token_count.completion"] == 7
    assert calls["streamed q"].status.code == Status.STATUS_CODE_OK

    ok = attributes(calls["plain q"])
    assert ok["llm.is_streaming"] == "False"
    assert json.loads(ok["langfuse.observation.output"])["content"] == "plain answer"
    assert calls["plain q"].status.code == Status.STATUS_CODE_OK

    bad = calls["failing q"]
    assert bad.status.code == Status.STATUS_CODE_ERROR
    assert attributes(bad)["http.response.status_code"] == 500
    assert "upstream exploded" in attributes(bad)["error.message"]

    # The secret key (plain or inside the Basic header) is in neither answers nor logs.
    output = gateway.output()
    for text in (streamed.text, plain.text, failed.text, output):
        assert SECRET_KEY not in text
        assert basic not in text
