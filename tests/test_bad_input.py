"""Every client mistake gets its status and a message naming the problem; never a 500."""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import Gateway, config_for, model_entry
from tests.fake_upstream import FakeUpstream

OK_MESSAGES = [{"role": "user", "content": "hi"}]


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


def test_unknown_model_is_400_listing_known_ids(
    gateway_for: Gateway, upstream: FakeUpstream
) -> None:
    response = gateway_for.chat(model="gpt-5-turbo-max")
    assert response.status_code == 400
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
