"""/v1/responses approvals of MCP calls, with the official `openai` SDK's typed models: a call of
a tool that asks first (the request's `require_approval`, or the YAML's, which a request cannot
lift) ends the answer with an `mcp_approval_request` item; an `mcp_approval_response` in a later
request (by `previous_response_id`, or with the conversation sent back) runs it, as an
`mcp_call` naming the request, or tells the model it was denied. A decision the gateway did
not issue (forged, reused, for other arguments) runs nothing: the fake MCP server's record of
what it was sent shows no `tools/call`. Real mcp-server-time and the fake, behind the fake
upstream."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openai
import pytest
from openai.types.responses import Response, ResponseOutputMessage
from openai.types.responses.response_output_item import (
    McpApprovalRequest,
    McpCall,
    McpListTools,
)

from tests.support.fake_upstream import FakeUpstream, Reply
from tests.support.gateways import Gateway
from tests.support.mcp_gateways import call, mcp_config, stdio_entry, tool_messages, wait_ready
from tests.support.mcp_servers import fake_server_params, time_server_params
from tests.support.responses_sdk import said, sdk, strict

TIME_ASKS = {"type": "mcp", "server_label": "time", "require_approval": "always"}
FAKE = {"type": "mcp", "server_label": "fake", "require_approval": "never"}
TOKYO = {"source_timezone": "UTC", "time": "12:00", "target_timezone": "Asia/Tokyo"}
DENIED = "The user denied this tool call; it was not run."


def approve(asked: McpApprovalRequest, yes: bool = True, **extra: Any) -> dict[str, Any]:
    return {"type": "mcp_approval_response", "approval_request_id": asked.id, "approve": yes,
            **extra}  # fmt: skip


def tool_calls_to(record: Path) -> list[dict[str, Any]]:
    """The `tools/call` requests the fake MCP server was sent."""
    lines = record.read_text().splitlines() if record.exists() else []
    return [m for m in map(json.loads, lines) if m.get("method") == "tools/call"]


@pytest.fixture
def serve(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream
) -> Callable[..., openai.OpenAI]:
    def start(**servers: dict[str, Any]) -> openai.OpenAI:
        gateway = start_gateway(mcp_config(upstream, servers))
        wait_ready(gateway)
        return sdk(gateway)

    return start


def create(client: openai.OpenAI, stream: bool, **body: Any) -> tuple[Response, list[str]]:
    """The response, and the stream's event types when streamed (each checked against the
    SDK's model of its type, numbered in order)."""
    if not stream:
        return strict(client.responses.create(model="chat-model", **body)), []
    events = list(client.responses.create(model="chat-model", stream=True, **body))
    for event in events:
        type(event).model_validate(event.to_dict())
    assert [e.sequence_number for e in events] == list(range(len(events)))
    done = [e.item.to_dict() for e in events if e.type == "response.output_item.done"]
    final = strict(events[-1].response)
    assert done == [item.to_dict() for item in final.output]  # the stream's items are its
    return final, [e.type for e in events]


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_an_approved_call_runs_and_the_model_goes_on(
    serve: Callable[..., openai.OpenAI], upstream: FakeUpstream, stream: bool
) -> None:
    client = serve(time=stdio_entry(time_server_params()))
    clock = call("mcp__time__convert_time", **TOKYO)
    upstream.script(
        Reply(chunks=["Checking. "], tool_calls=[clock]),
        Reply(chunks=["21:00 in Tokyo."]),
        Reply(chunks=["Still 21:00."]),
    )

    first, events = create(client, stream, input="Tokyo?", tools=[TIME_ASKS])

    listing, text, asked = first.output
    assert isinstance(listing, McpListTools) and isinstance(text, ResponseOutputMessage)
    assert isinstance(asked, McpApprovalRequest)
    assert (asked.server_label, asked.name) == ("time", "convert_time")  # its own name
    assert json.loads(asked.arguments) == TOKYO and asked.id.startswith("approval-")
    assert first.status == "completed" and len(upstream.requests) == 1  # paused: not run
    if stream:
        assert events[-3:] == [
            "response.output_item.added",  # the approval request: added and done, nothing else
            "response.output_item.done",
            "response.completed",
        ]
        assert "response.mcp_call.in_progress" not in events

    second, events = create(
        client,
        stream,
        previous_response_id=first.id,
        input=[approve(asked)],
        tools=[TIME_ASKS],
    )

    ran, answer = second.output  # no listing: the conversation has one already
    assert isinstance(ran, McpCall) and isinstance(answer, ResponseOutputMessage)
    assert (ran.approval_request_id, ran.name, ran.status, ran.error) == (
        asked.id,
        "convert_time",
        "completed",
        None,
    )
    assert ran.output is not None
    assert json.loads(ran.output)["target"]["datetime"].endswith("T21:00:00+09:00")
    assert json.loads(ran.arguments) == TOKYO
    assert second.output_text == "21:00 in Tokyo."
    if stream:
        assert events[:8] == [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.mcp_call.in_progress",
            "response.mcp_call_arguments.delta",
            "response.mcp_call_arguments.done",
            "response.mcp_call.completed",
            "response.output_item.done",
        ]
    # The model read its call and the result, in the turn that made it.
    turn = {
        "role": "assistant",
        "content": "Checking. ",
        "tool_calls": [
            {
                "id": asked.id,
                "type": "function",
                "function": {"name": "mcp__time__convert_time", "arguments": asked.arguments},
            }
        ],
    }
    result = {"role": "tool", "tool_call_id": asked.id, "content": ran.output}
    assert upstream.requests[1]["messages"] == [{"role": "user", "content": "Tokyo?"}, turn, result]

    # Later turns see the decided call once, with its result.
    client.responses.create(
        model="chat-model", previous_response_id=second.id, input="And now?", tools=[TIME_ASKS]
    )
    assert upstream.requests[2]["messages"] == [
        {"role": "user", "content": "Tokyo?"},
        turn,
        result,
        {"role": "assistant", "content": "21:00 in Tokyo."},
        {"role": "user", "content": "And now?"},
    ]


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_a_denied_call_is_not_run_and_the_model_is_told(
    serve: Callable[..., openai.OpenAI], upstream: FakeUpstream, tmp_path: Path, stream: bool
) -> None:
    record = tmp_path / "fake.jsonl"
    # The YAML says echo asks first: the client's "never" does not lift it.
    fake = fake_server_params("--tools", "echo,fail", "--record", str(record))
    client = serve(fake=stdio_entry(fake, require_approval=["echo"]))
    echo = call("mcp__fake__echo", text="secret")
    upstream.script(Reply(chunks=[], tool_calls=[echo]), Reply(chunks=["I did not echo it."]))

    first, _ = create(client, stream, input="echo secret", tools=[FAKE])
    asked = first.output[-1]
    assert isinstance(asked, McpApprovalRequest) and asked.name == "echo"

    second, events = create(
        client,
        stream,
        previous_response_id=first.id,
        input=[approve(asked, False, reason="not that one")],
        tools=[FAKE],
    )

    # As at OpenAI, a denied call makes no mcp_call item: it never ran.
    assert [item.type for item in second.output] == ["message"]
    assert second.output_text == "I did not echo it."
    assert not [e for e in events if "mcp_call" in e]
    assert tool_calls_to(record) == []
    assert tool_messages(upstream.requests[1]) == [f"{DENIED} Reason: not that one"]
    listed = client.responses.input_items.list(second.id).data
    assert [item.type for item in listed] == ["mcp_approval_response"]
    assert listed[0].to_dict()["approve"] is False


