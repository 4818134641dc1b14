"""Tools from MCP servers, run by the gateway: real servers nobody here wrote (mcp-server-time over
stdio, server-everything over streamable HTTP and SSE) and a fake of our own for faults, offered
as mcp__<server>__<tool> beside the registry's, in the tool loop of every frontend protocol."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import yaml

from tests.support.fake_upstream import FakeUpstream, Reply
from tests.support.gateways import Gateway
from tests.support.mcp_gateways import (
    call,
    mcp_config,
    offered,
    servers_of,
    stdio_entry,
    tool_messages,
    wait_ready,
)
from tests.support.mcp_servers import (
    everything_http,
    fake_server_params,
    time_server_params,
)
from tests.support.polling import ready, wait_until
from tests.support.wire import parse_lines, summary_of

QUESTION = [{"role": "user", "content": "What time is it in Tokyo, and echo hello?"}]
PROTOCOLS = ("typed", "data-stream", "ui-message-stream")
ADMIN_KEY = "admin-key-for-the-mcp-tests"


@pytest.fixture
def fake_gateway(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream
) -> Callable[..., Gateway]:
    def start(*flags: str, **entry: Any) -> Gateway:
        servers = {"fake": stdio_entry(fake_server_params(*flags), ping_interval=0.2, **entry)}
        gateway = start_gateway(mcp_config(upstream, servers))
        wait_until(lambda: servers_of(gateway)["fake"]["state"] != "starting", 30)
        return gateway

    return start


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_tool_loop_over_two_servers_in_one_answer(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream, protocol: str
) -> None:
    servers = {
        "time": stdio_entry(time_server_params()),
        "fake": stdio_entry(fake_server_params()),
    }
    gateway = start_gateway(mcp_config(upstream, servers))
    report = wait_ready(gateway)
    assert {s["name"]: s["state"] for s in report["mcp_servers"]} == {
        "time": "ready",
        "fake": "ready",
    }
    clock = call(
        "mcp__time__convert_time",
        source_timezone="UTC",
        time="12:00",
        target_timezone="Asia/Tokyo",
    )
    echo = call("mcp__fake__echo", text="hello")
    upstream.script(
        Reply(chunks=["Checking. "], tool_calls=[clock, echo]),
        Reply(chunks=["It is 21:00 in Tokyo; hello."]),
    )

    response = gateway.client.post(
        f"/api/chat?protocol={protocol}", json={"model": "chat-model", "messages": QUESTION}
    )

    summary = summary_of(protocol, response.text)
    assert [name for _, name, _ in summary["calls"]] == [
        "mcp__time__convert_time",
        "mcp__fake__echo",
    ]
    results = dict(summary["results"])
    assert results[clock.id]["target"]["datetime"].endswith("T21:00:00+09:00")
    assert results[echo.id] == "hello"
    assert summary["text"] == "Checking. It is 21:00 in Tokyo; hello."
    first, second = upstream.requests
    assert {"mcp__time__get_current_time", "mcp__time__convert_time", "mcp__fake__echo"} <= set(
        offered(first)
    )
    said = tool_messages(second)
    assert json.loads(said[0])["target"]["timezone"] == "Asia/Tokyo"
    assert said[1] == "hello"


@pytest.mark.parametrize("transport", ["streamable-http", "sse"])
def test_remote_servers_over_streamable_http_and_sse(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream, transport: str
) -> None:
    with everything_http(transport) as server:
        kind = "http" if transport == "streamable-http" else "sse"
        servers = {"every": {"url": server.url, "transport": kind}}
        gateway = start_gateway(mcp_config(upstream, servers))
        report = wait_ready(gateway)
        (every,) = report["mcp_servers"]
        assert every["state"] == "ready" and every["tools"] > 3
        echo = call("mcp__every__echo", message="over the wire")
        upstream.script(Reply(tool_calls=[echo]), Reply(chunks=["Done."]))

        parts = parse_lines(gateway.chat(messages=QUESTION).text)

    (result,) = [p for code, p in parts if code == "a"]
    assert "over the wire" in json.dumps(result["result"])
    assert "isError" not in result
    assert parts[-1][1]["finishReason"] == "stop"


def test_results_map_faithfully(
    fake_gateway: Callable[..., Gateway], upstream: FakeUpstream
) -> None:
    gateway = fake_gateway()
    structured = call("mcp__fake__structured", value="abc")
    image = call("mcp__fake__image")
    failing = call("mcp__fake__fail", message="the disk is full")
    upstream.script(Reply(tool_calls=[structured, image, failing]), Reply(chunks=["Ok."]))

    parts = parse_lines(gateway.chat(messages=QUESTION).text)

    results = {p["toolCallId"]: p for code, p in parts if code == "a"}
    assert results[structured.id]["result"] == {"value": "abc", "length": 3}
    (block,) = results[image.id]["result"]["content"]
    assert block["type"] == "image" and block["mimeType"] == "image/png" and block["data"]
    assert results[failing.id] == {
        "type": "tool-result",
        "toolCallId": failing.id,
        "toolName": "mcp__fake__fail",
        "result": {"error": "the disk is full"},
        "isError": True,
    }
    # The model reads the structured value as JSON and is told of the image, not sent it.
    said = tool_messages(upstream.requests[1])
    assert json.loads(said[0]) == {"value": "abc", "length": 3}
    assert said[1].startswith("[image image/png, about") and block["data"] not in said[1]
    assert json.loads(said[2]) == {"error": "the disk is full"}


def test_faults_are_tool_failures_the_model_and_the_client_see(
    fake_gateway: Callable[..., Gateway], upstream: FakeUpstream
) -> None:
    gateway = fake_gateway(call_timeout=0.5)
    slow = call("mcp__fake__slow", seconds=3)
    malformed = call("mcp__fake__malformed")
    upstream.script(Reply(tool_calls=[slow, malformed]), Reply(chunks=["Sorry."]))

    response = gateway.chat(messages=QUESTION)

    assert response.status_code == 200
    parts = parse_lines(response.text)
    errors = {p["toolCallId"]: p["result"]["error"] for code, p in parts if code == "a"}
    assert errors[slow.id] == "the tool did not finish within 0.5 seconds"
    assert errors[malformed.id] == "the MCP server 'fake' answered with a malformed tool result"
    assert parts[-1][1]["finishReason"] == "stop"
    # The connection is still good after both.
    assert servers_of(gateway)["fake"]["state"] == "ready"


def test_a_server_that_dies_mid_call_is_a_tool_error_and_is_started_again(
    fake_gateway: Callable[..., Gateway], upstream: FakeUpstream
) -> None:
    gateway = fake_gateway()
    crash = call("mcp__fake__crash")
    upstream.script(Reply(tool_calls=[crash]), Reply(chunks=["It broke."]))

    parts = parse_lines(gateway.chat(messages=QUESTION).text)

    (result,) = [p for code, p in parts if code == "a"]
    assert result["isError"] is True
    assert result["result"]["error"] == "the MCP server 'fake' went away during the call"
    assert parts[-1][1]["finishReason"] == "stop"
    wait_until(lambda: servers_of(gateway)["fake"]["restarts"] >= 1, 15)
    wait_until(lambda: servers_of(gateway)["fake"]["state"] == "ready", 15)
    echo = call("mcp__fake__echo", text="back")
    upstream.script(Reply(tool_calls=[echo]), Reply(chunks=["Fine."]))
    again = parse_lines(gateway.chat(messages=QUESTION).text)
    assert [p["result"] for code, p in again if code == "a"] == ["back"]


def test_a_server_that_dies_while_idle_is_noticed_and_started_again(
    fake_gateway: Callable[..., Gateway],
) -> None:
    gateway = fake_gateway("--exit-after", "0.5")
    wait_until(lambda: servers_of(gateway)["fake"]["restarts"] >= 1, 15)
    metrics = gateway.client.get("/metrics").text
    assert 'gateway_mcp_restarts_total{server="fake"}' in metrics


def test_a_server_that_never_comes_up_leaves_its_tools_out_and_says_so(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream
) -> None:
    servers = {
        "gone": {"command": "/nonexistent/mcp-server"},
        "fake": stdio_entry(fake_server_params()),
    }
    gateway = start_gateway(mcp_config(upstream, servers))
    report = wait_ready(gateway)
    gone = servers_of(gateway)["gone"]
    assert gone["state"] == "failed" and gone["tools"] == 0 and gone["error"]
    assert "mcp:gone" in report["degraded"]
    assert report["status"] == "ready"  # the models still answer, without its tools
    metrics = gateway.client.get("/metrics").text
    assert 'gateway_mcp_server_up{server="gone"} 0.0' in metrics
    assert 'gateway_mcp_server_up{server="fake"} 1.0' in metrics
    upstream.script(Reply(chunks=["Hi."]))
    gateway.chat(messages=QUESTION)
    names = offered(upstream.requests[0])
    assert "mcp__fake__echo" in names
    assert not [name for name in names if name.startswith("mcp__gone__")]


def test_a_tool_list_change_is_offered_on_the_next_request(
    fake_gateway: Callable[..., Gateway], upstream: FakeUpstream
) -> None:
    gateway = fake_gateway("--tools", "echo,add_tool")
    add = call("mcp__fake__add_tool", name="shiny")
    upstream.script(Reply(tool_calls=[add]), Reply(chunks=["Added."]))
    gateway.chat(messages=QUESTION)
    assert "mcp__fake__shiny" not in offered(upstream.requests[0])
    wait_until(lambda: servers_of(gateway)["fake"]["tools"] == 3, 10)

    upstream.reset()
    upstream.script(Reply(chunks=["Hi."]))
    gateway.chat(messages=QUESTION)
    assert "mcp__fake__shiny" in offered(upstream.requests[0])


def test_allowed_and_disallowed_tools_narrow_what_is_offered(
    fake_gateway: Callable[..., Gateway], upstream: FakeUpstream
) -> None:
    gateway = fake_gateway(allowed_tools=["echo", "fail", "image"], disallowed_tools=["image"])
    assert servers_of(gateway)["fake"]["tools"] == 2
    upstream.script(Reply(chunks=["Hi."]))
    gateway.chat(messages=QUESTION)
    assert offered(upstream.requests[0]) == ["mcp__fake__echo", "mcp__fake__fail"]


def test_a_model_is_offered_mcp_tools_by_name_or_pattern(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream
) -> None:
    config = mcp_config(upstream, {"fake": stdio_entry(fake_server_params())})
    config["model_list"][0]["tools"] = ["mcp__fake__echo"]
    config["model_list"][1]["tools"] = ["mcp__fake__s*"]
    gateway = start_gateway(config)
    wait_ready(gateway)
    upstream.script(Reply(chunks=["Hi."]), Reply(chunks=["Hi."]))
    gateway.chat(messages=QUESTION)
    gateway.chat(model="title-model", messages=QUESTION)
    assert offered(upstream.requests[0]) == ["mcp__fake__echo"]
    assert offered(upstream.requests[1]) == ["mcp__fake__structured", "mcp__fake__slow"]


@pytest.fixture
def recorded(tmp_path: Any) -> Iterator[Any]:
    yield tmp_path / "received.jsonl"


def test_a_reload_that_removes_a_server_lets_its_call_in_flight_finish(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream, recorded: Any
) -> None:
    servers = {"fake": stdio_entry(fake_server_params("--record", str(recorded)))}
    config = mcp_config(upstream, servers)
    gateway = start_gateway(config, admin_key=ADMIN_KEY)
    wait_ready(gateway)
    slow = call("mcp__fake__slow", seconds=1.5)
    upstream.script(Reply(tool_calls=[slow]), Reply(chunks=["Slept."]))
    answers: list[str] = []
    asking = threading.Thread(target=lambda: answers.append(gateway.chat(messages=QUESTION).text))
    asking.start()
    wait_until(lambda: servers_of(gateway)["fake"]["calls_in_flight"] == 1, 10)

    del config["mcp_servers"]
    config["gateway"]["tools"] = []
    gateway.config_path.write_text(yaml.safe_dump(config))
    reloaded = gateway.client.post(
        "/admin/reload", headers={"authorization": f"Bearer {ADMIN_KEY}"}
    )
    assert reloaded.json()["status"] == "applied"
    assert "mcp_servers" not in ready(gateway)
    asking.join(10)

    parts = parse_lines(answers[0])
    assert [p["result"] for code, p in parts if code == "a"] == ["slept 1.5"]
    assert parts[-1][1]["finishReason"] == "stop"
