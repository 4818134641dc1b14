"""Tools that ask first across two real `gateway serve` processes sharing one redis-server: the
answer pauses on replica A, the AI SDK's own chat (ai@6 AbstractChat, the resume-streams recipe:
chat id and the last message only) sends the decision to replica B, which checks it against the
approval A issued (in Redis), continues the stored answer and stores the result."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from tests.support.ai_sdk import run_approval_chat
from tests.support.configs import config_for
from tests.support.fake_upstream import FakeToolCall, FakeUpstream, Reply
from tests.support.processes import GatewayProcess, serve_config
from tests.support.redis_server import RedisServer

KEY = "sk-approvals-replica-0123456789abc"
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture(scope="module")
def replicas(
    _upstream_a: FakeUpstream, redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[GatewayProcess, GatewayProcess]]:
    config = config_for(
        _upstream_a,
        gateway={"tools": ["delete_note"], "tool_modules": ["tests.support.tools_for_tests"]},
    )
    env = {"REDIS_URL": redis_server.url, "GATEWAY_API_KEYS": f"alice:{KEY}"}
    started: list[GatewayProcess] = []
    try:
        for name in ("approvals-a", "approvals-b"):
            started.append(serve_config(config, tmp_path_factory.mktemp(name), **env))
        yield started[0], started[1]
    finally:
        for process in started:
            process.stop()


def stored(replica: GatewayProcess, chat_id: str) -> list[dict]:
    response = httpx.get(f"{replica.url}/api/chat/{chat_id}/messages", headers=AUTH, timeout=10)
    assert response.status_code == 200
    return list(response.json()["messages"])


@pytest.mark.parametrize("approved", [True, False], ids=["approve", "deny"])
def test_paused_on_one_replica_decided_on_the_other(
    replicas: tuple[GatewayProcess, GatewayProcess], upstream: FakeUpstream, approved: bool
) -> None:
    a, b = replicas
    delete = FakeToolCall("delete_note", json.dumps({"title": "shared"}))
    upstream.script(
        Reply(chunks=["Deleting. "], tool_calls=[delete]),
        Reply(chunks=["Done." if approved else "Kept."]),
    )
    chat_id = f"approval-replicas-{'yes' if approved else 'no'}"

    result = run_approval_chat({
        "sdk": "ai6",
        "urls": [a.url, b.url],
        "chatId": chat_id,
        "byId": True,
        "apiKey": KEY,
        "model": "chat-model",
        "text": "delete the shared note",
        "decisions": [{"approved": approved}],
    })  # fmt: skip

    assert result["errors"] == [] and result["statuses"] == [200, 200]
    first, second = result["chunks"]
    assert "tool-approval-request" in first
    assert second[1] == ("tool-output-available" if approved else "tool-output-denied")
    # The decision request carried only the last message: B continued A's stored answer.
    assert list(result["requests"][1]) == ["id", "message", "model"]
    for replica in (a, b):
        user, answer = stored(replica, chat_id)
        assert user["role"] == "user"
        part = next(p for p in answer["parts"] if p.get("toolCallId") == delete.id)
        if approved:
            assert part["state"] == "output-available"
            assert part["output"] == {"deleted": "shared"}
        else:
            assert part["state"] == "output-denied"
        assert answer["parts"][-1]["text"] == ("Done." if approved else "Kept.")
    tool_seen = [m for m in upstream.requests[1]["messages"] if m["role"] == "tool"]
    assert [m["tool_call_id"] for m in tool_seen] == [delete.id]


def test_a_decision_used_on_one_replica_is_refused_on_the_other(
    replicas: tuple[GatewayProcess, GatewayProcess], upstream: FakeUpstream
) -> None:
    a, b = replicas
    delete = FakeToolCall("delete_note", json.dumps({"title": "twice"}))
    upstream.script(Reply(chunks=[], tool_calls=[delete]), Reply(chunks=["Done."]))
    chat_id = "approval-replicas-twice"
    result = run_approval_chat({
        "sdk": "ai6",
        "urls": [a.url, b.url],
        "chatId": chat_id,
        "byId": True,
        "apiKey": KEY,
        "model": "chat-model",
        "text": "delete twice",
        "decisions": [{"approved": True}],
    })  # fmt: skip
    assert result["chunks"][1][1] == "tool-output-available"
    upstream.script(Reply(chunks=["Again?"]))

    # The same decision again, on A, as a client without a chat id would send it.
    replay = result["requests"][1]["message"]
    user = stored(a, chat_id)[0]
    response = httpx.post(
        f"{a.url}/api/chat?protocol=ui-message-stream",
        json={"model": "chat-model", "messages": [user, replay]},
        headers=AUTH,
        timeout=15,
    )

    assert response.status_code == 200
    assert "was already used; the tool was not run" in response.text
