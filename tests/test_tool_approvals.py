"""Tools that ask first (gateway/approvals/): a registry tool marked `needs_approval`, an MCP
server's `require_approval` (mcp-server-time, a real server) and the YAML's
`gateway.require_approval`, driven through the AI SDK's own chat (AbstractChat, the real `ai`
package under Node): the answer pauses with `tool-approval-request`, the client's
addToolApprovalResponse sends the decision, and the answer goes on with the tool's output or
`tool-output-denied`. Decisions the gateway did not issue (forged, reused, another client's)
run nothing."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.support.ai_sdk import run_approval_chat
from tests.support.configs import config_for
from tests.support.fake_upstream import FakeToolCall, FakeUpstream, Reply
from tests.support.gateways import Gateway
from tests.support.mcp_gateways import call, offered
from tests.support.mcp_servers import time_server_params
from tests.support.polling import ready, wait_until
from tests.support.tools_for_tests import CALLS, DELETED
from tests.support.wire import parse_sse

SDKS = ("ai", "ai6")


def approval_config(upstream: FakeUpstream, **gateway: Any) -> dict[str, Any]:
    config = config_for(upstream)
    time_server = time_server_params()
    config["mcp_servers"] = {
        "time": {
            "command": time_server.command,
            "args": list(time_server.args),
            "require_approval": ["convert_time"],
        }
    }
    config["gateway"] = {
        "tools": ["add", "delete_note", "mcp__time__*"],
        "tool_modules": ["tests.support.tools_for_tests"],
        "tool_timeout": 5,
        **gateway,
    }
    return config


@pytest.fixture
def approvals_gateway(start_gateway: Callable[..., Gateway], upstream: FakeUpstream) -> Gateway:
    gateway = start_gateway(approval_config(upstream))
    wait_until(lambda: ready(gateway)["status"] == "ready", 30)
    return gateway


def tool_parts(message: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {p["toolCallId"]: p for p in message["parts"] if p["type"].startswith("tool-")}


@pytest.mark.parametrize("stored", [True, False], ids=["chat-by-id", "no-chat-id"])
@pytest.mark.parametrize("sdk", SDKS)
def test_an_approved_registry_tool_runs_and_the_answer_goes_on(
    approvals_gateway: Gateway, upstream: FakeUpstream, sdk: str, stored: bool
) -> None:
    delete = call("delete_note", title="groceries")
    total = call("add", a=2, b=3)
    upstream.script(
        Reply(chunks=["Deleting. "], tool_calls=[delete, total]),
        Reply(chunks=["Deleted, and 2+3=5."]),
    )
    before = CALLS["delete_note"]

    result = run_approval_chat({
        "sdk": sdk,
        "urls": [approvals_gateway.url],
        "model": "chat-model",
        "text": "delete my groceries note",
        "decisions": [{"approved": True}],
        "withoutId": not stored,
    })  # fmt: skip

    assert result["errors"] == [] and result["statuses"] == [200, 200]
    first, second = result["chunks"]
    assert "tool-approval-request" in first and first[-1] == "finish"
    assert second[:2] == ["start", "tool-output-available"]
    assert CALLS["delete_note"] == before + 1 and DELETED[-1] == "groceries"
    # One assistant message, continued in place: its tool parts now have their outputs.
    user, answer = result["messages"]
    assert user["role"] == "user" and answer["role"] == "assistant"
    parts = tool_parts(answer)
    assert parts[delete.id]["state"] == "output-available"
    assert parts[delete.id]["output"] == {"deleted": "groceries"}
    assert parts[delete.id]["approval"]["approved"] is True
    assert parts[total.id]["output"] == 5  # the tool that needs no approval ran at once
    assert answer["parts"][-1]["text"] == "Deleted, and 2+3=5."
    # The model saw both results, in the order it made the calls.
    assert "delete_note" in offered(upstream.requests[0])
    tools_seen = [m for m in upstream.requests[1]["messages"] if m["role"] == "tool"]
    assert [m["tool_call_id"] for m in tools_seen] == [total.id, delete.id]
    assert json.loads(tools_seen[1]["content"]) == {"deleted": "groceries"}


@pytest.mark.parametrize("sdk", SDKS)
def test_a_denied_call_is_not_run_and_the_model_is_told_why(
    approvals_gateway: Gateway, upstream: FakeUpstream, sdk: str
) -> None:
    delete = call("delete_note", title="taxes")
    upstream.script(
        Reply(chunks=["Deleting. "], tool_calls=[delete]),
        Reply(chunks=["I left it."]),
    )
    before = CALLS["delete_note"]

    result = run_approval_chat({
        "sdk": sdk,
        "urls": [approvals_gateway.url],
        "model": "chat-model",
        "text": "delete my taxes note",
        "decisions": [{"approved": False, "reason": "keep it 留着"}],
    })  # fmt: skip

    assert result["errors"] == []
    assert result["chunks"][1][:2] == ["start", "tool-output-denied"]
    assert CALLS["delete_note"] == before
    part = tool_parts(result["messages"][-1])[delete.id]
    assert part["state"] == "output-denied"
    assert part["approval"] == {
        "id": part["approval"]["id"],
        "approved": False,
        "reason": "keep it 留着",
    }
    tool_seen = [m for m in upstream.requests[1]["messages"] if m["role"] == "tool"]
    assert tool_seen == [
        {
            "role": "tool",
            "tool_call_id": delete.id,
            "content": "The user denied this tool call; it was not run. Reason: keep it 留着",
        }
    ]


def test_an_mcp_servers_require_approval_pauses_its_tool(
    approvals_gateway: Gateway, upstream: FakeUpstream
) -> None:
    convert = call(
        "mcp__time__convert_time",
        source_timezone="UTC",
        time="12:00",
        target_timezone="Asia/Tokyo",
    )
    now = call("mcp__time__get_current_time", timezone="UTC")
    upstream.script(
        Reply(chunks=["Converting. "], tool_calls=[convert, now]),
        Reply(chunks=["21:00 in Tokyo."]),
    )

    result = run_approval_chat({
        "sdk": "ai",
        "urls": [approvals_gateway.url],
        "model": "chat-model",
        "text": "noon UTC in Tokyo?",
        "decisions": [{"approved": True}],
    })  # fmt: skip

    assert result["errors"] == []
    first = result["chunks"][0]
    # Only convert_time asks (require_approval lists it); get_current_time ran at once.
    assert first.count("tool-approval-request") == 1
    assert first.count("tool-output-available") == 1
    parts = tool_parts(result["messages"][-1])
    assert parts[convert.id]["state"] == "output-available"
    assert parts[convert.id]["output"]["target"]["datetime"].endswith("T21:00:00+09:00")
    assert parts[now.id]["state"] == "output-available"
    assert "approval" not in parts[now.id]


def test_the_yamls_require_approval_marks_any_tool(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream
) -> None:
    config = approval_config(upstream, require_approval=["ad?"])
    del config["mcp_servers"]
    config["gateway"]["tools"] = ["add"]
    gateway = start_gateway(config)
    total = call("add", a=1, b=1)
    upstream.script(Reply(chunks=[], tool_calls=[total]), Reply(chunks=["2."]))
    before = CALLS["add"]

    response = gateway.client.post(
        "/api/chat?protocol=ui-message-stream",
        json={"model": "chat-model", "messages": [{"role": "user", "content": "1+1"}]},
    )

    chunks = [c for c in parse_sse(response.text) if isinstance(c, dict)]
    asked = [c for c in chunks if c["type"] == "tool-approval-request"]
    assert [c["toolCallId"] for c in asked] == [total.id]
    assert asked[0]["approvalId"].startswith("approval-")
    assert chunks[-1] == {
        "type": "finish",
        "finishReason": "tool-calls",
        "messageMetadata": chunks[-1]["messageMetadata"],
    }
    assert CALLS["add"] == before and len(upstream.requests) == 1


@pytest.mark.parametrize("protocol", ["typed", "data-stream", "json"])
def test_answers_that_cannot_carry_an_approval_are_not_offered_such_tools(
    approvals_gateway: Gateway, upstream: FakeUpstream, protocol: str
) -> None:
    upstream.script(Reply(chunks=["ok"]))
    stream = protocol != "json"
    query = f"?protocol={protocol}" if stream else ""
    body = {"model": "chat-model", "stream": stream, "messages": [{"role": "user", "content": "x"}]}

    response = approvals_gateway.client.post(f"/api/chat{query}", json=body)

    assert response.status_code == 200
    names = offered(upstream.requests[0])
    assert "add" in names and "mcp__time__get_current_time" in names
    assert "delete_note" not in names and "mcp__time__convert_time" not in names
    refused = approvals_gateway.client.post(
        f"/api/chat{query}", json={**body, "tools": ["add", "delete_note"]}
    )
    assert refused.status_code == 422
    assert refused.json()["error"]["message"].startswith("tools: 'delete_note' must be approved")


def test_a_forged_decision_runs_nothing(approvals_gateway: Gateway, upstream: FakeUpstream) -> None:
    """A client without a stored chat approves, then swaps the arguments the model asked for:
    the gateway's record of the request it issued does not match, so the tool is not run."""
    delete = call("delete_note", title="groceries")
    upstream.script(Reply(chunks=[], tool_calls=[delete]), Reply(chunks=["Could not."]))
    before = CALLS["delete_note"]

    result = run_approval_chat({
        "sdk": "ai",
        "urls": [approvals_gateway.url],
        "model": "chat-model",
        "text": "delete groceries",
        "decisions": [{"approved": True}],
        "tamper": {"input": {"title": "everything"}},
        "withoutId": True,
    })  # fmt: skip

    assert CALLS["delete_note"] == before
    part = tool_parts(result["messages"][-1])[delete.id]
    assert part["state"] == "output-error"
    assert "was issued for another tool call" in part["errorText"]
    assert "the tool was not run" in part["errorText"]
    tool_seen = [m for m in upstream.requests[1]["messages"] if m["role"] == "tool"]
    assert "was issued for another tool call" in json.loads(tool_seen[0]["content"])["error"]