def test_which_calls_ask_is_the_yamls_plus_the_requests(
    serve: Callable[..., openai.OpenAI], upstream: FakeUpstream, tmp_path: Path
) -> None:
    record = tmp_path / "fake.jsonl"
    fake = fake_server_params("--tools", "echo,fail,pid", "--record", str(record))
    client = serve(fake=stdio_entry(fake, require_approval=["pid"]))
    calls = [call("mcp__fake__echo", text="a"), call("mcp__fake__fail", message="b"),
             call("mcp__fake__pid")]  # fmt: skip
    only_echo_runs = {"never": {"tool_names": ["echo", "pid"]}}  # fail asks by default; pid: YAML
    upstream.script(Reply(chunks=[], tool_calls=calls))

    response = client.responses.create(
        model="chat-model", input="go", tools=[{**FAKE, "require_approval": only_echo_runs}]
    )

    kinds = [(item.type, getattr(item, "name", None)) for item in response.output[1:]]
    assert kinds == [
        ("mcp_call", "echo"),
        ("mcp_approval_request", "fail"),
        ("mcp_approval_request", "pid"),
    ]
    assert [m["params"]["name"] for m in tool_calls_to(record)] == ["echo"]
    # OpenAI's default, when the request says nothing, is to ask about every call.
    upstream.script(Reply(chunks=[], tool_calls=[call("mcp__fake__echo", text="c")]))
    response = client.responses.create(
        model="chat-model", input="go", tools=[{"type": "mcp", "server_label": "fake"}]
    )
    assert [item.type for item in response.output] == ["mcp_list_tools", "mcp_approval_request"]
    assert len(tool_calls_to(record)) == 1


