"""Every client mistake gets its status and a message naming the problem; never a 500."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from typing import Any

import pytest

from gateway import metrics
from tests.conftest import Gateway, config_for, model_entry
from tests.fake_upstream import FakeUpstream

OK_MESSAGES = [{"role": "user", "content": "hi"}]
LONE_SURROGATE = "\ud800x"  # valid JSON ("\\ud800x"), yet no UTF-8 encoder can send it on
NAN, INF = float("nan"), float("inf")  # Python's JSON parser reads NaN and Infinity
CALL = {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"model": "chat-model"}, "messages: field required"),
        ({"messages": OK_MESSAGES}, "model: field required"),
        ({"model": "chat-model", "messages": []}, "messages: List should have at least 1 item"),
        (
            {"model": "chat-model", "messages": [{"role": "usr", "content": "x"}]},
            "messages[0].role",
        ),
        (
            {"model": "chat-model", "messages": [{"content": "x"}]},
            "messages[0].role: field required",
        ),
        ({"model": "chat-model", "messages": "hi"}, "messages: Input should be a valid list"),
        ({"model": "chat-model", "messages": OK_MESSAGES, "temperature": 5}, "temperature"),
        ({"model": "chat-model", "messages": OK_MESSAGES, "top_p": -1}, "top_p"),
        ({"model": "chat-model", "messages": OK_MESSAGES, "max_tokens": 0}, "max_tokens"),
        ({"model": "chat-model", "messages": OK_MESSAGES, "stream": "yes please"}, "stream"),
        ({"model": 42, "messages": OK_MESSAGES}, "model: Input should be a valid string"),
        ([1, 2, 3], "Input should be a valid dictionary"),
    ],
)
def test_malformed_bodies_get_422_naming_the_field(
    gateway_for: Gateway, upstream: FakeUpstream, body: Any, needle: str
) -> None:
    assert gateway_for.client is not None
    response = gateway_for.client.post("/api/chat", json=body)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request"
    assert needle in error["message"]
    assert upstream.requests == []


@pytest.mark.parametrize(
    "raw", [b"{not json", b"", b"\xff\xfe", b'{"model": "chat-model", "messages": [}']
)
def test_invalid_json_gets_422(gateway_for: Gateway, raw: bytes) -> None:
    assert gateway_for.client is not None
    response = gateway_for.client.post(
        "/api/chat", content=raw, headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["error"]["type"] == "invalid_request"


def test_unknown_model_is_404_listing_known_ids(
    gateway_for: Gateway, upstream: FakeUpstream
) -> None:
    response = gateway_for.chat(model="gpt-5-turbo-max")
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["type"] == "unknown_model"
    assert "'gpt-5-turbo-max'" in error["message"]
    assert "chat-model, title-model" in error["message"]
    assert upstream.requests == []


def test_oversized_body_is_413(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream
) -> None:
    gateway = start_gateway(config_for(upstream), max_body_bytes=4096)
    big = [{"role": "user", "content": "x" * 5000}]
    response = gateway.chat(messages=big)
    assert response.status_code == 413
    error = response.json()["error"]
    assert error["type"] == "request_too_large"
    assert "4096 bytes" in error["message"]
    assert upstream.requests == []


def test_oversized_chunked_body_without_length_is_413(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream
) -> None:
    gateway = start_gateway(config_for(upstream), max_body_bytes=4096)
    assert gateway.client is not None

    def chunks() -> Any:
        yield b'{"model": "chat-model", "messages": [{"role": "user", "content": "'
        for _ in range(10):
            yield b"y" * 1000
        yield b'"}]}'

    response = gateway.client.post(
        "/api/chat", content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["error"]["type"] == "request_too_large"
    assert upstream.requests == []


def test_default_body_limit_is_one_mebibyte(gateway_for: Gateway) -> None:
    response = gateway_for.chat(messages=[{"role": "user", "content": "z" * (1024 * 1024)}])
    assert response.status_code == 413


def test_model_whose_key_is_unset_names_the_variable_not_a_value(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NEVER_SET_PROVIDER_KEY", raising=False)
    config = config_for(upstream)
    config["model_list"].append(
        model_entry("chat-model-reasoning", upstream, api_key="os.environ/NEVER_SET_PROVIDER_KEY")
    )
    gateway = start_gateway(config)  # a missing key does not stop the server

    response = gateway.chat(model="chat-model-reasoning")

    assert response.status_code == 503
    error = response.json()["error"]
    assert error["type"] == "model_unavailable"
    assert "NEVER_SET_PROVIDER_KEY" in error["message"]
    assert gateway.chat().status_code == 200  # the other models still serve
    assert gateway.client is not None
    ready = gateway.client.get("/health/ready").json()
    assert "NEVER_SET_PROVIDER_KEY" in ready["config"]["unavailable_models"]["chat-model-reasoning"]


def test_unknown_route_and_wrong_method_are_json(gateway_for: Gateway) -> None:
    assert gateway_for.client is not None
    missing = gateway_for.client.get("/api/nothing-here")
    assert missing.status_code == 404
    assert missing.json()["error"]["type"] == "not_found"
    wrong = gateway_for.client.get("/api/chat")
    assert wrong.status_code == 405
    assert wrong.json()["error"]["type"] == "method_not_allowed"


def test_wrong_content_type_is_a_clear_error_not_500(gateway_for: Gateway) -> None:
    assert gateway_for.client is not None
    response = gateway_for.client.post(
        "/api/chat", content=b"model=chat-model", headers={"content-type": "text/plain"}
    )
    assert 400 <= response.status_code < 500
    assert "error" in response.json()


def test_half_sent_request_does_not_hurt_the_server(gateway_for: Gateway) -> None:
    host, port = gateway_for.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(
            b"POST /api/chat HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b'Content-Length: 500\r\n\r\n{"model": '
        )
    assert gateway_for.chat().status_code == 200


def upstream_errors_counted() -> float:
    return sum(
        sample.value
        for metric in metrics.UPSTREAM_ERRORS.collect()
        for sample in metric.samples
        if sample.name.endswith("_total")
    )


def post_raw(gateway: Gateway, path: str, body: dict[str, Any]) -> Any:
    """Send `body` as Python's json module writes it: surrogates escaped, NaN and Infinity bare."""
    assert gateway.client is not None
    raw = json.dumps(body).encode()
    return gateway.client.post(path, content=raw, headers={"content-type": "application/json"})


