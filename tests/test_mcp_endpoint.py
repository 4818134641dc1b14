"""/mcp: the gateway as one MCP server, driven by the official `mcp` SDK's client over streamable
HTTP, against a gateway with a real MCP server (mcp-server-time), the fault-injecting fake and
registry tools: each key lists and calls only its own tools, behind the same keys, rate limits,
request log and metrics as the chat doors."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import httpx2
import mcp_types
import pytest
import yaml
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from tests.support import tools_for_tests
from tests.support.fake_mcp_server import TINY_PNG
from tests.support.fake_upstream import FakeUpstream
from tests.support.gateways import Gateway
from tests.support.mcp_gateways import mcp_config, servers_of, stdio_entry
from tests.support.mcp_servers import fake_server_params, time_server_params
from tests.support.polling import wait_until
from tests.support.prometheus import sample

NARROW_KEY = "narrow-key-for-the-mcp-endpoint"
WIDE_KEY = "wide-key-for-the-mcp-endpoint-x"
TITLE_KEY = "title-key-for-the-mcp-endpoint-x"
LIMITED_KEY = "limited-key-for-the-mcp-endpoint"
# mode="auto" finds 2026-07-28's per-request envelope; "legacy" forces the initialize handshake.
MODES = ("auto", "legacy")
SCENARIO_TIMEOUT = 60.0
# The fake's tools /mcp serves: all but add_tool, which the YAML says to ask about first.
FAKE_TOOLS = {"echo", "structured", "image", "fail", "slow", "crash", "malformed", "env"}


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    async def bounded() -> None:
        with anyio.fail_after(SCENARIO_TIMEOUT):
            await scenario()

    anyio.run(bounded)


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def connect(gateway: Gateway, headers: dict[str, str], mode: str = "auto") -> Client:
    """The SDK's client at the gateway's /mcp, sending `headers` on every request."""
    http = httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30, read=60))
    transport = streamable_http_client(f"{gateway.url}/mcp", http_client=http)
    return Client(transport, mode=mode)  # type: ignore[arg-type]


def texts(result: mcp_types.CallToolResult) -> list[str]:
    return [block.text for block in result.content if isinstance(block, mcp_types.TextContent)]


def leaves(group: BaseException) -> list[BaseException]:
    """The exceptions inside (nested) exception groups, and what each was raised during."""
    if isinstance(group, BaseExceptionGroup):
        return [leaf for inner in group.exceptions for leaf in leaves(inner)]
    return [group, *([group.__context__] if group.__context__ is not None else [])]


def tool_calls_recorded(record: Path) -> list[dict[str, Any]]:
    if not record.exists():
        return []
    messages = [json.loads(line) for line in record.read_text().splitlines() if line]
    return [m for m in messages if m.get("method") == "tools/call"]


def keys_file(tmp_path: Path) -> Path:
    path = tmp_path / "keys.yaml"
    path.write_text(
        f"- name: narrow\n  key: {NARROW_KEY}\n  tools: [add, 'mcp__fake__ec*']\n"
        f"- name: wide\n  key: {WIDE_KEY}\n"
        f"- name: title\n  key: {TITLE_KEY}\n  models: [title-model]\n"
        f"- name: limited\n  key: {LIMITED_KEY}\n  rate_limit: 2/minute\n  tools: [add]\n"
    )
    return path


def endpoint_config(upstream: FakeUpstream, record: Path) -> dict[str, Any]:
    servers = {
        "fake": stdio_entry(
            fake_server_params("--record", str(record)),
            call_timeout=1,
            require_approval=["add_tool"],
        ),
        "time": stdio_entry(time_server_params()),
    }
    config: dict[str, Any] = mcp_config(upstream, servers)
    config["gateway"]["tools"] = ["add", "explode", "mcp__fake__*", "mcp__time__*"]
    config["gateway"]["tool_modules"] = ["tests.support.tools_for_tests"]
    config["model_list"][1]["tools"] = ["add"]  # title-model is offered only `add`
    return config


def wait_for_servers(gateway: Gateway) -> None:
    wait_until(
        lambda: {s["state"] for s in servers_of(gateway).values()} == {"ready"},
        30,
    )


@pytest.fixture
def keyed(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream, tmp_path: Path
) -> tuple[Gateway, Path]:
    record = tmp_path / "fake-server.jsonl"
    gateway = start_gateway(
        endpoint_config(upstream, record), api_keys_file=str(keys_file(tmp_path))
    )
    wait_for_servers(gateway)
    return gateway, record


@pytest.mark.parametrize("mode", MODES)
def test_a_key_lists_and_calls_its_tools(keyed: tuple[Gateway, Path], mode: str) -> None:
    gateway, record = keyed
    before = tools_for_tests.CALLS["add"]

    async def scenario() -> None:
        async with connect(gateway, bearer(NARROW_KEY), mode) as client:
            tools = {tool.name: tool for tool in (await client.list_tools()).tools}
            assert list(tools) == ["add", "mcp__fake__echo"]
            assert tools["add"].description == "Add two integers."
            assert set(tools["add"].input_schema["properties"]) == {"a", "b"}
            assert tools["mcp__fake__echo"].description == "Echo the text back."
            assert tools["mcp__fake__echo"].input_schema["required"] == ["text"]

            added = await client.call_tool("add", {"a": 2, "b": 3})
            assert not added.is_error and texts(added) == ["5"]
            echoed = await client.call_tool("mcp__fake__echo", {"text": "héllo 你好"})
            assert not echoed.is_error and texts(echoed) == ["héllo 你好"]

    run(scenario)
    assert tools_for_tests.CALLS["add"] == before + 1
    (echo,) = tool_calls_recorded(record)
    assert echo["params"]["name"] == "echo"  # the server's own name, not the gateway's


def test_another_key_sees_only_its_own_tools(keyed: tuple[Gateway, Path]) -> None:
    gateway, _ = keyed
    listed: dict[str, list[str]] = {}

    async def scenario() -> None:
        for name, key in [("narrow", NARROW_KEY), ("wide", WIDE_KEY), ("title", TITLE_KEY)]:
            async with connect(gateway, bearer(key)) as client:
                listed[name] = [tool.name for tool in (await client.list_tools()).tools]

    run(scenario)
    assert listed["narrow"] == ["add", "mcp__fake__echo"]
    # A key with no `tools:` gets every tool of every model it may use, under the gateway's names.
    assert {"add", "explode", "mcp__time__get_current_time", "mcp__time__convert_time"} <= set(
        listed["wide"]
    )
    assert {f"mcp__fake__{tool}" for tool in FAKE_TOOLS} <= set(listed["wide"])
    assert "mcp__fake__add_tool" not in listed["wide"]
    # A key that may use only title-model gets what title-model is offered.
    assert listed["title"] == ["add"]


def test_a_tool_the_key_may_not_use_is_refused_and_not_run(keyed: tuple[Gateway, Path]) -> None:
    gateway, record = keyed
    before = dict(tools_for_tests.CALLS)
    refusals: list[MCPError] = []

    async def scenario() -> None:
        async with connect(gateway, bearer(NARROW_KEY)) as client:
            # Another key's tool, a registered tool no model is offered, and one that is nowhere.
            for name in ("mcp__fake__structured", "never_enabled", "no_such_tool"):
                with pytest.raises(MCPError) as refused:
                    await client.call_tool(name, {"value": "x"})
                refusals.append(refused.value)

    run(scenario)
    assert [error.code for error in refusals] == [mcp_types.INVALID_PARAMS] * 3
    assert [error.message for error in refusals] == [
        "Unknown tool: mcp__fake__structured",
        "Unknown tool: never_enabled",
        "Unknown tool: no_such_tool",
    ]
    assert tool_calls_recorded(record) == []
    assert dict(tools_for_tests.CALLS) == before


def test_a_tool_that_asks_first_is_not_served(keyed: tuple[Gateway, Path]) -> None:
    """`require_approval` in the YAML: /mcp has no way to ask, so it neither lists nor runs it."""
    gateway, record = keyed

    async def scenario() -> None:
        async with connect(gateway, bearer(WIDE_KEY)) as client:
            names = {tool.name for tool in (await client.list_tools()).tools}
            assert "mcp__fake__add_tool" not in names and "mcp__fake__echo" in names
            with pytest.raises(MCPError) as refused:
                await client.call_tool("mcp__fake__add_tool", {"name": "sneaky"})
            assert refused.value.message == "Unknown tool: mcp__fake__add_tool"

    run(scenario)
    assert tool_calls_recorded(record) == []


def test_without_a_valid_key_it_is_a_401(keyed: tuple[Gateway, Path]) -> None:
    gateway, record = keyed
    initialize = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    accept = {"Accept": "application/json, text/event-stream"}
    for headers in ({}, bearer("not-a-key-of-this-gateway"), {"x-api-key": "wrong-key-0000000000"}):
        response = gateway.client.post("/mcp", json=initialize, headers={**accept, **headers})
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith("Bearer")
        body = response.json()
        assert body["jsonrpc"] == "2.0" and body["id"] is None
        assert body["error"]["data"] == {"type": "unauthorized"}
    # Anthropic's header works as the chat doors' does.
    listed = gateway.client.post("/mcp", json=initialize, headers={**accept, "x-api-key": WIDE_KEY})
    assert listed.status_code == 200 and listed.json()["result"]["tools"]

    async def scenario() -> None:
        # The client fails to connect: the error comes out of its task group.
        with pytest.raises(BaseExceptionGroup) as refused:
            async with connect(gateway, {}) as client:
                await client.call_tool("mcp__fake__echo", {"text": "never"})
        # Refused twice: the 2026-07-28 probe, then the handshake it falls back to.
        errors = [e for e in leaves(refused.value) if isinstance(e, MCPError)]
        assert errors and all(e.message.startswith("an API key is required") for e in errors)

    run(scenario)
    assert tool_calls_recorded(record) == []


def test_each_tool_call_counts_against_the_key_rate_limit(keyed: tuple[Gateway, Path]) -> None:
    gateway, _ = keyed
    before = tools_for_tests.CALLS["add"]

    async def scenario() -> None:
        async with connect(gateway, bearer(LIMITED_KEY)) as client:
            for _ in range(3):  # listing is not a tool call: it does not count
                assert [tool.name for tool in (await client.list_tools()).tools] == ["add"]
            for a in (1, 2):
                assert texts(await client.call_tool("add", {"a": a, "b": 1})) == [str(a + 1)]
            with pytest.raises(MCPError) as limited:
                await client.call_tool("add", {"a": 3, "b": 1})
            assert limited.value.message.startswith("rate limit exceeded: 2 per 1 minute")
            # Other keys have their own counts.
        async with connect(gateway, bearer(NARROW_KEY)) as other:
            assert texts(await other.call_tool("add", {"a": 4, "b": 1})) == ["5"]

    run(scenario)
    assert tools_for_tests.CALLS["add"] == before + 3  # the refused call never ran
    call = {"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": "add"}}
    refused = gateway.client.post(
        "/mcp",
        json=call,
        headers={**bearer(LIMITED_KEY), "Accept": "application/json, text/event-stream"},
    )
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) >= 1
    assert refused.headers["x-ratelimit-limit"] == "2"
    assert refused.json()["error"]["data"] == {"type": "rate_limited"}


@pytest.mark.parametrize("mode", MODES)
def test_failing_tools_are_results_with_is_error(keyed: tuple[Gateway, Path], mode: str) -> None:
    gateway, _ = keyed

    async def scenario() -> None:
        async with connect(gateway, bearer(WIDE_KEY), mode) as client:
            exploded = await client.call_tool("explode", {})
            assert exploded.is_error
            assert texts(exploded) == ["the tool failed (RuntimeError)"]  # not its secret
            failed = await client.call_tool("mcp__fake__fail", {"message": "the disk is full"})
            assert failed.is_error and texts(failed) == ["the disk is full"]
            slow = await client.call_tool("mcp__fake__slow", {"seconds": 30})
            assert slow.is_error
            assert texts(slow) == ["the tool did not finish within 1 seconds"]
            bad = await client.call_tool("add", {"a": "two", "b": 1})
            assert bad.is_error and texts(bad)[0].startswith("invalid arguments: a: Input should")
            zone = await client.call_tool("mcp__time__get_current_time", {"timezone": "Mars/X"})
            assert zone.is_error and "Invalid timezone" in texts(zone)[0]

    run(scenario)


def test_structured_content_and_images_come_back_as_mcp_content(
    keyed: tuple[Gateway, Path],
) -> None:
    gateway, _ = keyed

    async def scenario() -> None:
        async with connect(gateway, bearer(WIDE_KEY)) as client:
            listed = {tool.name: tool for tool in (await client.list_tools()).tools}
            # The server's own output schema goes on (the SDK checks structuredContent on it).
            schema = listed["mcp__fake__structured"].output_schema
            assert schema is not None and set(schema["properties"]) == {"value", "length"}
            assert listed["mcp__time__convert_time"].output_schema is not None
            assert listed["add"].output_schema is None
            structured = await client.call_tool("mcp__fake__structured", {"value": "abc"})
            assert structured.structured_content == {"value": "abc", "length": 3}
            assert json.loads(texts(structured)[0]) == {"value": "abc", "length": 3}
            image = await client.call_tool("mcp__fake__image", {})
            (block,) = image.content
            assert isinstance(block, mcp_types.ImageContent)
            assert (block.mime_type, block.data) == ("image/png", TINY_PNG)
            arguments = {"source_timezone": "UTC", "time": "12:00", "target_timezone": "Asia/Tokyo"}
            converted = await client.call_tool("mcp__time__convert_time", arguments)
            assert converted.structured_content is not None
            assert converted.structured_content["target"]["datetime"].endswith("T21:00:00+09:00")

    run(scenario)


def test_bad_input_is_a_json_rpc_error_not_a_500(keyed: tuple[Gateway, Path]) -> None:
    gateway, record = keyed
    headers = {
        **bearer(WIDE_KEY),
        "Accept": "application/json, text/event-stream",
        "Content-Type": "application/json",
    }
    post = gateway.client.post
    malformed = post("/mcp", content=b'{"jsonrpc": "2.0", "id": 1, "method":', headers=headers)
    assert malformed.status_code == 400
    assert malformed.json()["error"]["code"] == mcp_types.PARSE_ERROR
    not_rpc = post("/mcp", json={"hello": "world", "id": 3}, headers=headers)
    assert not_rpc.status_code == 400 and "error" in not_rpc.json()
    no_params = post(
        "/mcp", json={"jsonrpc": "2.0", "id": 4, "method": "tools/call"}, headers=headers
    )
    assert no_params.json()["error"]["code"] == mcp_types.INVALID_PARAMS
    unknown = post("/mcp", json={"jsonrpc": "2.0", "id": 5, "method": "no/such"}, headers=headers)
    assert unknown.json()["error"]["code"] == mcp_types.METHOD_NOT_FOUND
    huge = {
        "jsonrpc": "2.0",
        "id": 6,
        "method": "tools/call",
        "params": {"name": "mcp__fake__echo"},
    }
    huge["params"]["arguments"] = {"text": "x" * (1024 * 1024)}
    too_large = post("/mcp", json=huge, headers=headers)
    assert too_large.status_code == 413
    assert too_large.json()["error"]["data"] == {"type": "request_too_large"}
    assert post("/mcp", content=b"[]", headers=headers).status_code == 400
    assert gateway.client.get("/mcp", headers=headers).status_code == 405
    assert tool_calls_recorded(record) == []


def test_a_page_from_another_origin_is_refused(keyed: tuple[Gateway, Path]) -> None:
    gateway, _ = keyed
    listing = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    headers = {**bearer(WIDE_KEY), "Accept": "application/json, text/event-stream"}
    foreign = gateway.client.post(
        "/mcp", json=listing, headers={**headers, "Origin": "http://evil.example"}
    )
    assert foreign.status_code == 403
    assert foreign.json()["error"]["data"] == {"type": "origin_not_allowed"}
    frontend = gateway.client.post(
        "/mcp", json=listing, headers={**headers, "Origin": "http://localhost:3000"}
    )
    assert frontend.status_code == 200


def test_each_request_is_logged_and_tool_calls_are_counted(
    keyed: tuple[Gateway, Path], caplog: pytest.LogCaptureFixture
) -> None:
    gateway, _ = keyed
    caplog.set_level(logging.INFO, logger="gateway.request")
    counted = {"server": "fake", "outcome": "ok"}
    before = sample(gateway.client.get("/metrics").text, "gateway_mcp_tool_calls_total", **counted)

    async def scenario() -> None:
        async with connect(gateway, bearer(NARROW_KEY), "legacy") as client:
            await client.call_tool("mcp__fake__echo", {"text": "logged"})
            with pytest.raises(MCPError):
                await client.call_tool("explode", {})

    run(scenario)
    after = sample(gateway.client.get("/metrics").text, "gateway_mcp_tool_calls_total", **counted)
    assert after == before + 1
    lines = [
        r.fields  # type: ignore[attr-defined]
        for r in caplog.records
        if r.name == "gateway.request" and r.fields["path"] == "/mcp"  # type: ignore[attr-defined]
    ]
    assert {line["key"] for line in lines} == {"narrow"}
    methods = [line["mcp_method"] for line in lines]
    assert methods[:2] == ["initialize", "notifications/initialized"]
    calls = [line for line in lines if line["mcp_method"] == "tools/call"]
    assert [(line["tool"], line.get("tool_error")) for line in calls] == [
        ("mcp__fake__echo", False),
        ("unknown", None),  # explode is not this key's: named as no tool
    ]
    assert all(line["status"] in (200, 202) for line in lines)


def test_an_open_gateway_serves_every_tool_any_model_is_offered(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream, tmp_path: Path
) -> None:
    record = tmp_path / "fake-server.jsonl"
    config = endpoint_config(upstream, record)
    config["gateway"]["tools"] = ["mcp__fake__echo"]  # chat-model: echo; title-model: add
    gateway = start_gateway(config)
    wait_for_servers(gateway)

    async def scenario() -> None:
        async with connect(gateway, {}) as client:
            names = [tool.name for tool in (await client.list_tools()).tools]
            assert names == ["mcp__fake__echo", "add"]
            assert texts(await client.call_tool("add", {"a": 1, "b": 1})) == ["2"]
            with pytest.raises(MCPError):
                await client.call_tool("explode", {})

    run(scenario)


def test_a_reload_mid_call_changes_nothing_of_the_request(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream, tmp_path: Path
) -> None:
    """The call began on one config's engine and finishes on it, its server included, though a
    reload removed that server; the next request gets the new config's tools."""
    admin = "admin-key-for-the-mcp-endpoint"
    servers = {"fake": stdio_entry(fake_server_params())}
    config: dict[str, Any] = mcp_config(upstream, servers)
    gateway = start_gateway(config, admin_key=admin)
    wait_for_servers(gateway)

    def reload_without_the_server() -> None:
        wait_until(lambda: servers_of(gateway)["fake"]["calls_in_flight"] == 1, 10)
        del config["mcp_servers"]
        config["gateway"]["tools"] = []
        gateway.config_path.write_text(yaml.safe_dump(config))
        reloaded = gateway.client.post("/admin/reload", headers=bearer(admin))
        assert reloaded.json()["status"] == "applied"

    async def scenario() -> None:
        async with connect(gateway, {}) as client:
            results: list[mcp_types.CallToolResult] = []

            async def slow_call() -> None:
                results.append(await client.call_tool("mcp__fake__slow", {"seconds": 1.5}))

            async with anyio.create_task_group() as calls:
                calls.start_soon(slow_call)
                await anyio.to_thread.run_sync(reload_without_the_server)
            assert texts(results[0]) == ["slept 1.5"] and not results[0].is_error
            assert (await client.list_tools()).tools == []

    run(scenario)