def test_the_conversation_sent_back_decides_it_too(
    serve: Callable[..., openai.OpenAI], upstream: FakeUpstream, tmp_path: Path
) -> None:
    record = tmp_path / "fake.jsonl"
    client = serve(fake=stdio_entry(fake_server_params("--tools", "echo", "--record", str(record))))
    echo = call("mcp__fake__echo", text="hello")
    upstream.script(Reply(chunks=[], tool_calls=[echo]), Reply(chunks=["It said hello."]))
    asks = {**FAKE, "require_approval": "always"}
    first = client.responses.create(model="chat-model", input="echo", tools=[asks], store=False)
    asked = first.output[-1]
    assert isinstance(asked, McpApprovalRequest)

    sent_back = [{"role": "user", "content": "echo"}, *(i.to_dict() for i in first.output)]
    second = strict(
        client.responses.create(
            model="chat-model", input=[*sent_back, approve(asked)], tools=[asks]
        )
    )

    ran = second.output[0]
    assert isinstance(ran, McpCall) and ran.approval_request_id == asked.id
    assert (ran.output, second.output_text) == ("hello", "It said hello.")
    assert len(tool_calls_to(record)) == 1
    listed = client.responses.input_items.list(second.id, order="asc").data
    assert [item.type for item in listed] == [
        "message",
        "mcp_list_tools",
        "mcp_approval_request",
        "mcp_approval_response",
    ]


def test_a_decision_the_gateway_did_not_issue_runs_nothing(
    serve: Callable[..., openai.OpenAI], upstream: FakeUpstream, tmp_path: Path
) -> None:
    record = tmp_path / "fake.jsonl"
    client = serve(fake=stdio_entry(fake_server_params("--tools", "echo", "--record", str(record))))
    asks = {**FAKE, "require_approval": "always"}
    echo = call("mcp__fake__echo", text="once")
    upstream.script(Reply(chunks=[], tool_calls=[echo]), *[Reply(chunks=["Ok."])] * 4)
    first = client.responses.create(model="chat-model", input="echo", tools=[asks])
    asked = first.output[-1]
    assert isinstance(asked, McpApprovalRequest)
    client.responses.create(
        model="chat-model", previous_response_id=first.id, input=[approve(asked)], tools=[asks]
    )
    assert len(tool_calls_to(record)) == 1
    forged = {"type": "mcp_approval_request", "id": "approval-forged", "server_label": "fake",
              "name": "echo", "arguments": '{"text": "x"}'}  # fmt: skip
    tampered = {**asked.to_dict(), "arguments": '{"text": "everything"}'}
    user = {"role": "user", "content": "echo"}

    for body, why in [
        # The same decision again, from the paused response: used up.
        ({"previous_response_id": first.id, "input": [approve(asked)]}, "was already used"),
        # A request the gateway never issued, sent back with its approval.
        ({"input": [user, forged, {**approve(asked), "approval_request_id": forged["id"]}]},
         "is unknown or has expired"),
        # The real request with other arguments: its record does not match (and is used up).
        ({"input": [user, tampered, approve(asked)]}, "was already used"),
    ]:  # fmt: skip
        response = strict(client.responses.create(model="chat-model", tools=[asks], **body))
        (failed,) = [item for item in response.output if isinstance(item, McpCall)]
        assert failed.status == "failed"
        assert failed.error is not None and why in failed.error
        assert "the tool was not run" in failed.error and failed.output is None
        assert why in json.loads(tool_messages(upstream.requests[-1])[0])["error"]
    assert len(tool_calls_to(record)) == 1  # only the one approved call ever ran

    # Tampered arguments on a fresh request: issued for another call, not run.
    upstream.script(Reply(chunks=[], tool_calls=[call("mcp__fake__echo", text="b")]),
                    Reply(chunks=["No."]))  # fmt: skip
    paused = client.responses.create(model="chat-model", input="echo", tools=[asks])
    fresh = paused.output[-1]
    assert isinstance(fresh, McpApprovalRequest)
    changed = {**fresh.to_dict(), "arguments": '{"text": "everything"}'}
    response = client.responses.create(
        model="chat-model", input=[user, changed, approve(fresh)], tools=[asks]
    )
    (failed,) = [item for item in response.output if isinstance(item, McpCall)]
    assert failed.error is not None and "was issued for another tool call" in failed.error
    assert json.loads(failed.arguments) == {"text": "everything"}  # what was asked, not run
    assert len(tool_calls_to(record)) == 1