def with_messages(*messages: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"model": "chat-model", "messages": list(messages), **extra}


USER = {"role": "user", "content": "hi"}
JUNK_PARTS = [{"foo": 1}, {"type": "text"}]
CLIENT_MISTAKES = [
    # Both doors.
    ("chat", with_messages({"role": "user", "content": LONE_SURROGATE}), "messages[0].content"),
    ("v1", with_messages({"role": "user", "content": LONE_SURROGATE}), "messages[0].content"),
    ("chat", with_messages({"role": "user", "content": JUNK_PARTS}), "messages[0].content"),
    ("v1", with_messages({"role": "user", "content": JUNK_PARTS}), "messages[0].content"),
    ("chat", with_messages({"role": "user"}), "messages[0].content"),
    ("v1", with_messages({"role": "user"}), "messages[0].content"),
    ("chat", with_messages({"role": "system"}, USER), "messages[0].content"),
    ("chat", with_messages(USER, stop=["ok", LONE_SURROGATE]), "stop"),
    ("v1", with_messages(USER, stop=LONE_SURROGATE), "stop"),
    ("chat", with_messages({"role": "user", "content": "x", "name": LONE_SURROGATE}), "name"),
    ("v1", with_messages({"role": "user", "content": "x", "name": LONE_SURROGATE}), "name"),
    (
        "chat",
        with_messages({"role": "user", "parts": [{"type": "text", "text": LONE_SURROGATE}]}),
        "messages[0].parts[0].text",
    ),
    # /v1 only: the frontend door takes none of these.
    ("v1", with_messages(USER, presence_penalty=NAN), "presence_penalty"),
    ("v1", with_messages(USER, frequency_penalty=-INF), "frequency_penalty"),
    ("v1", with_messages(USER, logit_bias={"1": NAN}), "logit_bias"),
    ("v1", with_messages(USER, presence_penalty=3), "presence_penalty"),
    ("v1", with_messages(USER, logit_bias={"not-a-token": 1}), "logit_bias"),
    ("v1", with_messages(USER, top_logprobs=50), "top_logprobs"),
    ("v1", with_messages(USER, response_format={"type": "yaml"}), "response_format"),
    ("v1", with_messages(USER, tool_choice="sometimes"), "tool_choice"),
    ("v1", with_messages(USER, tools=[{"type": "function"}]), "tools[0].function"),
    ("v1", with_messages(USER, tools=[{"type": "function", "function": {"name": "a b"}}]), "name"),
    ("v1", with_messages({"role": "user", "content": 5}), "messages[0].content"),
    ("v1", with_messages({"role": "developer"}, USER), "messages[0].content"),
    ("v1", with_messages({"role": "system", "content": [{"type": "image_url"}]}), "messages[0]"),
    ("v1", with_messages(USER, {"role": "assistant"}), "messages[1]"),
    ("v1", with_messages(USER, {"role": "tool", "content": "42"}), "messages[1].tool_call_id"),
    (
        "v1",
        with_messages(
            USER,
            {
                "role": "assistant",
                "tool_calls": [{**CALL, "function": {"name": "f", "arguments": LONE_SURROGATE}}],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "42"},
        ),
        "messages[1].tool_calls[0].function.arguments",
    ),
]


