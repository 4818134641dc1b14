"""API keys on the chat routes, and caps on what one request may carry."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import openai
import pytest

from gateway.app import create_app
from gateway.auth import KeyConfigError, KeyStore
from gateway.settings import Settings
from tests.support.configs import config_for
from tests.support.fake_upstream import FakeUpstream
from tests.support.gateways import Gateway

KEY_A = "key-a-0123456789abcdef"
KEY_B = "key-b-fedcba9876543210"


@pytest.fixture
def keyed(start_gateway: Callable[..., Gateway], upstream: FakeUpstream) -> Gateway:
    return start_gateway(config_for(upstream), api_keys=f"frontend:{KEY_A},batch:{KEY_B}")


def bearer(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


def post_chat(gateway: Gateway, headers: dict[str, str] | None = None) -> object:
    body = {"model": "chat-model", "messages": [{"role": "user", "content": "hi"}]}
    return gateway.client.post("/api/chat", json=body, headers=headers or {})


def test_missing_or_wrong_key_is_401(keyed: Gateway, upstream: FakeUpstream) -> None:
    for headers in (
        {},
        bearer("not-a-real-key-000000"),
        {"authorization": KEY_A},
        {"authorization": "Bearer"},
        {"x-api-key": "not-a-real-key-000000"},
        {"x-api-key": ""},
    ):
        response = post_chat(keyed, headers)
        assert response.status_code == 401, headers  # type: ignore[attr-defined]
        assert response.json()["error"]["type"] == "unauthorized"  # type: ignore[attr-defined]
        assert response.headers["www-authenticate"] == "Bearer"  # type: ignore[attr-defined]
    assert upstream.requests == []


def test_each_configured_key_is_accepted(keyed: Gateway) -> None:
    assert post_chat(keyed, bearer(KEY_A)).status_code == 200  # type: ignore[attr-defined]
    assert post_chat(keyed, bearer(KEY_B)).status_code == 200  # type: ignore[attr-defined]
    # Anthropic's SDKs send the key as x-api-key.
    assert post_chat(keyed, {"x-api-key": KEY_A}).status_code == 200  # type: ignore[attr-defined]


def test_health_stays_open(keyed: Gateway) -> None:
    assert keyed.client.get("/health").status_code == 200
    assert keyed.client.get("/health/ready").status_code == 200


def test_openai_door_uses_openai_auth_errors(keyed: Gateway) -> None:
    wrong = openai.OpenAI(base_url=f"{keyed.url}/v1", api_key="wrong-key-0000000000", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as refused:
        wrong.models.list()
    assert refused.value.code == "unauthorized"
    right = openai.OpenAI(base_url=f"{keyed.url}/v1", api_key=KEY_A, max_retries=0)
    assert [m.id for m in right.models.list()] == ["chat-model", "title-model"]


def test_no_key_value_reaches_any_log_line(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    gateway = start_gateway(config_for(upstream), api_keys=f"frontend:{KEY_A}")
    post_chat(gateway, bearer(KEY_A))
    post_chat(gateway, bearer(KEY_B))
    post_chat(gateway, bearer(KEY_A[:-1] + "X"))
    text = "\n".join(record.getMessage() for record in caplog.records)
    assert "frontend" in text  # the key is named by its name...
    for secret in (KEY_A, KEY_B, KEY_A[:-1] + "X"):
        assert secret not in text  # ...never shown


def test_keys_file_and_bare_env_keys(tmp_path: Path) -> None:
    keys_file = tmp_path / "keys.yaml"
    keys_file.write_text(f"- name: mobile\n  key: {KEY_B}\n")
    store = KeyStore.load(KEY_A, keys_file)
    found_a, found_b = store.authenticate(KEY_A), store.authenticate(KEY_B)
    assert found_a is not None and found_a.name.startswith("key-")
    assert found_b is not None and found_b.name == "mobile"
    assert store.authenticate("x" * 20) is None


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ("frontend:short", "at least 16 characters"),
        (f"a:{KEY_A},a:{KEY_B}", "names used twice: a"),
        (f"a:{KEY_A},b:{KEY_A}", "configured twice"),
        (f"bad name:{KEY_A}", "name"),
    ],
)
def test_bad_key_configuration_is_refused_without_echoing_keys(env: str, needle: str) -> None:
    with pytest.raises(KeyConfigError) as refused:
        KeyStore.load(env, None)
    assert needle in str(refused.value)
    assert KEY_A not in str(refused.value) and "short" not in str(refused.value).replace(
        "short_hash", ""
    )


def test_require_auth_without_keys_refuses_to_start(upstream: FakeUpstream, tmp_path: Path) -> None:
    import yaml

    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config_for(upstream)))
    with pytest.raises(KeyConfigError, match="no API keys are configured"):
        create_app(Settings(config=path, require_auth=True, _env_file=None))
    done = subprocess.run(
        [sys.executable, "-m", "gateway", "serve", "--config", str(path), "--port", "1"],
        capture_output=True, text=True, timeout=120,
        env={"PATH": "/usr/bin:/bin", "GATEWAY_REQUIRE_AUTH": "true", "HOME": str(tmp_path)},
    )  # fmt: skip
    assert done.returncode == 1
    assert "no API keys are configured" in done.stderr


def test_open_gateway_warns_loudly(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    start_gateway(config_for(upstream))
    assert any("NO API KEYS CONFIGURED" in record.getMessage() for record in caplog.records)


def test_too_many_messages_is_422(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream
) -> None:
    gateway = start_gateway(config_for(upstream), max_messages=3)
    messages = [{"role": "user", "content": f"m{i}"} for i in range(4)]
    response = gateway.chat(messages=messages)
    assert response.status_code == 422
    assert "4 messages is over the limit of 3" in response.json()["error"]["message"]
    assert upstream.requests == []


def test_too_many_characters_is_413(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream
) -> None:
    gateway = start_gateway(config_for(upstream), max_total_chars=100)
    messages = [{"role": "user", "content": "x" * 60}, {"role": "user", "content": "你" * 60}]
    response = gateway.chat(messages=messages)
    assert response.status_code == 413
    assert "120 characters, over the limit of 100" in response.json()["error"]["message"]
    ui = {
        "model": "chat-model",
        "messages": [{"role": "user", "parts": [{"type": "text", "text": "y" * 101}]}],
    }
    assert gateway.client.post("/api/chat", json=ui).status_code == 413
    assert upstream.requests == []


def test_a_key_limited_to_some_models_sees_no_other(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream, tmp_path: Path
) -> None:
    keys_file = tmp_path / "keys.yaml"
    keys_file.write_text(
        f"- name: titles\n  key: {KEY_A}\n  models: [title-model]\n- name: all\n  key: {KEY_B}\n"
    )
    gateway = start_gateway(config_for(upstream), api_keys_file=str(keys_file))
    limited, full = bearer(KEY_A), bearer(KEY_B)
    listed = gateway.client.get("/v1/models", headers=limited).json()["data"]
    assert [m["id"] for m in listed] == ["title-model"]
    assert len(gateway.client.get("/v1/models", headers=full).json()["data"]) == 2

    said = [{"role": "user", "content": "hi"}]
    refusals = [
        gateway.client.post(
            "/api/chat", json={"model": "chat-model", "messages": said}, headers=limited
        ),
        gateway.client.post(
            "/v1/chat/completions", json={"model": "chat-model", "messages": said}, headers=limited
        ),
        gateway.client.post(
            "/v1/messages",
            json={"model": "chat-model", "messages": said, "max_tokens": 9},
            headers=limited,
        ),
    ]
    assert [r.status_code for r in refusals] == [404, 404, 404]
    for refused in refusals:
        # Exactly what an unknown ID gets, listing only the IDs this key may use.
        assert "unknown model 'chat-model'; known models: title-model" in refused.text
    assert upstream.requests == []
    allowed = {"model": "title-model", "messages": said}
    assert gateway.client.post("/api/chat", json=allowed, headers=limited).status_code == 200
    assert (
        gateway.client.post(
            "/api/chat", json={**allowed, "model": "chat-model"}, headers=full
        ).status_code
        == 200
    )


def test_a_keys_file_model_list_must_not_be_empty(tmp_path: Path) -> None:
    keys_file = tmp_path / "keys.yaml"
    keys_file.write_text(f"- name: none\n  key: {KEY_A}\n  models: []\n")
    with pytest.raises(KeyConfigError, match="models"):
        KeyStore.load(None, keys_file)