def paused(gateway: Gateway, upstream: FakeUpstream, tool_call: FakeToolCall, **extra: Any) -> Any:
    """Ask on the UI stream until the answer pauses; the history to answer it with."""
    upstream.script(Reply(chunks=[], tool_calls=[tool_call]))
    user = {"id": "u1", "role": "user", "parts": [{"type": "text", "text": "go"}]}
    response = gateway.client.post(
        "/api/chat?protocol=ui-message-stream",
        json={"model": "chat-model", "messages": [user]},
        **extra,
    )
    chunks = [c for c in parse_sse(response.text) if isinstance(c, dict)]
    (asked,) = [c for c in chunks if c["type"] == "tool-approval-request"]
    message_id = chunks[0]["messageId"]
    answer = {
        "id": message_id,
        "role": "assistant",
        "parts": [
            {"type": "step-start"},
            {
                "type": f"tool-{tool_call.name}",
                "toolCallId": tool_call.id,
                "state": "approval-responded",
                "input": json.loads(tool_call.arguments),
                "approval": {"id": asked["approvalId"], "approved": True},
            },
        ],
    }
    return [user, answer]


def decide(gateway: Gateway, messages: list[Any], **extra: Any) -> list[dict[str, Any]]:
    response = gateway.client.post(
        "/api/chat?protocol=ui-message-stream",
        json={"model": "chat-model", "messages": messages},
        **extra,
    )
    assert response.status_code == 200
    return [c for c in parse_sse(response.text) if isinstance(c, dict)]