@pytest.mark.parametrize(
    ("door", "body", "needle"),
    CLIENT_MISTAKES,
    ids=[f"{door}-{i}" for i, (door, _, _) in enumerate(CLIENT_MISTAKES)],
)
def test_client_mistakes_are_4xx_naming_the_field_before_any_provider_call(
    gateway_for: Gateway, upstream: FakeUpstream, door: str, body: dict[str, Any], needle: str
) -> None:
    before = upstream_errors_counted()

    response = post_raw(
        gateway_for, "/api/chat" if door == "chat" else "/v1/chat/completions", body
    )

    error = response.json()["error"]
    if door == "chat":
        assert response.status_code == 422, response.text
        assert error["type"] == "invalid_request"
    else:  # OpenAI's conventions: 400 with its error shape
        assert response.status_code == 400, response.text
        assert error["code"] == "invalid_request"
        assert error["type"] == "invalid_request_error"
    assert needle in error["message"], error["message"]
    assert upstream.requests == []
    assert upstream_errors_counted() == before


NOT_MISTAKES = {
    # AI SDK 4 useChat: its own part shapes, which carry nothing the model is sent.
    "ai sdk 4 parts": with_messages(
        {"role": "user", "content": "hi", "parts": [{"type": "text", "text": "hi"}]},
        {
            "role": "assistant",
            "content": "",
            "parts": [
                {"type": "step-start"},
                {"type": "tool-invocation", "toolInvocation": {"state": "result"}},
                {"type": "file", "mimeType": "image/png", "data": "iVBORw0KGgo="},
            ],
        },
        {"role": "user", "parts": [{"type": "text", "text": "and now?"}]},
    ),
    "tool round in OpenAI shape": with_messages(
        USER,
        {"role": "assistant", "content": None, "tool_calls": [CALL]},
        {"role": "tool", "tool_call_id": "call_1", "content": "42"},
    ),
    "message fields of the frontend's own": with_messages(
        {"id": "m1", "role": "user", "content": "hi", "createdAt": "2025-01-01T00:00:00Z"}
    ),
    "parts arrays": with_messages(
        {"role": "system", "content": [{"type": "text", "text": "be brief"}]},
        {"role": "user", "content": [{"type": "text", "text": "hi"}]},
    ),
}


@pytest.mark.parametrize("body", NOT_MISTAKES.values(), ids=NOT_MISTAKES.keys())
def test_what_is_not_a_mistake_is_still_served(
    gateway_for: Gateway, upstream: FakeUpstream, body: dict[str, Any]
) -> None:
    assert gateway_for.client is not None
    response = gateway_for.client.post("/api/chat", json=body)
    assert response.status_code == 200, response.text
    assert len(upstream.requests) == 1
