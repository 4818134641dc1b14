"""What operators watch: x-request-id, one log line per request, and /metrics."""

from __future__ import annotations

import http.client
import json
import logging
import re
import sys
import threading
import time
import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.doors.common import answering
from gateway.doors.frontend.typed_lines_encoder import TypedLineEncoder
from gateway.observability.logs import JsonFormatter, TextFormatter
from tests.support.configs import UPSTREAM_KEY, config_for
from tests.support.fake_upstream import FakeUpstream, Fault, Reply
from tests.support.gateways import Gateway
from tests.support.processes import serve_config
from tests.support.prometheus import sample

KEY = "key-ops-0123456789abcdef"
SECRET_WORDS = "my-private-question"
CHAT = {"model": "chat-model", "messages": [{"role": "user", "content": "hi"}]}
JSON = {"content-type": "application/json"}


def request_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [r.fields for r in caplog.records if r.name == "gateway.request"]  # type: ignore[attr-defined]


def test_request_id_is_taken_from_the_client_or_made(gateway_for: Gateway) -> None:
    given = gateway_for.client.get("/health", headers={"x-request-id": "trace-42.a"})
    made = gateway_for.client.get("/health")
    hostile = gateway_for.client.get("/health", headers={"x-request-id": "a b\tc" * 40})
    assert given.headers["x-request-id"] == "trace-42.a"
    assert re.fullmatch(r"[0-9a-f]{32}", made.headers["x-request-id"])
    assert re.fullmatch(r"[0-9a-f]{32}", hostile.headers["x-request-id"])


def test_one_log_line_per_chat_request_with_what_operators_need(
    start_gateway: Callable[..., Gateway],
    upstream: FakeUpstream,
    caplog: pytest.LogCaptureFixture,
) -> None:
    gateway = start_gateway(config_for(upstream), api_keys=f"ops:{KEY}")
    upstream.script(Reply(chunks=["Hi", " there"], prompt_tokens=9, completion_tokens=2))
    caplog.set_level(logging.INFO, logger="gateway.request")

    response = gateway.client.post(
        "/api/chat?protocol=data-stream",
        json={"model": "chat-model", "messages": [{"role": "user", "content": SECRET_WORDS}]},
        headers={"authorization": f"Bearer {KEY}", "x-request-id": "req-1"},
    )

    assert response.status_code == 200
    (line,) = request_lines(caplog)
    assert line["request_id"] == "req-1" and line["status"] == 200
    assert line["key"] == "ops" and line["model"] == "chat-model"
    assert line["deployment"] == "chat-model#0" == response.headers["x-gateway-deployment"]
    assert line["protocol"] == "data-stream" and line["stream"] is True
    assert line["prompt_tokens"] == 9 and line["completion_tokens"] == 2
    assert line["finish_reason"] == "stop" and line["cache"] is None
    assert 0 < line["ttft_ms"] <= line["latency_ms"]
    everything = "\n".join(record.getMessage() + str(vars(record)) for record in caplog.records)
    assert SECRET_WORDS not in everything
    assert KEY not in everything and UPSTREAM_KEY not in everything


def test_message_contents_are_logged_only_when_enabled(
    start_gateway: Callable[..., Gateway],
    upstream: FakeUpstream,
    caplog: pytest.LogCaptureFixture,
) -> None:
    gateway = start_gateway(config_for(upstream), log_content=True)
    caplog.set_level(logging.INFO, logger="gateway.request")
    gateway.chat(messages=[{"role": "user", "content": SECRET_WORDS}])
    (line,) = request_lines(caplog)
    assert line["messages"] == [{"role": "user", "content": SECRET_WORDS}]


def test_refusals_and_failures_are_logged_with_their_status(
    start_gateway: Callable[..., Gateway],
    upstream: FakeUpstream,
    caplog: pytest.LogCaptureFixture,
) -> None:
    gateway = start_gateway(config_for(upstream))
    caplog.set_level(logging.INFO, logger="gateway.request")
    upstream.script(Fault(500))
    assert gateway.chat().status_code == 502
    assert gateway.chat(model="no-such-model").status_code == 404
    failed, unknown = request_lines(caplog)
    assert failed["status"] == 502 and failed["error_type"] == "upstream_error"
    assert unknown["status"] == 404 and unknown["model"] == "no-such-model"