def test_a_decision_is_used_once(approvals_gateway: Gateway, upstream: FakeUpstream) -> None:
    delete = call("delete_note", title="once")
    messages = paused(approvals_gateway, upstream, delete)
    before = CALLS["delete_note"]
    upstream.script(Reply(chunks=["Done."]), Reply(chunks=["Again?"]))

    first = decide(approvals_gateway, messages)
    again = decide(approvals_gateway, messages)

    assert [c["type"] for c in first][:2] == ["start", "tool-output-available"]
    assert CALLS["delete_note"] == before + 1
    (error,) = [c for c in again if c["type"] == "tool-output-error"]
    assert "was already used; the tool was not run" in error["errorText"]


def test_an_unknown_approval_runs_nothing(
    approvals_gateway: Gateway, upstream: FakeUpstream
) -> None:
    delete = call("delete_note", title="never asked")
    messages = paused(approvals_gateway, upstream, delete)
    messages[1]["parts"][1]["approval"]["id"] = "approval-made-up-by-the-client"
    upstream.script(Reply(chunks=["Hm."]))
    before = CALLS["delete_note"]

    chunks = decide(approvals_gateway, messages)

    (error,) = [c for c in chunks if c["type"] == "tool-output-error"]
    assert "is unknown or has expired" in error["errorText"]
    assert CALLS["delete_note"] == before


def test_another_clients_approval_is_unknown_to_it(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream
) -> None:
    config = approval_config(upstream)
    del config["mcp_servers"]
    config["gateway"]["tools"] = ["delete_note"]
    alice, bob = "sk-alice-approvals-0123456789", "sk-bob-approvals-0123456789ab"
    gateway = start_gateway(config, api_keys=f"alice:{alice},bob:{bob}")
    delete = call("delete_note", title="alice's")
    messages = paused(gateway, upstream, delete, headers={"Authorization": f"Bearer {alice}"})
    upstream.script(Reply(chunks=["Hm."]), Reply(chunks=["Done."]))
    before = CALLS["delete_note"]

    as_bob = decide(gateway, messages, headers={"Authorization": f"Bearer {bob}"})
    as_alice = decide(gateway, messages, headers={"Authorization": f"Bearer {alice}"})

    (error,) = [c for c in as_bob if c["type"] == "tool-output-error"]
    assert "is unknown or has expired" in error["errorText"]
    assert [c["type"] for c in as_alice][:2] == ["start", "tool-output-available"]
    assert CALLS["delete_note"] == before + 1


