"""/v1/responses with the Responses API's own MCP shapes: a `{"type": "mcp"}` tool naming a server
of the gateway's YAML, its tools run by the gateway, `mcp_list_tools` and `mcp_call` items, all
read with the official `openai` SDK into its typed models. Real MCP servers (mcp-server-time)
and the fault-injecting fake, behind the fake OpenAI-shaped upstream."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openai
import pytest
from openai.types.responses.response_output_item import McpCall, McpListTools

from tests.support.configs import config_for
from tests.support.fake_upstream import FakeUpstream, Reply
from tests.support.gateways import Gateway
from tests.support.mcp_gateways import call, offered, stdio_entry
from tests.support.mcp_servers import fake_server_params, time_server_params
from tests.support.polling import ready, wait_until
from tests.support.responses_sdk import said, sdk, strict

NARROW_KEY = "narrow-key-for-the-responses-mcp-tests"
WIDE_KEY = "wide-key-for-the-responses-mcp-tests"
TIME = {"type": "mcp", "server_label": "time", "require_approval": "never"}
FAKE = {"type": "mcp", "server_label": "fake", "require_approval": "never"}
TOKYO = {"source_timezone": "UTC", "time": "12:00", "target_timezone": "Asia/Tokyo"}
ORDER_TOOL: dict[str, Any] = {
    "type": "function",
    "name": "lookup_order",
    "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}}},
}


@pytest.fixture
def serve(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream
) -> Callable[..., openai.OpenAI]:
    """A gateway with these mcp_servers (all offered to chat-model), once each was tried."""

    def start(**servers: dict[str, Any]) -> openai.OpenAI:
        config = config_for(upstream)
        config["mcp_servers"] = servers
        config["gateway"] = {"tools": ["mcp__*"], "tool_timeout": 5}
        gateway = start_gateway(config)
        wait_until(lambda: ready(gateway)["status"] == "ready", 30)
        return sdk(gateway)

    return start


@pytest.mark.usefixtures("stream_reader")
def test_a_streamed_answer_lists_the_servers_tools_and_runs_its_call(
    serve: Callable[..., openai.OpenAI], upstream: FakeUpstream
) -> None:
    client = serve(time=stdio_entry(time_server_params()))
    clock = call("mcp__time__convert_time", **TOKYO)
    upstream.script(Reply(chunks=[], tool_calls=[clock]), Reply(chunks=["21:00 in Tokyo."]))

    events = list(
        client.responses.create(model="chat-model", input="Tokyo?", tools=[TIME], stream=True)
    )

    for event in events:
        type(event).model_validate(event.to_dict())
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert [e.type for e in events] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.mcp_list_tools.in_progress",
        "response.mcp_list_tools.completed",
        "response.output_item.done",
        "response.output_item.added",
        "response.mcp_call.in_progress",
        "response.mcp_call_arguments.delta",
        "response.mcp_call_arguments.delta",
        "response.mcp_call_arguments.delta",
        "response.mcp_call_arguments.done",
        "response.mcp_call.completed",
        "response.output_item.done",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert "".join(e.delta for e in events if e.type == "response.mcp_call_arguments.delta") == (
        clock.arguments
    )
    done = strict(events[-1].response)
    listing, ran, _ = done.output
    assert isinstance(listing, McpListTools) and listing.server_label == "time"
    tools = {tool.name: tool for tool in listing.tools}
    assert set(tools) == {"get_current_time", "convert_time"}  # its own names, not mcp__time__
    schema = tools["convert_time"].input_schema
    assert isinstance(schema, dict) and "target_timezone" in schema["properties"]
    assert tools["convert_time"].description and listing.error is None
    assert isinstance(tools["convert_time"].annotations, dict)
    assert tools["convert_time"].annotations["readOnlyHint"] is True
    assert isinstance(ran, McpCall)
    assert (ran.server_label, ran.name, ran.status, ran.error) == (
        "time",
        "convert_time",
        "completed",
        None,
    )
    assert json.loads(ran.arguments) == TOKYO
    assert ran.output is not None
    assert json.loads(ran.output)["target"]["datetime"].endswith("T21:00:00+09:00")
    assert done.output_text == "21:00 in Tokyo."
    # The model was offered the server's tools, and read the result.
    first, second = upstream.requests
    assert sorted(offered(first)) == ["mcp__time__convert_time", "mcp__time__get_current_time"]
    assert second["messages"][-1] == {
        "role": "tool",
        "tool_call_id": clock.id,
        "content": ran.output,
    }
    # The streamed items are the response's.
    items = [e.item for e in events if e.type == "response.output_item.done"]
    assert [item.to_dict() for item in items] == [item.to_dict() for item in done.output]


@pytest.mark.usefixtures("stream_reader")
def test_a_non_streamed_answer_carries_outputs_and_errors(
    serve: Callable[..., openai.OpenAI], upstream: FakeUpstream
) -> None:
    client = serve(fake=stdio_entry(fake_server_params()))
    echo = call("mcp__fake__echo", text="hello")
    failing = call("mcp__fake__fail", message="the disk is full")
    upstream.script(Reply(chunks=["Trying. "], tool_calls=[echo, failing]), Reply(chunks=["Ok."]))

    response = strict(
        client.responses.create(
            model="chat-model",
            input="echo hello",
            tools=[{**FAKE, "allowed_tools": {"tool_names": ["echo", "fail"]}}],
        )
    )

    kinds = [item.type for item in response.output]
    assert kinds == ["mcp_list_tools", "message", "mcp_call", "mcp_call", "message"]
    listing, _, echoed, failed, _ = response.output
    assert isinstance(listing, McpListTools)
    assert sorted(tool.name for tool in listing.tools) == ["echo", "fail"]  # narrowed
    assert isinstance(echoed, McpCall) and isinstance(failed, McpCall)
    assert (echoed.name, echoed.output, echoed.error, echoed.status) == (
        "echo",
        "hello",
        None,
        "completed",
    )
    assert (failed.name, failed.output, failed.error, failed.status) == (
        "fail",
        None,
        "the disk is full",
        "failed",
    )
    assert response.output_text == "Trying. Ok."
    assert sorted(offered(upstream.requests[0])) == ["mcp__fake__echo", "mcp__fake__fail"]
    tool_messages = [m for m in upstream.requests[1]["messages"] if m["role"] == "tool"]
    assert [m["content"] for m in tool_messages] == ["hello", '{"error": "the disk is full"}']


def test_a_follow_up_carries_the_calls_into_the_next_turn(
    serve: Callable[..., openai.OpenAI], upstream: FakeUpstream
) -> None:
    client = serve(time=stdio_entry(time_server_params()), fake=stdio_entry(fake_server_params()))
    clock = call("mcp__time__convert_time", **TOKYO)
    upstream.script(
        Reply(chunks=[], tool_calls=[clock]),
        Reply(chunks=["21:00."]),
        Reply(chunks=["Still 21:00."]),
        Reply(chunks=["Yes."]),
    )
    first = client.responses.create(model="chat-model", input="Tokyo?", tools=[TIME])
    ran = first.output[1]
    assert isinstance(ran, McpCall) and ran.output is not None

    second = strict(
        client.responses.create(
            model="chat-model",
            input="And now?",
            previous_response_id=first.id,
            tools=[TIME, FAKE],
        )
    )

    # The model sees its earlier call, by the name it called it, and what it read.
    messages = upstream.requests[2]["messages"]
    assert messages == [
        {"role": "user", "content": "Tokyo?"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {
                    "id": ran.id,
                    "type": "function",
                    "function": {"name": "mcp__time__convert_time", "arguments": ran.arguments},
                }
            ],
        },
        {"role": "tool", "tool_call_id": ran.id, "content": ran.output},
        {"role": "assistant", "content": "21:00."},
        {"role": "user", "content": "And now?"},
    ]
    # A server the conversation has listed is not listed again; a new one is.
    listings = [item for item in second.output if isinstance(item, McpListTools)]
    assert [listing.server_label for listing in listings] == ["fake"]
    assert "mcp__time__convert_time" in offered(upstream.requests[2])

    # The same items sent back by a client (no stored response) read the same.
    sent_back = [{"role": "user", "content": "Tokyo?"}]
    sent_back += [item.to_dict() for item in first.output]
    sent_back += [{"role": "user", "content": "And now?"}]
    third = client.responses.create(model="chat-model", input=sent_back, tools=[TIME])
    assert upstream.requests[3]["messages"] == messages
    assert not [item for item in third.output if isinstance(item, McpListTools)]
    listed = client.responses.input_items.list(third.id, order="asc").data
    assert [type(item).__name__ for item in listed] == [
        "ResponseInputMessageItem",
        "McpListTools",
        "McpCall",
        "ResponseOutputMessage",
        "ResponseInputMessageItem",
    ]
    assert listed[2].to_dict() == {**ran.to_dict(), "id": ran.id}


def test_a_client_function_in_the_same_step_ends_the_answer_after_the_mcp_calls(
    serve: Callable[..., openai.OpenAI], upstream: FakeUpstream
) -> None:
    client = serve(fake=stdio_entry(fake_server_params()))
    echo = call("mcp__fake__echo", text="hi")
    order = call("lookup_order", order_id="A-17")
    upstream.script(Reply(chunks=[], tool_calls=[echo, order]), Reply(chunks=["Shipped."]))

    first = strict(
        client.responses.create(model="chat-model", input="Order?", tools=[FAKE, ORDER_TOOL])
    )

    assert [item.type for item in first.output] == ["mcp_list_tools", "mcp_call", "function_call"]
    assert len(upstream.requests) == 1  # the client runs lookup_order before the model goes on
    assert sorted(offered(upstream.requests[0])) == sorted(
        ["lookup_order", "mcp__fake__echo", "mcp__fake__add_tool", "mcp__fake__crash",
         "mcp__fake__env", "mcp__fake__fail", "mcp__fake__image", "mcp__fake__malformed",
         "mcp__fake__pid", "mcp__fake__slow", "mcp__fake__structured"]
    )  # fmt: skip
    ran, function_call = first.output[1], first.output[2]
    assert isinstance(ran, McpCall) and ran.output == "hi"
    assert function_call.type == "function_call" and function_call.call_id == order.id

    second = client.responses.create(
        model="chat-model",
        previous_response_id=first.id,
        input=[{"type": "function_call_output", "call_id": order.id, "output": "shipped"}],
        tools=[FAKE, ORDER_TOOL],
    )

    assert second.output_text == "Shipped."
    assistant, *results = upstream.requests[1]["messages"][1:]
    assert [c["id"] for c in assistant["tool_calls"]] == [ran.id, order.id]
    assert results == [
        {"role": "tool", "tool_call_id": ran.id, "content": "hi"},
        {"role": "tool", "tool_call_id": order.id, "content": "shipped"},
    ]


def test_allowed_tools_read_only_keeps_the_tools_annotated_so(
    serve: Callable[..., openai.OpenAI], upstream: FakeUpstream
) -> None:
    client = serve(time=stdio_entry(time_server_params()), fake=stdio_entry(fake_server_params()))
    upstream.script(Reply(chunks=["Hi."]))
    read_only = {"allowed_tools": {"read_only": True}}

    response = client.responses.create(
        model="chat-model", input="hi", tools=[{**TIME, **read_only}, {**FAKE, **read_only}]
    )

    listings = {
        item.server_label: item for item in response.output if item.type == "mcp_list_tools"
    }
    assert sorted(tool.name for tool in listings["time"].tools) == [
        "convert_time",
        "get_current_time",
    ]
    assert listings["fake"].tools == []  # the fake annotates none of its tools
    assert sorted(offered(upstream.requests[0])) == [
        "mcp__time__convert_time",
        "mcp__time__get_current_time",
    ]


@pytest.mark.parametrize(
    ("tool", "named", "words"),
    [
        ({"type": "mcp", "server_label": "nope"}, "tools[0].server_label",
         "unknown MCP server 'nope' for model 'chat-model'; known: fake"),
        ({**FAKE, "server_url": "https://evil.example/mcp"}, "tools[0].server_url",
         "mcp_servers"),
        ({**FAKE, "connector_id": "connector_gmail"}, "tools[0].connector_id", "mcp_servers"),
        ({**FAKE, "authorization": "token"}, "tools[0].authorization", "mcp_servers"),
        ({**FAKE, "headers": {"X-Key": "k"}}, "tools[0].headers", "mcp_servers"),
        ({**FAKE, "allowed_tools": ["rm"]}, "tools[0].allowed_tools",
         "'rm' not offered by MCP server 'fake' to model 'chat-model'; offered: echo"),
    ],
)  # fmt: skip
def test_a_server_the_yaml_does_not_offer_is_a_400_naming_the_field(
    serve: Callable[..., openai.OpenAI],
    upstream: FakeUpstream,
    tool: dict[str, Any],
    named: str,
    words: str,
) -> None:
    client = serve(fake=stdio_entry(fake_server_params("--tools", "echo")))

    with pytest.raises(openai.BadRequestError) as refused:
        client.responses.create(model="chat-model", input="hi", tools=[tool])  # type: ignore[list-item]

    assert refused.value.code == "invalid_request"
    assert said(refused.value).startswith(f"{named}: ") and words in said(refused.value)
    assert "evil.example" not in said(refused.value) and "token" not in said(refused.value)
    assert upstream.requests == []


def test_a_client_function_may_not_take_an_mcp_tools_name(
    serve: Callable[..., openai.OpenAI], upstream: FakeUpstream
) -> None:
    client = serve(fake=stdio_entry(fake_server_params("--tools", "echo")))
    clash = {**ORDER_TOOL, "name": "mcp__fake__echo"}

    with pytest.raises(openai.BadRequestError) as refused:
        client.responses.create(model="chat-model", input="hi", tools=[FAKE, clash])  # type: ignore[list-item]

    assert said(refused.value).startswith("tools[1].name: ")
    assert upstream.requests == []


def test_a_server_that_is_down_lists_no_tools_and_says_so(
    serve: Callable[..., openai.OpenAI], upstream: FakeUpstream
) -> None:
    client = serve(gone={"command": "/nonexistent/mcp-server"})
    upstream.script(Reply(chunks=["Without it."]))

    events = list(
        client.responses.create(
            model="chat-model",
            input="hi",
            tools=[{"type": "mcp", "server_label": "gone"}],
            stream=True,
        )
    )

    assert "response.mcp_list_tools.failed" in [e.type for e in events]
    listing = events[-1].response.output[0]
    assert isinstance(listing, McpListTools) and listing.tools == []
    assert listing.error == "the MCP server 'gone' is not connected now (failed)"
    assert events[-1].response.output_text == "Without it."
    assert "tools" not in upstream.requests[0]


def test_a_key_is_offered_only_the_mcp_tools_its_entry_names(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream, tmp_path: Path
) -> None:
    keys_file = tmp_path / "keys.yaml"
    keys_file.write_text(
        f"- name: narrow\n  key: {NARROW_KEY}\n  tools: ['mcp__fake__ec*']\n"
        f"- name: wide\n  key: {WIDE_KEY}\n"
    )
    config = config_for(upstream)
    config["mcp_servers"] = {
        "fake": stdio_entry(fake_server_params("--tools", "echo,fail")),
        "time": stdio_entry(time_server_params()),
    }
    config["gateway"] = {"tools": ["mcp__*"]}
    gateway = start_gateway(config, api_keys_file=str(keys_file))
    wait_until(lambda: ready(gateway)["status"] == "ready", 30)
    narrow = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=NARROW_KEY, max_retries=0)
    wide = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=WIDE_KEY, max_retries=0)
    upstream.script(Reply(chunks=["Hi."]))

    response = narrow.responses.create(model="chat-model", input="hi", tools=[FAKE])

    listing = response.output[0]
    assert isinstance(listing, McpListTools)
    assert [tool.name for tool in listing.tools] == ["echo"]
    assert offered(upstream.requests[0]) == ["mcp__fake__echo"]
    for client, tool, words in [
        (narrow, TIME, "unknown MCP server 'time' for model 'chat-model'; known: fake"),
        (narrow, {**FAKE, "allowed_tools": ["fail"]}, "'fail' not offered"),
    ]:
        with pytest.raises(openai.BadRequestError) as refused:
            client.responses.create(model="chat-model", input="hi", tools=[tool])  # type: ignore[list-item]
        assert words in said(refused.value)
    with pytest.raises(openai.BadRequestError) as refused:
        wide.responses.create(model="chat-model", input="hi", tools=[{**TIME, "server_label": "x"}])
    assert said(refused.value).endswith("known: fake, time")
    assert len(upstream.requests) == 1
