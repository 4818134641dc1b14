"""The MCP test servers work, and what the mcp 2.x SDK's `Client` does with each of them.

Real servers nobody here wrote (mcp-server-time over stdio; server-everything over stdio,
streamable HTTP and SSE) and the fault-injecting fake (tests/support/fake_mcp_server.py), each
listed and called through `mcp.Client`. The fake's faults pin the SDK behaviour the gateway relies
on: which exception each failure raises, and that a dead server is noticed only by the next call.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx2
import mcp_types
import pytest
from mcp import Client
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.exceptions import MCPError
from pydantic import ValidationError

from tests.support.fake_mcp_server import CRASH_STATUS, TINY_PNG
from tests.support.mcp_servers import (
    FAKE_SERVER,
    TIME_ZONE,
    HttpServer,
    everything_http,
    everything_stdio_params,
    fake_server_params,
    time_server_params,
)

SCENARIO_TIMEOUT = 60.0
CONNECTION_CLOSED = -32000
REQUEST_TIMEOUT = -32001
HANDSHAKE_VERSION = "2025-11-25"  # what mcp 2.x's initialize asks for
FAKE_TOOLS = [
    *("echo", "structured", "image", "fail", "slow", "crash", "malformed", "add_tool", "env"),
    "pid",
]


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    async def bounded() -> None:
        with anyio.fail_after(SCENARIO_TIMEOUT):
            await scenario()

    anyio.run(bounded)


class Messages:
    """A Client message_handler that keeps what it is given."""

    def __init__(self) -> None:
        self.received: list[Any] = []

    async def __call__(self, message: Any) -> None:
        self.received.append(message)

    def of_type(self, kind: type) -> list[Any]:
        return [message for message in self.received if isinstance(message, kind)]


def texts(result: mcp_types.CallToolResult) -> list[str]:
    return [block.text for block in result.content if isinstance(block, mcp_types.TextContent)]


def leaves(group: BaseException) -> list[BaseException]:
    """The exceptions inside (nested) exception groups."""
    if isinstance(group, BaseExceptionGroup):
        return [leaf for inner in group.exceptions for leaf in leaves(inner)]
    return [group]


# --- mcp-server-time (PyPI) over stdio ------------------------------------------------------------


def test_time_server_over_stdio_lists_and_converts() -> None:
    async def scenario() -> None:
        async with Client(time_server_params().parameters()) as client:
            # mcp-server-time runs on mcp 2.x itself: mode="auto" finds the stateless era.
            assert client.protocol_version == "2026-07-28"
            assert client.server_info is not None and client.server_info.name == "mcp-time"
            tools = {tool.name: tool for tool in (await client.list_tools()).tools}
            assert set(tools) == {"get_current_time", "convert_time"}
            assert TIME_ZONE in json.dumps(tools["get_current_time"].input_schema)
            arguments = {"source_timezone": "UTC", "time": "12:00", "target_timezone": "Asia/Tokyo"}
            result = await client.call_tool("convert_time", arguments)
            assert not result.is_error
            assert result.structured_content is not None
            assert result.structured_content["target"]["datetime"].endswith("T21:00:00+09:00")
            assert result.structured_content["time_difference"] == "+9.0h"
            bad = await client.call_tool("get_current_time", {"timezone": "Mars/Olympus_Mons"})
            assert bad.is_error and "Invalid timezone" in texts(bad)[0]

    run(scenario)


def test_time_server_in_legacy_mode_uses_the_handshake() -> None:
    async def scenario() -> None:
        async with Client(time_server_params().parameters(), mode="legacy") as client:
            assert client.protocol_version == HANDSHAKE_VERSION
            result = await client.call_tool("get_current_time", {"timezone": "UTC"})
            assert result.structured_content is not None
            assert result.structured_content["timezone"] == "UTC"

    run(scenario)


# --- @modelcontextprotocol/server-everything (npm) ------------------------------------------------


def test_everything_over_stdio() -> None:
    async def scenario() -> None:
        messages = Messages()
        async with Client(
            everything_stdio_params().parameters(), message_handler=messages
        ) as client:
            assert client.protocol_version == HANDSHAKE_VERSION  # a TS SDK 1.x server: no discover
            names = {tool.name for tool in (await client.list_tools()).tools}
            assert {"echo", "get-sum", "get-tiny-image", "get-structured-content"} <= names
            assert texts(await client.call_tool("echo", {"message": "hi"})) == ["Echo: hi"]
            result = await client.call_tool("get-sum", {"a": 2, "b": 3})
            assert "5" in texts(result)[0]
            # It registers more tools once initialized, and says so.
            assert messages.of_type(mcp_types.ToolListChangedNotification)

    run(scenario)


@pytest.fixture(scope="module")
def everything_streamable() -> Iterator[HttpServer]:
    with everything_http("streamable-http") as server:
        yield server


@pytest.fixture(scope="module")
def everything_sse() -> Iterator[HttpServer]:
    with everything_http("sse") as server:
        yield server


def recording_hook(sent: list[httpx2.Request]) -> Callable[[httpx2.Request], Awaitable[None]]:
    async def hook(request: httpx2.Request) -> None:
        sent.append(request)

    return hook


def test_everything_over_streamable_http_with_headers(everything_streamable: HttpServer) -> None:
    assert everything_streamable.url.endswith("/mcp")
    sent: list[httpx2.Request] = []

    async def scenario() -> None:
        # Headers for streamable HTTP: an httpx2.AsyncClient of one's own (then its timeouts are
        # one's own too: the SDK's default client reads for 300 s).
        http = httpx2.AsyncClient(
            headers={"X-Gateway-Test": "streamable"},
            timeout=httpx2.Timeout(30, read=300),
            event_hooks={"request": [recording_hook(sent)]},
        )
        async with http:
            transport = streamable_http_client(everything_streamable.url, http_client=http)
            async with Client(transport) as client:
                assert client.protocol_version == HANDSHAKE_VERSION
                names = {tool.name for tool in (await client.list_tools()).tools}
                assert "echo" in names
                assert texts(await client.call_tool("echo", {"message": "over http"})) == [
                    "Echo: over http"
                ]

    run(scenario)
    assert sent and all(r.headers.get("x-gateway-test") == "streamable" for r in sent)
    assert {r.method for r in sent} >= {"POST", "GET", "DELETE"}  # GET: the server's own stream


def test_everything_over_streamable_http_by_url(everything_streamable: HttpServer) -> None:
    async def scenario() -> None:
        async with Client(everything_streamable.url, mode="legacy") as client:
            assert client.protocol_version == HANDSHAKE_VERSION
            result = await client.call_tool("get-tiny-image", {})
            images = [b for b in result.content if isinstance(b, mcp_types.ImageContent)]
            assert images and images[0].mime_type == "image/png"

    run(scenario)


def test_everything_over_sse_with_headers(everything_sse: HttpServer) -> None:
    assert everything_sse.url.endswith("/sse")
    sent: list[httpx2.Request] = []

    def client_factory(
        headers: dict[str, str] | None = None,
        timeout: httpx2.Timeout | None = None,
        auth: httpx2.Auth | None = None,
    ) -> httpx2.AsyncClient:
        http = create_mcp_http_client(headers=headers, timeout=timeout, auth=auth)
        http.event_hooks["request"].append(recording_hook(sent))
        return http

    async def scenario() -> None:
        messages = Messages()
        # Headers for SSE: sse_client's own headers= (a plain dict).
        transport = sse_client(
            everything_sse.url,
            headers={"X-Gateway-Test": "sse"},
            httpx_client_factory=client_factory,
        )
        async with Client(transport, message_handler=messages) as client:
            assert client.protocol_version == HANDSHAKE_VERSION
            assert texts(await client.call_tool("echo", {"message": "over sse"})) == [
                "Echo: over sse"
            ]
            assert messages.of_type(mcp_types.ToolListChangedNotification)

    run(scenario)
    assert sent and all(r.headers.get("x-gateway-test") == "sse" for r in sent)
    assert {(r.method, r.url.path) for r in sent} >= {("GET", "/sse"), ("POST", "/message")}


def test_a_dead_streamable_http_server_tears_down_the_client_block() -> None:
    """Unlike stdio's "Connection closed" from the call, the next call's POST fails in the
    transport's task group: the call is cancelled and the whole block raises."""

    async def scenario(server: HttpServer) -> None:
        reached_after_call = False
        with pytest.raises(ExceptionGroup) as torn_down:
            async with Client(server.url) as client:
                await client.call_tool("echo", {"message": "alive"})
                os.kill(server.pid, signal.SIGKILL)
                await anyio.sleep(0.5)  # idle: nothing happens yet
                # Not an Exception out of the call: the call is cancelled, the block raises.
                with contextlib.suppress(Exception):
                    await client.call_tool("echo", {"message": "dead?"})
                reached_after_call = True
        [leaf] = leaves(torn_down.value)
        assert isinstance(leaf, httpx2.ConnectError)
        assert not reached_after_call

    with everything_http("streamable-http") as server:
        run(lambda: scenario(server))