def _break_admission(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every chat request hit a bug of the gateway's own before its answer starts."""

    async def broken_admit(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a bug in the gateway")

    monkeypatch.setattr(answering, "admit", broken_admit)


def test_the_gateway_s_own_fault_is_a_500_to_the_client_the_log_and_the_metrics(
    gateway_for: Gateway, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="gateway.request")
    _break_admission(monkeypatch)
    connection = http.client.HTTPConnection("127.0.0.1", int(gateway_for.url.rsplit(":", 1)[1]))
    try:
        before = _scrape(connection)
        connection.request("POST", "/api/chat", json.dumps(CHAT), JSON)
        failed = connection.getresponse()
        body = json.loads(failed.read())
        kept_socket = connection.sock
        try:  # on the same connection: a handled 500 keeps it
            after = _scrape(connection)
        except ConnectionError:
            connection.close()
            after = _scrape(connection)
        reused = connection.sock is kept_socket
    finally:
        connection.close()
    assert failed.status == 500 and body["error"]["type"] == "internal_error"
    assert "a bug" not in json.dumps(body)
    assert reused, "the connection was dropped after a handled 500"
    (line,) = [line for line in request_lines(caplog) if line["path"] == "/api/chat"]
    assert line["status"] == 500 and line["request_id"] == failed.headers["x-request-id"]
    route = {"route": "/api/chat", "model": "chat-model", "protocol": "typed"}
    for status, counted in (("500", 1), ("499", 0)):
        grew = sample(after, "gateway_requests_total", **route, status=status) - sample(
            before, "gateway_requests_total", **route, status=status
        )
        assert grew == counted, status


def test_a_fault_after_the_answer_started_is_a_500_in_the_log_and_cuts_the_connection(
    gateway_for: Gateway, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken_close(self: TypedLineEncoder) -> bytes:
        raise RuntimeError("a bug in the gateway")

    monkeypatch.setattr(TypedLineEncoder, "close", broken_close)
    caplog.set_level(logging.INFO, logger="gateway.request")
    with pytest.raises(httpx.RemoteProtocolError):  # cut short: the client must not take it whole
        gateway_for.chat()
    (line,) = request_lines(caplog)
    assert line["status"] == 500


def test_a_client_that_leaves_a_stream_is_logged_499(
    gateway_for: Gateway, upstream: FakeUpstream, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="gateway.request")
    upstream.script(Reply(chunks=["slow"] * 50, chunk_delay=0.1))
    with gateway_for.client.stream("POST", "/api/chat", json=CHAT) as response:
        assert response.status_code == 200
        next(response.iter_raw())
    deadline = time.monotonic() + 10
    while not request_lines(caplog):
        assert time.monotonic() < deadline, "the abandoned stream was never logged"
        time.sleep(0.05)
    (line,) = request_lines(caplog)
    assert line["status"] == 499


def _scrape(connection: http.client.HTTPConnection) -> str:
    connection.request("GET", "/metrics")
    response = connection.getresponse()
    assert response.status == 200
    return response.read().decode()


def test_log_formats_carry_the_fields() -> None:
    record = logging.LogRecord(
        "gateway.request", logging.INFO, __file__, 1, "POST %s", ("/x",), None
    )
    record.fields = {"request_id": "r1", "status": 200, "cache": None}
    document = json.loads(JsonFormatter().format(record))
    assert document["message"] == "POST /x" and document["level"] == "info"
    assert document["request_id"] == "r1" and document["status"] == 200
    text = TextFormatter().format(record)
    assert text.endswith("POST /x request_id=r1 status=200")
    record.fields_in_message = ("status",)
    assert TextFormatter().format(record).endswith("POST /x request_id=r1")


def test_metrics_count_what_just_happened(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream
) -> None:
    config = config_for(upstream)
    config["gateway"] = {
        "cache": {"ttl": 60, "models": ["title-model"]},
        "rate_limit": {"models": {"chat-model": "2/minute"}},
    }
    gateway = start_gateway(config)

    def scrape() -> str:
        response = gateway.client.get("/metrics")  # type: ignore[union-attr]
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain")
        return response.text

    before = scrape()
    upstream.default = Reply(chunks=["ok"], prompt_tokens=5, completion_tokens=3)
    statuses = [gateway.chat().status_code for _ in range(3)]
    title = [{"role": "user", "content": "title for metrics test"}]
    caches = [
        gateway.chat(model="title-model", messages=title).headers["x-cache"] for _ in range(2)
    ]
    upstream.script(Fault(500))
    assert gateway.chat(model="title-model").status_code == 502
    after = scrape()

    def delta(name: str, **labels: str) -> float:
        return sample(after, name, **labels) - sample(before, name, **labels)

    assert statuses == [200, 200, 429] and caches[1] == "hit"
    route = {"route": "/api/chat", "model": "chat-model", "protocol": "typed"}
    assert delta("gateway_requests_total", **route, status="200") == 2
    assert delta("gateway_requests_total", **route, status="429") == 1
    assert delta("gateway_rate_limit_refusals_total", model="chat-model", kind="requests") == 1
    assert (
        delta("gateway_tokens_total", model="chat-model", direction="prompt", cached="false") == 10
    )
    assert (
        delta("gateway_tokens_total", model="title-model", direction="completion", cached="true")
        == 3
    )
    assert delta("gateway_cache_lookups_total", model="title-model", result="hit") == 1
    assert delta("gateway_cache_lookups_total", model="title-model", result="miss") == 2
    assert delta("gateway_upstream_errors_total", model="title-model", kind="upstream_error") == 1
    assert delta("gateway_request_duration_seconds_count", **route) == 3
    ttft = {"model": "chat-model", "protocol": "typed"}
    assert delta("gateway_time_to_first_token_seconds_count", **ttft) == 2


def test_metrics_add_up_across_two_worker_processes(upstream: FakeUpstream, tmp_path: Path) -> None:
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    (metrics_dir / "counter_999999.db").write_bytes(b"stale")  # from an earlier run: removed
    server = serve_config(
        config_for(upstream), tmp_path, "--workers", "2", PROMETHEUS_MULTIPROC_DIR=str(metrics_dir)
    )
    try:
        upstream.default = Reply(chunks=["ok"], prompt_tokens=5, completion_tokens=3)
        body = {"model": "chat-model", "messages": [{"role": "user", "content": "hi"}]}
        for _ in range(12):
            # A new connection each time, so the kernel spreads them over both workers.
            assert httpx.post(f"{server.url}/api/chat", json=body, timeout=30).status_code == 200
        pids = {file.stem.rsplit("_", 1)[1] for file in metrics_dir.glob("counter_*.db")}
        assert len(pids) >= 2, f"one worker served everything: {pids}"
        route = {"route": "/api/chat", "model": "chat-model", "protocol": "typed", "status": "200"}
        for _ in range(4):  # whichever worker answers the scrape, it reports every worker's counts
            text = httpx.get(f"{server.url}/metrics", timeout=10).text
            assert sample(text, "gateway_requests_total", **route) == 12
            tokens = {"model": "chat-model", "direction": "completion", "cached": "false"}
            assert sample(text, "gateway_tokens_total", **tokens) == 36
    finally:
        server.stop()


def test_a_served_gateway_logs_only_json_lines_when_asked(
    upstream: FakeUpstream, tmp_path: Path
) -> None:
    server = serve_config(config_for(upstream), tmp_path, GATEWAY_LOG_FORMAT="json")
    try:
        body = {"model": "chat-model", "messages": [{"role": "user", "content": SECRET_WORDS}]}
        response = httpx.post(f"{server.url}/api/chat", json=body, timeout=30)
        assert response.status_code == 200
    finally:
        server.stop()
    lines = [json.loads(line) for line in server.output().splitlines() if line.strip()]
    loggers = {line["logger"] for line in lines}
    assert "uvicorn.error" in loggers and "uvicorn.access" not in loggers  # one line per request
    (chat,) = [line for line in lines if line.get("path") == "/api/chat"]
    assert chat["request_id"] == response.headers["x-request-id"]
    assert chat["status"] == 200 and chat["model"] == "chat-model" and chat["protocol"] == "typed"
    assert SECRET_WORDS not in server.output()


def test_in_flight_requests_are_counted_while_they_stream(
    gateway_for: Gateway, upstream: FakeUpstream
) -> None:

    def in_flight() -> float:
        return sample(gateway_for.client.get("/metrics").text, "gateway_requests_in_flight")  # type: ignore[union-attr]

    idle = in_flight()  # counts the scrape itself
    upstream.script(Reply(chunks=["slow"] * 10, chunk_delay=0.1))
    streaming = threading.Thread(target=gateway_for.chat)
    streaming.start()
    deadline = time.monotonic() + 5
    while not upstream.requests:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert in_flight() == idle + 1
    streaming.join(10)
    assert in_flight() == idle


# --- log forging: one record is one line, and a value is one token -------------------------------

# The examples: a path and a model that each try to write a second, made-up log line.
FORGED_LINE = "2026-11-25 00:00:00 INFO gateway.request: POST /admin/reload 200 key=admin"
FORGED_PATH = "/api/chat%0a" + FORGED_LINE.replace(" ", "%20")
FORGED_MODEL = "x\n" + FORGED_LINE
# Every character some log reader ends a line on or a terminal acts on: C0, DEL, C1 (NEL),
# the Unicode line and paragraph separators.
CONTROLS = "\x00\t\n\r\x1b[31m\x1c\x7f\x85\x9b\u2028\u2029"
_TOKEN = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\S+)')
_REQUEST_LINE = re.compile(r'gateway\.request: (\S+) ("(?:[^"\\]|\\.)*"|\S+) (\d+) ')


def text_fields(line: str) -> dict[str, Any]:
    """The key=value tokens of a text line, quoted values read back as JSON strings."""
    return {
        key: json.loads(value) if value.startswith('"') else value
        for key, value in _TOKEN.findall(line)
    }


def request_line(line: str) -> tuple[str, str, int]:
    """Method, path and status from the message of a request log line."""
    match = _REQUEST_LINE.search(line)
    assert match, line
    method, path, status = match.groups()
    return method, json.loads(path) if path.startswith('"') else path, int(status)


def one_line(text: str) -> str:
    # splitlines() breaks on every separator of the kind above (\x1c, \x85, \u2028, ...).
    (line,) = text.splitlines()
    assert not re.search("[\x00-\x1f\x7f-\x9f\u2028\u2029]", line), line
    return line


def test_text_lines_escape_control_characters_in_the_message_and_every_field() -> None:
    record = logging.LogRecord(
        "gateway.request", logging.INFO, __file__, 1, "GET %s", ("/a" + CONTROLS,), None
    )
    record.fields = {"model": FORGED_MODEL, "key": "ops", "odd": CONTROLS, "n": 3}
    line = one_line(TextFormatter().format(record))
    assert "GET /a\\x00\\t\\n\\r\\x1b[31m\\x1c\\x7f\\x85\\x9b\\u2028\\u2029 " in line
    fields = text_fields(line)
    assert fields["model"] == FORGED_MODEL and fields["odd"] == CONTROLS
    assert fields["key"] == "ops" and fields["n"] == "3"


def test_a_text_field_value_cannot_fake_another_field() -> None:
    record = logging.LogRecord("gateway.request", logging.INFO, __file__, 1, "POST /x", (), None)
    record.fields = {
        "model": 'x key=admin status=200 q="a b"',
        "messages": [{"role": "user", "content": "hi key=admin"}],
        "empty": "",
        "key": "ops",
    }
    line = one_line(TextFormatter().format(record))
    assert "key=admin" not in line
    fields = text_fields(line)
    assert fields["model"] == 'x key=admin status=200 q="a b"' and fields["key"] == "ops"
    assert json.loads(fields["messages"]) == [{"role": "user", "content": "hi key=admin"}]
    assert fields["empty"] == "" and "status" not in fields


def test_a_text_line_with_a_traceback_stays_one_line() -> None:
    # Exception messages carry client text (a model name, a pydantic input), so they are escaped.
    try:
        raise ValueError(FORGED_MODEL)
    except ValueError:
        record = logging.LogRecord(
            "uvicorn.error", logging.ERROR, __file__, 1, "boom", (), sys.exc_info()
        )
    line = one_line(TextFormatter().format(record))
    exception = text_fields(line)["exception"]
    assert exception.startswith("Traceback (most recent call last):\n")
    assert exception.endswith("ValueError: " + FORGED_MODEL)


def test_json_lines_escape_unicode_line_separators_too() -> None:
    record = logging.LogRecord("gateway.request", logging.INFO, __file__, 1, "a\u2028b", (), None)
    record.fields = {"model": CONTROLS}
    document = json.loads(one_line(JsonFormatter().format(record)))
    assert document["message"] == "a\u2028b" and document["model"] == CONTROLS


def invisible_characters() -> str:
    """Every character this Python's Unicode database calls a control (Cc), a format character
    (Cf: the bidirectional controls, zero-width ones, the soft hyphen, tags) or a line or
    paragraph separator: none is to reach a log line raw."""
    categories = {"Cc", "Cf", "Zl", "Zp"}
    return "".join(
        chr(code)
        for code in range(sys.maxunicode + 1)
        if unicodedata.category(chr(code)) in categories
    )


# An extension that a right-to-left override shows as `exe.txt`, the U+202E example.
BIDI_NAME = "invoice\u202etxt.exe"


def test_bidirectional_and_other_invisible_characters_are_escaped_in_text_and_json_lines() -> None:
    invisible = invisible_characters()
    assert {"\u202e", "\u2066", "\u200f", "\u061c", "\ufeff", "\U000e0041"} <= set(invisible)
    record = logging.LogRecord(
        "gateway.request", logging.INFO, __file__, 1, "GET %s", ("/a" + BIDI_NAME,), None
    )
    record.fields = {"model": BIDI_NAME, "all": invisible}
    text = one_line(TextFormatter().format(record))
    assert not set(text) & set(invisible)
    assert "GET /ainvoice\\u202etxt.exe " in text
    fields = text_fields(text)
    assert fields["model"] == BIDI_NAME and fields["all"] == invisible
    json_line = one_line(JsonFormatter().format(record))
    assert not set(json_line) & set(invisible)
    document = json.loads(json_line)
    assert document["message"] == "GET /a" + BIDI_NAME and document["all"] == invisible


def test_a_served_gateway_writes_one_text_line_per_forged_request(
    upstream: FakeUpstream, tmp_path: Path
) -> None:
    server = serve_config(config_for(upstream), tmp_path)
    try:
        # No key needed: an unknown path and an unknown model are enough to reach the log.
        path = httpx.get(f"{server.url}{FORGED_PATH}", timeout=30)
        spaced = httpx.get(f"{server.url}/api/chat%20key=admin%20status=200", timeout=30)
        body = {"model": FORGED_MODEL, "messages": [{"role": "user", "content": "hi"}]}
        model = httpx.post(f"{server.url}/api/chat", json=body, timeout=30)
        bidi_body = {**body, "model": BIDI_NAME}
        bidi = httpx.post(f"{server.url}/api/chat", json=bidi_body, timeout=30)
    finally:
        server.stop()
    assert (path.status_code, spaced.status_code, model.status_code) == (404, 404, 404)
    assert bidi.status_code == 404
    assert "\u202e" not in server.output()
    lines = server.output().splitlines()
    assert not [line for line in lines if line.startswith(FORGED_LINE[:19])]
    by_id = {text_fields(line).get("request_id"): line for line in lines}
    for response, method, sent_path, sent_model in [
        (path, "GET", "/api/chat\n" + FORGED_LINE, None),
        (spaced, "GET", "/api/chat key=admin status=200", None),
        (model, "POST", "/api/chat", FORGED_MODEL),
        (bidi, "POST", "/api/chat", BIDI_NAME),
    ]:
        line = one_line(by_id[response.headers["x-request-id"]])
        assert request_line(line) == (method, sent_path, response.status_code)
        fields = text_fields(line)
        assert "key" not in fields and "status" not in fields, line
        assert fields.get("model") == sent_model
    assert sum("/admin/reload" in line for line in lines) == 2
