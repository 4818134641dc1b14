"""Per-key tool permissions (`tools:` in the keys file): a key's requests are offered, and run,
only the tools its entry names, within what the YAML offers the model; a request's own list
narrows further and can never widen either."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gateway.auth import KeyConfigError, KeyStore
from tests.support import tools_for_tests
from tests.support.fake_upstream import FakeToolCall, FakeUpstream, Reply
from tests.support.gateways import Gateway
from tests.support.mcp_gateways import mcp_config, offered, servers_of, stdio_entry, tool_messages
from tests.support.mcp_servers import fake_server_params
from tests.support.polling import wait_until

NARROW_KEY = "narrow-key-for-the-tool-tests"
WIDE_KEY = "wide-key-for-the-tool-tests-x"
NONE_KEY = "no-tools-key-for-the-tool-tests"
ASK = [{"role": "user", "content": "echo hi"}]


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_the_keys_file_reads_tools_as_names_or_patterns(tmp_path: Path) -> None:
    keys_file = tmp_path / "keys.yaml"
    keys_file.write_text(
        f"- name: narrow\n  key: {NARROW_KEY}\n  tools: [add, 'mcp__fake__*']\n"
        f"- name: none\n  key: {NONE_KEY}\n  tools: []\n"
        f"- name: wide\n  key: {WIDE_KEY}\n"
    )
    store = KeyStore.load(None, keys_file)
    keys = {
        name: store.authenticate(key)
        for name, key in [("narrow", NARROW_KEY), ("none", NONE_KEY), ("wide", WIDE_KEY)]
    }
    assert keys["narrow"] is not None and keys["narrow"].tools == ("add", "mcp__fake__*")
    assert keys["none"] is not None and keys["none"].tools == ()
    assert keys["wide"] is not None and keys["wide"].tools is None


@pytest.mark.parametrize("tools", ["[add, 'bad name']", "['']", "add"])
def test_a_bad_tools_entry_is_refused_naming_the_field(tmp_path: Path, tools: str) -> None:
    keys_file = tmp_path / "keys.yaml"
    keys_file.write_text(f"- name: narrow\n  key: {NARROW_KEY}\n  tools: {tools}\n")
    with pytest.raises(KeyConfigError) as raised:
        KeyStore.load(None, keys_file)
    assert "entry 0: tools" in str(raised.value)
    assert NARROW_KEY not in str(raised.value)


@pytest.fixture
def keyed_gateway(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream, tmp_path: Path
) -> tuple[Gateway, Path]:
    record = tmp_path / "fake-server.jsonl"
    keys_file = tmp_path / "keys.yaml"
    keys_file.write_text(
        f"- name: narrow\n  key: {NARROW_KEY}\n  tools: [add, 'mcp__fake__ec*']\n"
        f"- name: none\n  key: {NONE_KEY}\n  tools: []\n"
        f"- name: wide\n  key: {WIDE_KEY}\n"
    )
    servers = {"fake": stdio_entry(fake_server_params("--record", str(record)))}
    config: dict[str, Any] = mcp_config(upstream, servers)
    config["gateway"]["tools"] = ["add", "explode", "mcp__fake__*"]
    config["gateway"]["tool_modules"] = ["tests.support.tools_for_tests"]
    gateway = start_gateway(config, api_keys_file=str(keys_file))
    wait_until(lambda: servers_of(gateway)["fake"]["state"] == "ready", 30)
    return gateway, record


def test_each_key_is_offered_only_its_tools(
    keyed_gateway: tuple[Gateway, Path], upstream: FakeUpstream
) -> None:
    gateway, _ = keyed_gateway
    body = {"model": "chat-model", "messages": ASK}
    for key in (NARROW_KEY, NONE_KEY, WIDE_KEY):
        upstream.script(Reply(chunks=["ok"]))
        assert gateway.client.post("/api/chat", json=body, headers=bearer(key)).status_code == 200
    narrow, none, wide = (offered(request) for request in upstream.requests)
    assert narrow == ["add", "mcp__fake__echo"]
    assert none == []
    assert {"add", "explode", "mcp__fake__echo", "mcp__fake__structured"} <= set(wide)


def test_a_request_cannot_ask_for_a_tool_its_key_may_not_use(
    keyed_gateway: tuple[Gateway, Path], upstream: FakeUpstream
) -> None:
    gateway, _ = keyed_gateway
    body = {"model": "chat-model", "messages": ASK, "tools": ["explode"]}
    refused = gateway.client.post("/api/chat", json=body, headers=bearer(NARROW_KEY))
    assert refused.status_code == 422
    error = refused.json()["error"]
    assert error["type"] == "invalid_request"
    # To this key the other tools do not exist: only the ones it may use are listed.
    assert error["message"].endswith("enabled: add, mcp__fake__echo")
    assert upstream.requests == []
    # The same list narrows a key that may use the tool.
    upstream.script(Reply(chunks=["ok"]))
    allowed = gateway.client.post("/api/chat", json=body, headers=bearer(WIDE_KEY))
    assert allowed.status_code == 200
    assert offered(upstream.requests[0]) == ["explode"]


def test_a_call_to_a_tool_the_key_may_not_use_is_not_run(
    keyed_gateway: tuple[Gateway, Path], upstream: FakeUpstream
) -> None:
    """The model asks for tools it was not offered (an injected prompt, say): nothing runs."""
    gateway, record = keyed_gateway
    before = tools_for_tests.CALLS["add"]
    upstream.script(
        Reply(
            tool_calls=[
                FakeToolCall("mcp__fake__structured", json.dumps({"city": "Oslo"})),
                FakeToolCall("add", json.dumps({"a": 1, "b": 2})),
            ]
        ),
        Reply(chunks=["done"]),
    )
    answer = gateway.client.post(
        "/api/chat", json={"model": "chat-model", "messages": ASK}, headers=bearer(NONE_KEY)
    )
    assert answer.status_code == 200
    results = tool_messages(upstream.requests[1])
    assert all("is not available; available: none" in result for result in results), results
    assert tools_for_tests.CALLS["add"] == before
    called = [json.loads(line) for line in record.read_text().splitlines()]
    assert [m for m in called if m.get("method") == "tools/call"] == []