# --- the fake, raw: its wire behaviour without the SDK --------------------------------------------


def raw_exchange(*messages: dict[str, Any], flags: tuple[str, ...] = ()) -> tuple[list[Any], int]:
    """Send `messages` (one a line) to the fake, close its stdin; its answers and exit status."""
    lines = "".join(json.dumps({"jsonrpc": "2.0", **m}) + "\n" for m in messages)
    done = subprocess.run(
        [sys.executable, str(FAKE_SERVER), *flags],
        input=lines,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return [json.loads(line) for line in done.stdout.splitlines()], done.returncode


def initialize(version: str, request_id: int = 1) -> dict[str, Any]:
    params = {
        "protocolVersion": version,
        "capabilities": {},
        "clientInfo": {"name": "t", "version": "0"},
    }
    return {"id": request_id, "method": "initialize", "params": params}


@pytest.mark.parametrize(
    ("asked", "answered"),
    [("2025-06-18", "2025-06-18"), ("2025-11-25", "2025-11-25"), ("2024-11-05", "2025-11-25")],
)
def test_fake_answers_initialize_with_a_version_it_speaks(asked: str, answered: str) -> None:
    answers, status = raw_exchange(initialize(asked))
    assert status == 0
    assert answers[0]["id"] == 1
    assert answers[0]["result"]["protocolVersion"] == answered
    assert answers[0]["result"]["capabilities"] == {"tools": {"listChanged": True}}


def test_fake_answers_ping_and_errors_unknown_methods() -> None:
    answers, _ = raw_exchange(
        initialize("2025-11-25"),
        {"method": "notifications/initialized"},
        {"id": 2, "method": "ping"},
        {"id": 3, "method": "resources/list"},
    )
    by_id = {answer["id"]: answer for answer in answers}
    assert by_id[2]["result"] == {}
    assert by_id[3]["error"]["code"] == -32601
    assert len(answers) == 3  # nothing for the notification


def test_fake_crash_exits_3_without_answering() -> None:
    call = {"id": 2, "method": "tools/call", "params": {"name": "crash", "arguments": {}}}
    answers, status = raw_exchange(initialize("2025-11-25"), call)
    assert status == CRASH_STATUS
    assert [answer["id"] for answer in answers] == [1]


def test_fake_tools_flag_limits_the_list() -> None:
    answers, _ = raw_exchange(
        initialize("2025-11-25"), {"id": 2, "method": "tools/list"}, flags=("--tools", "echo,slow")
    )
    assert [tool["name"] for tool in answers[1]["result"]["tools"]] == ["echo", "slow"]


# --- the fake through mcp.Client ------------------------------------------------------------------


def fake(*flags: str, **options: Any) -> Client:
    return Client(fake_server_params(*flags).parameters(), **options)


def test_fake_tools_answer_through_the_client() -> None:
    async def scenario() -> None:
        async with fake() as client:
            assert client.protocol_version == HANDSHAKE_VERSION  # discover is -32601: initialize
            assert client.server_capabilities.tools is not None
            assert client.server_capabilities.tools.list_changed is True
            assert [tool.name for tool in (await client.list_tools()).tools] == FAKE_TOOLS
            assert texts(await client.call_tool("echo", {"text": "hello"})) == ["hello"]
            structured = await client.call_tool("structured", {"value": "abc"})
            assert structured.structured_content == {"value": "abc", "length": 3}
            assert json.loads(texts(structured)[0]) == {"value": "abc", "length": 3}
            image = (await client.call_tool("image", {})).content[0]
            assert isinstance(image, mcp_types.ImageContent)
            assert (image.mime_type, image.data) == ("image/png", TINY_PNG)
            failed = await client.call_tool("fail", {"message": "it broke"})
            assert failed.is_error and texts(failed) == ["it broke"]
            with pytest.raises(MCPError) as unknown:
                await client.call_tool("no_such_tool", {})
            assert unknown.value.error.code == -32602

    run(scenario)


def test_fake_passes_the_environment_it_is_given() -> None:
    async def scenario() -> None:
        parameters = fake_server_params().parameters()
        parameters.env = {"MCP_FAKE_SETTING": "from the test"}
        async with Client(parameters) as client:
            result = await client.call_tool("env", {"name": "MCP_FAKE_SETTING"})
            assert texts(result) == ["from the test"]

    run(scenario)


def test_calls_on_one_client_run_concurrently() -> None:
    async def scenario() -> None:
        async with fake() as client:
            answers: list[list[str]] = []

            async def slow() -> None:
                answers.append(texts(await client.call_tool("slow", {"seconds": 60})))

            # Two calls that would take a minute are outstanding; a third is answered meanwhile
            # (one at a time, it would wait behind them past the scenario's deadline).
            async with anyio.create_task_group() as tasks:
                for _ in range(2):
                    tasks.start_soon(slow)
                await anyio.sleep(0.2)
                assert texts(await client.call_tool("echo", {"text": "meanwhile"})) == ["meanwhile"]
                assert answers == []
                tasks.cancel_scope.cancel()

    run(scenario)


def test_a_call_past_its_read_timeout_raises_and_is_cancelled(tmp_path: Path) -> None:
    record = tmp_path / "received.jsonl"

    async def scenario() -> None:
        async with fake("--record", str(record)) as client:
            # A call that waited for the answer would return "slept 60", not raise.
            with pytest.raises(MCPError) as timed_out:
                await client.call_tool("slow", {"seconds": 60}, read_timeout_seconds=0.5)
            assert timed_out.value.error.code == REQUEST_TIMEOUT
            assert str(timed_out.value) == "Request 'tools/call' timed out"
            assert texts(await client.call_tool("echo", {"text": "still here"})) == ["still here"]

    run(scenario)
    received = [json.loads(line) for line in record.read_text().splitlines()]
    cancelled = [m for m in received if m.get("method") == "notifications/cancelled"]
    assert len(cancelled) == 1 and cancelled[0]["params"]["reason"] == "timed out after 0.5s"


def test_a_malformed_result_raises_a_validation_error() -> None:
    async def scenario() -> None:
        async with fake() as client:
            with pytest.raises(ValidationError) as invalid:
                await client.call_tool("malformed", {})
            assert invalid.value.title == "CallToolResult"
            assert invalid.value.errors()[0]["loc"] == ("content",)
            assert texts(await client.call_tool("echo", {"text": "after"})) == ["after"]

    run(scenario)


def test_a_server_dying_mid_call_closes_the_connection() -> None:
    async def scenario() -> None:
        async with fake() as client:
            with pytest.raises(MCPError) as died:
                await client.call_tool("crash", {})
            assert died.value.error.code == CONNECTION_CLOSED
            assert str(died.value) == "Connection closed"
            for _ in range(2):  # every later request: the same, at once
                with pytest.raises(MCPError, match=r"^Connection closed$"):
                    await client.call_tool("echo", {"text": "anyone?"})
            with pytest.raises(MCPError, match=r"^Connection closed$"):
                await client.list_tools()
        # Caught inside the block, the death leaves `async with` to exit cleanly.

    run(scenario)


def test_errors_escaping_the_client_block_come_out_in_exception_groups() -> None:
    async def scenario() -> None:
        with pytest.raises(ExceptionGroup) as escaped:
            async with fake() as client:
                await client.call_tool("crash", {})
        [leaf] = leaves(escaped.value)
        assert isinstance(leaf, MCPError) and leaf.error.code == CONNECTION_CLOSED

    run(scenario)


def test_list_changed_reaches_the_message_handler_before_the_call_returns() -> None:
    async def scenario() -> None:
        messages = Messages()
        async with fake("--tools", "echo,add_tool", message_handler=messages) as client:
            assert [tool.name for tool in (await client.list_tools()).tools] == ["echo", "add_tool"]
            assert texts(await client.call_tool("add_tool", {"name": "late"})) == ["added late"]
            [changed] = messages.of_type(mcp_types.ToolListChangedNotification)
            assert changed.method == "notifications/tools/list_changed"
            names = [tool.name for tool in (await client.list_tools()).tools]
            assert names == ["echo", "add_tool", "late"]
            assert texts(await client.call_tool("late", {})) == ["late called"]

    run(scenario)


def test_a_server_that_never_initializes_times_out_the_connect() -> None:
    async def scenario() -> None:
        with pytest.raises(ExceptionGroup) as hung:
            async with fake("--hang-initialize", read_timeout_seconds=0.5):
                pass
        [leaf] = leaves(hung.value)
        assert isinstance(leaf, MCPError) and leaf.error.code == REQUEST_TIMEOUT
        assert str(leaf) == "Request 'initialize' timed out"
        # Without a read timeout, nothing ends the wait but the caller's own deadline.
        with pytest.raises(TimeoutError), anyio.fail_after(0.5):
            async with fake("--hang-initialize"):
                pass

    run(scenario)


def test_a_server_that_exits_after_initialize() -> None:
    async def scenario() -> None:
        async with fake("--exit-after-initialize") as client:
            assert client.protocol_version == HANDSHAKE_VERSION  # the handshake itself succeeded
            with pytest.raises(MCPError, match=r"^Connection closed$"):
                await client.list_tools()

    run(scenario)


def test_an_idle_server_dying_is_noticed_only_by_the_next_call() -> None:
    async def scenario() -> None:
        messages = Messages()
        async with fake("--exit-after", "0.3", message_handler=messages) as client:
            await anyio.sleep(1.5)  # the server is long gone; the block is not interrupted
            assert messages.received == []  # and nothing tells the message handler
            # It fails at once rather than waiting (the scenario's deadline would end a wait).
            with pytest.raises(MCPError, match=r"^Connection closed$"):
                await client.call_tool("echo", {"text": "hello?"})

    run(scenario)


def test_a_client_entered_in_one_task_serves_calls_from_another() -> None:
    async def scenario() -> None:
        entered, finished = anyio.Event(), anyio.Event()
        clients: list[Client] = []

        async def owner() -> None:  # enters and exits the Client in the same task
            async with fake() as client:
                clients.append(client)
                entered.set()
                await finished.wait()

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(owner)
            await entered.wait()
            assert texts(await clients[0].call_tool("echo", {"text": "across"})) == ["across"]
            finished.set()

    run(scenario)