def test_an_approved_tool_no_longer_offered_is_not_run(
    approvals_gateway: Gateway, upstream: FakeUpstream
) -> None:
    delete = call("delete_note", title="narrowed")
    messages = paused(approvals_gateway, upstream, delete)
    upstream.script(Reply(chunks=["Hm."]))
    before = CALLS["delete_note"]

    response = approvals_gateway.client.post(
        "/api/chat?protocol=ui-message-stream",
        json={"model": "chat-model", "messages": messages, "tools": ["add"]},
    )

    chunks = [c for c in parse_sse(response.text) if isinstance(c, dict)]
    (error,) = [c for c in chunks if c["type"] == "tool-output-error"]
    assert "'delete_note' is not available" in error["errorText"]
    assert CALLS["delete_note"] == before


@pytest.mark.parametrize("by_id", [True, False], ids=["last-message", "all-messages"])
def test_a_chat_by_id_stores_the_paused_answer_and_continues_it(
    approvals_gateway: Gateway, upstream: FakeUpstream, by_id: bool
) -> None:
    delete = call("delete_note", title="stored")
    upstream.script(
        Reply(chunks=["Deleting. "], tool_calls=[delete]),
        Reply(chunks=["Deleted."]),
    )
    chat_id = f"approvals-{'id' if by_id else 'all'}"

    result = run_approval_chat({
        "sdk": "ai6",
        "urls": [approvals_gateway.url],
        "chatId": chat_id,
        "byId": by_id,
        "model": "chat-model",
        "text": "delete the stored note",
        "decisions": [{"approved": True}],
    })  # fmt: skip

    assert result["errors"] == [] and result["statuses"] == [200, 200]
    stored = approvals_gateway.client.get(f"/api/chat/{chat_id}/messages").json()["messages"]
    assert [m["role"] for m in stored] == ["user", "assistant"]
    assert stored[1]["id"] == result["messages"][1]["id"]
    part = tool_parts(stored[1])[delete.id]
    assert part["state"] == "output-available" and part["output"] == {"deleted": "stored"}
    assert part["approval"]["approved"] is True
    assert stored[1]["parts"][-1] == {"type": "text", "text": "Deleted.", "state": "done"}
    assert stored[1]["parts"] == result["messages"][1]["parts"]


def test_history_replays_denied_calls_and_acts_only_on_the_last_steps_decisions() -> None:
    from gateway.doors.frontend.ui_messages import decisions_in, ui_message_to_litellm

    def part(call_id: str, state: str, **approval: Any) -> dict[str, Any]:
        found = {"type": "tool-delete_note", "toolCallId": call_id, "state": state}
        return {
            **found,
            "input": {"title": call_id},
            "approval": {"id": f"a-{call_id}", **approval},
        }

    parts = [
        {"type": "step-start"},
        part("old", "output-denied", approved=False, reason="no"),
        part("stale", "approval-responded", approved=True),  # an earlier step: not acted on
        {"type": "step-start"},
        part("waiting", "approval-requested"),
        part("now", "approval-responded", approved=True),
    ]

    decided = decisions_in("assistant", parts)
    converted = ui_message_to_litellm("assistant", parts, deciding=True)

    assert [(d.call.tool_call_id, d.approval_id, d.approved) for d in decided] == [
        ("now", "a-now", True)
    ]
    assert decided[0].call.args == {"title": "now"}
    denied_turn, denied_result, pending_turn = converted
    assert [c["id"] for c in denied_turn["tool_calls"]] == ["old"]
    assert denied_result["content"] == "The user denied this tool call; it was not run. Reason: no"
    # The decided call stays in its turn; its result comes from the engine.
    assert [c["id"] for c in pending_turn["tool_calls"]] == ["now"]
    # Not the last message: no decision is acted on, and the waiting call is dropped too.
    assert decisions_in("user", parts) == []
    assert len(ui_message_to_litellm("assistant", parts)) == 2


def test_in_a_stored_chat_the_call_runs_as_the_model_made_it(
    approvals_gateway: Gateway, upstream: FakeUpstream
) -> None:
    """With a chat id the gateway holds the paused answer: a client's swapped arguments are
    not even read; the approved call runs with the model's."""
    delete = call("delete_note", title="groceries")
    upstream.script(Reply(chunks=[], tool_calls=[delete]), Reply(chunks=["Done."]))
    before = CALLS["delete_note"]

    result = run_approval_chat({
        "sdk": "ai6",
        "urls": [approvals_gateway.url],
        "chatId": "approvals-tampered",
        "byId": True,
        "model": "chat-model",
        "text": "delete groceries",
        "decisions": [{"approved": True}],
        "tamper": {"input": {"title": "everything"}},
    })  # fmt: skip

    assert result["requests"][1]["message"]["parts"][-1]["input"] == {"title": "everything"}
    assert CALLS["delete_note"] == before + 1 and DELETED[-1] == "groceries"
    part = tool_parts(result["messages"][-1])[delete.id]
    assert part["output"] == {"deleted": "groceries"}