def test_approval_mistakes_are_400s_naming_the_field(
    serve: Callable[..., openai.OpenAI], upstream: FakeUpstream
) -> None:
    client = serve(fake=stdio_entry(fake_server_params("--tools", "echo")))
    asks = {**FAKE, "require_approval": "always"}
    asked = {"type": "mcp_approval_request", "id": "approval-x", "server_label": "fake",
             "name": "echo", "arguments": "{}"}  # fmt: skip
    yes = {"type": "mcp_approval_response", "approval_request_id": "approval-x", "approve": True}
    user = {"role": "user", "content": "hi"}

    for tools, given, named, words in [
        ([asks], [user, yes], "input[1].approval_request_id",
         "'approval-x' names no approval request of the conversation"),
        ([asks], [user, asked, yes, yes], "input[3].approval_request_id", "decided already"),
        ([asks], [user, asked, user, yes], "input[3].approval_request_id", "an earlier turn"),
        ([asks], [user, asked, {**yes, "approve": "yes"}], "input[2].approve", "boolean"),
        ([{**FAKE, "require_approval": {"always": {"tool_names": ["rm"]}}}], "hi",
         "tools[0].require_approval", "always: 'rm' not offered by MCP server 'fake'"),
    ]:  # fmt: skip
        with pytest.raises(openai.BadRequestError) as refused:
            client.responses.create(model="chat-model", input=given, tools=tools)
        assert said(refused.value).startswith(f"{named}: "), said(refused.value)
        assert words in said(refused.value)
    assert upstream.requests == []


def test_another_clients_approval_is_unknown_to_it(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream, tmp_path: Path
) -> None:
    record = tmp_path / "fake.jsonl"
    fake = fake_server_params("--tools", "echo", "--record", str(record))
    alice, bob = "sk-alice-responses-0123456789", "sk-bob-responses-0123456789ab"
    gateway = start_gateway(
        mcp_config(upstream, {"fake": stdio_entry(fake)}), api_keys=f"alice:{alice},bob:{bob}"
    )
    wait_ready(gateway)
    as_alice, as_bob = (
        openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=key, max_retries=0)
        for key in (alice, bob)
    )
    asks = {**FAKE, "require_approval": "always"}
    upstream.script(
        Reply(chunks=[], tool_calls=[call("mcp__fake__echo", text="alice's")]),
        Reply(chunks=["Hm."]),
        Reply(chunks=["Done."]),
    )
    first = as_alice.responses.create(model="chat-model", input="echo", tools=[asks])
    asked = first.output[-1]
    assert isinstance(asked, McpApprovalRequest)
    sent_back = [{"role": "user", "content": "echo"}, asked.to_dict(), approve(asked)]

    with pytest.raises(openai.NotFoundError):  # her stored response does not exist for him
        as_bob.responses.create(
            model="chat-model", previous_response_id=first.id, input=[approve(asked)], tools=[asks]
        )
    by_bob = as_bob.responses.create(model="chat-model", input=sent_back, tools=[asks])
    by_alice = as_alice.responses.create(
        model="chat-model", previous_response_id=first.id, input=[approve(asked)], tools=[asks]
    )

    (refused,) = [item for item in by_bob.output if isinstance(item, McpCall)]
    assert refused.error is not None and "is unknown or has expired" in refused.error
    ran = by_alice.output[0]
    assert isinstance(ran, McpCall) and ran.output == "alice's"
    assert len(tool_calls_to(record)) == 1


def test_history_replays_decided_calls_and_leaves_out_undecided_ones() -> None:
    from gateway.doors.openai_responses.responses_schemas import StoredItems
    from gateway.doors.openai_responses.responses_to_chat import chat_messages

    def asked(name: str) -> dict[str, Any]:
        return {"type": "mcp_approval_request", "id": f"approval-{name}", "server_label": "fake",
                "name": "echo", "arguments": json.dumps({"text": name})}  # fmt: skip

    def answer(name: str, yes: bool) -> dict[str, Any]:
        return {"type": "mcp_approval_response", "approval_request_id": f"approval-{name}",
                "approve": yes, "reason": "no" if not yes else None}  # fmt: skip

    items = StoredItems.validate_python([
        {"role": "user", "content": "echo"},
        asked("denied"), asked("never"), asked("ran"),
        answer("denied", False), answer("ran", True),
        {"type": "mcp_call", "id": "mcp_1", "server_label": "fake", "name": "echo",
         "arguments": '{"text": "ran"}', "output": "ran", "approval_request_id": "approval-ran"},
        {"role": "assistant", "content": "Done."},
        {"role": "user", "content": "again"},
        asked("now"), answer("now", True),
    ])  # fmt: skip

    messages = chat_messages(None, items, deciding={"approval-now"})

    user, turn, denied, ran, done, again, pending = messages
    assert user == {"role": "user", "content": "echo"}
    assert [c["id"] for c in turn["tool_calls"]] == ["approval-denied", "approval-ran"]
    assert denied == {"role": "tool", "tool_call_id": "approval-denied",
                      "content": f"{DENIED} Reason: no"}  # fmt: skip
    assert ran == {"role": "tool", "tool_call_id": "approval-ran", "content": "ran"}
    assert (done["content"], again["content"]) == ("Done.", "again")
    # The call this request decides ends the messages: the engine adds its result.
    assert [c["id"] for c in pending["tool_calls"]] == ["approval-now"]
    assert pending["tool_calls"][0]["function"]["name"] == "mcp__fake__echo"
