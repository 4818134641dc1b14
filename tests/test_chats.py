"""Chats by id in one gateway: history, regenerate, stop, resume, ownership, caps, store failures.

Each behaviour runs against the in-process store and a real redis-server (the `store` fixture);
two replicas sharing Redis are in tests/test_chat_replicas.py.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.support.configs import config_for, tool_config
from tests.support.fake_upstream import FakeToolCall, FakeUpstream, Reply
from tests.support.fake_weather import FakeWeather
from tests.support.gateways import Gateway
from tests.support.processes import free_port
from tests.support.redis_server import RedisServer

KEY_A = "sk-chat-alice-0123456789abcdef"
KEY_B = "sk-chat-bob-0123456789abcdefgh"
UI = "?protocol=ui-message-stream"


@pytest.fixture(params=["memory", "redis"])
def store(request: pytest.FixtureRequest, redis_server: RedisServer) -> dict[str, str]:
    return {"redis_url": redis_server.url} if request.param == "redis" else {}


def user(text: str, message_id: str) -> dict[str, Any]:
    return {"id": message_id, "role": "user", "parts": [{"type": "text", "text": text}]}


def stock(chat_id: str, message: dict[str, Any]) -> dict[str, Any]:
    """The body ai@6's DefaultChatTransport sends with the resume-streams recipe."""
    return {
        "id": chat_id,
        "message": message,
        "selectedChatModel": "chat-model",
        "selectedVisibilityType": "private",
    }


def chunks(body: str) -> list[dict[str, Any]]:
    return [json.loads(line[6:]) for line in body.split("\n") if line.startswith("data: {")]


def text_of(parts: list[dict[str, Any]]) -> str:
    return "".join(p["delta"] for p in parts if p["type"] == "text-delta")


def stored(gateway: Gateway, chat_id: str, **headers: str) -> httpx.Response:
    return gateway.client.get(f"/api/chat/{chat_id}/messages", headers=headers)


def wait_until(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.05)


def leave_after_first_words(url: str, chat_id: str) -> None:
    """Ask in `chat_id` and hang up once the answer's first words have arrived."""
    with httpx.stream("POST", url + "/api/chat" + UI, json=stock(chat_id, user("go", "u1"))) as r:
        for line in r.iter_lines():
            if '"text-delta"' in line:
                break


def chat_config(upstream: FakeUpstream, **chats: Any) -> dict[str, Any]:
    return config_for(upstream, gateway={"chats": chats} if chats else {})


@pytest.fixture
def started(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream, store: dict[str, str]
) -> Gateway:
    return start_gateway(chat_config(upstream), **store)


def test_the_stock_body_is_answered_and_the_next_message_carries_the_history(
    started: Gateway, upstream: FakeUpstream
) -> None:
    first = started.client.post("/api/chat" + UI, json=stock("chat-1", user("hi", "u1")))
    assert first.status_code == 200, first.text
    parts = chunks(first.text)
    start = parts[0]
    assert start["type"] == "start"
    assert start["messageMetadata"]["model"] == "chat-model"
    assert isinstance(start["messageMetadata"]["createdAt"], int)
    assert text_of(parts) == "Hello from upstream-a"
    assert parts[-1]["type"] == "finish"

    second = started.client.post("/api/chat" + UI, json=stock("chat-1", user("and?", "u2")))
    assert second.status_code == 200, second.text
    assert upstream.requests[-1]["messages"] == [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "Hello from upstream-a"},
        {"role": "user", "content": "and?"},
    ]
    messages = stored(started, "chat-1").json()["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "user", "assistant"]
    assert messages[1]["id"] == start["messageId"]
    assert messages[1]["parts"][-1] == {
        "type": "text",
        "text": "Hello from upstream-a",
        "state": "done",
    }
    assert messages[1]["metadata"]["usage"] == {"promptTokens": 11, "completionTokens": 7}


def test_full_messages_replace_the_history_and_regenerate_answers_again(
    started: Gateway, upstream: FakeUpstream
) -> None:
    started.client.post("/api/chat" + UI, json=stock("chat-2", user("one", "u1")))
    started.client.post("/api/chat" + UI, json=stock("chat-2", user("two", "u2")))
    replaced = started.client.post(
        "/api/chat" + UI,
        json={"id": "chat-2", "model": "chat-model", "messages": [user("only this", "u9")]},
    )
    assert replaced.status_code == 200
    assert upstream.requests[-1]["messages"] == [{"role": "user", "content": "only this"}]
    history = stored(started, "chat-2").json()["messages"]
    assert history[0]["id"] == "u9" and len(history) == 2

    upstream.default = Reply(chunks=["a second try"])
    again = started.client.post(
        "/api/chat" + UI,
        json={
            "id": "chat-2",
            "model": "chat-model",
            "trigger": "regenerate-message",
            "messageId": history[1]["id"],
        },
    )
    assert again.status_code == 200, again.text
    assert upstream.requests[-1]["messages"] == [{"role": "user", "content": "only this"}]
    after = stored(started, "chat-2").json()["messages"]
    assert len(after) == 2
    assert after[1]["id"] != history[1]["id"]
    assert after[1]["parts"][-1]["text"] == "a second try"


def test_an_edited_message_replaces_itself_and_what_came_after(
    started: Gateway, upstream: FakeUpstream
) -> None:
    started.client.post("/api/chat" + UI, json=stock("chat-3", user("one", "u1")))
    started.client.post("/api/chat" + UI, json=stock("chat-3", user("two", "u2")))
    started.client.post("/api/chat" + UI, json=stock("chat-3", user("one, edited", "u1")))
    assert upstream.requests[-1]["messages"] == [{"role": "user", "content": "one, edited"}]
    assert len(stored(started, "chat-3").json()["messages"]) == 2


def test_a_stop_ends_the_answer_closes_the_provider_stream_and_keeps_the_partial_text(
    started: Gateway, upstream: FakeUpstream
) -> None:
    upstream.default = Reply(chunks=[f"w{i} " for i in range(200)], chunk_delay=0.02)
    seen: list[dict[str, Any]] = []

    def read() -> None:
        with httpx.stream(
            "POST", started.url + "/api/chat" + UI, json=stock("chat-4", user("go", "u1"))
        ) as response:
            for line in response.iter_lines():
                if line.startswith("data: {"):
                    seen.append(json.loads(line[6:]))

    reader = threading.Thread(target=read)
    reader.start()
    wait_until(lambda: sum(p["type"] == "text-delta" for p in seen) >= 3)
    active = stored(started, "chat-4").json()["activeStreamId"]
    assert active
    stale = started.client.post("/api/chat/chat-4/stop", json={"activeStreamId": "other"})
    assert stale.json() == {"success": True}
    assert sum(p["type"] == "finish" for p in seen) == 0  # a stale stop changed nothing

    stop = started.client.post("/api/chat/chat-4/stop", json={"activeStreamId": active})
    assert stop.json() == {"success": True}
    reader.join(10)
    assert upstream.wait_for_disconnect()
    assert seen[-1]["type"] == "finish"
    message = stored(started, "chat-4").json()["messages"][-1]
    assert message["metadata"]["status"] == "stopped"
    partial = message["parts"][-1]["text"]
    assert partial and partial == text_of(seen)
    assert len(partial) < len("".join(f"w{i} " for i in range(200)))
    assert stored(started, "chat-4").json()["activeStreamId"] is None
    assert started.client.get("/api/chat/chat-4/stream").status_code == 204


def test_a_resumable_answer_outlives_its_client_and_resumes_from_its_first_part(
    started: Gateway, upstream: FakeUpstream
) -> None:
    words = [f"w{i} " for i in range(40)]
    upstream.default = Reply(chunks=words, chunk_delay=0.03)
    leave_after_first_words(started.url, "chat-5")
    resumed = started.client.get("/api/chat/chat-5/stream")
    assert resumed.status_code == 200
    assert resumed.headers["x-vercel-ai-ui-message-stream"] == "v1"
    parts = chunks(resumed.text)
    assert parts[0]["type"] == "start"
    assert text_of(parts) == "".join(words)
    assert parts[-1]["type"] == "finish"
    assert started.client.get("/api/chat/chat-5/stream").status_code == 204
    message = stored(started, "chat-5").json()["messages"][-1]
    assert message["parts"][-1]["text"] == "".join(words)
    assert "status" not in message["metadata"]


def test_without_resumable_chats_a_disconnect_cancels_the_provider_call(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream
) -> None:
    gateway = start_gateway(chat_config(upstream, resumable=False))
    upstream.default = Reply(chunks=[f"w{i} " for i in range(200)], chunk_delay=0.03)
    leave_after_first_words(gateway.url, "chat-6")
    assert upstream.wait_for_disconnect()
    wait_until(lambda: stored(gateway, "chat-6").json()["activeStreamId"] is None)
    message = stored(gateway, "chat-6").json()["messages"][-1]
    assert message["metadata"]["status"] == "stopped"


def test_an_answer_nobody_reads_is_stopped_after_the_unread_timeout(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream
) -> None:
    gateway = start_gateway(chat_config(upstream, unread_timeout=0.5))
    upstream.default = Reply(chunks=[f"w{i} " for i in range(400)], chunk_delay=0.02)
    leave_after_first_words(gateway.url, "chat-7")
    assert upstream.wait_for_disconnect(timeout=10)
    wait_until(lambda: stored(gateway, "chat-7").json()["activeStreamId"] is None)
    assert stored(gateway, "chat-7").json()["messages"][-1]["metadata"]["status"] == "failed"


def test_a_chat_is_invisible_to_another_key(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream, store: dict[str, str]
) -> None:
    gateway = start_gateway(chat_config(upstream), api_keys=f"alice:{KEY_A},bob:{KEY_B}", **store)
    alice = {"Authorization": f"Bearer {KEY_A}"}
    bob = {"Authorization": f"Bearer {KEY_B}"}
    made = gateway.client.post(
        "/api/chat" + UI, json=stock("chat-8", user("secret", "u1")), headers=alice
    )
    assert made.status_code == 200
    # To bob, alice's chat reads exactly as an id with no chat: nothing to probe.
    for method, route, body in [
        ("GET", "/api/chat/{}/messages", None),
        ("GET", "/api/chat/{}/stream", None),
        ("POST", "/api/chat/{}/stop", {}),
        ("DELETE", "/api/chat/{}", None),
    ]:
        response = gateway.client.request(method, route.format("chat-8"), json=body, headers=bob)
        unknown = gateway.client.request(method, route.format("chat-no"), json=body, headers=bob)
        assert (response.status_code, response.content) == (unknown.status_code, unknown.content)
        assert response.status_code in (200, 204, 404), (method, route, response.text)
        assert "secret" not in response.text
    # A message to an id another client holds cannot make it bob's (as a regenerate of an
    # unknown id, a 404).
    taken = gateway.client.post(
        "/api/chat" + UI, json=stock("chat-8", user("mine now", "u2")), headers=bob
    )
    assert taken.status_code == 404 and taken.json()["error"]["type"] == "chat_not_found"
    assert "secret" not in taken.text
    assert len(stored(gateway, "chat-8", **alice).json()["messages"]) == 2
    assert gateway.client.delete("/api/chat/chat-8", headers=alice).json() == {"success": True}
    assert stored(gateway, "chat-8", **alice).status_code == 404


def test_a_client_at_the_unread_answers_cap_is_refused_while_another_is_served(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream, store: dict[str, str]
) -> None:
    config = chat_config(upstream, max_unread_answers=2)
    gateway = start_gateway(config, api_keys=f"alice:{KEY_A},bob:{KEY_B}", **store)
    alice = {"Authorization": f"Bearer {KEY_A}"}
    bob = {"Authorization": f"Bearer {KEY_B}"}
    upstream.default = Reply(chunks=[f"w{i} " for i in range(400)], chunk_delay=0.02)

    def ask(chat_id: str, headers: dict[str, str]) -> int:
        """Ask, and leave once the first words are in (the answer runs on, unread)."""
        body = stock(chat_id, user("go", "u1"))
        with httpx.stream(
            "POST", gateway.url + "/api/chat" + UI, json=body, headers=headers, timeout=15
        ) as response:
            for line in response.iter_lines():
                if '"text-delta"' in line:
                    break
            return response.status_code

    try:
        assert [ask(f"unread-a-{n}", alice) for n in range(2)] == [200, 200]
        refused = gateway.client.post(
            "/api/chat" + UI, json=stock("unread-a-2", user("go", "u1")), headers=alice
        )
        assert refused.status_code == 429, refused.text
        assert refused.json()["error"]["type"] == "too_many_unread_answers"
        assert "max_unread_answers" in refused.json()["error"]["message"]
        assert int(refused.headers["retry-after"]) >= 1
        assert stored(gateway, "unread-a-2", **alice).status_code == 404  # nothing stored

        assert ask("unread-b-0", bob) == 200  # another client is served

        # Stopping one of alice's answers gives her room again.
        gateway.client.post("/api/chat/unread-a-0/stop", json={}, headers=alice)
        assert ask("unread-a-2", alice) == 200
    finally:
        for chat_id, headers in [
            *((f"unread-a-{n}", alice) for n in range(3)),
            ("unread-b-0", bob),
        ]:
            gateway.client.post(f"/api/chat/{chat_id}/stop", json={}, headers=headers)


def test_answers_admitted_together_then_left_unread_beyond_the_cap_are_stopped(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream, store: dict[str, str]
) -> None:
    gateway = start_gateway(chat_config(upstream, max_unread_answers=1), **store)
    upstream.default = Reply(chunks=[f"w{i} " for i in range(400)], chunk_delay=0.02)
    url = gateway.url + "/api/chat" + UI
    ids = ["together-0", "together-1"]
    try:
        # Both are admitted while their requests read them, then both are left at once.
        with (
            httpx.stream("POST", url, json=stock(ids[0], user("go", "u1")), timeout=15) as one,
            httpx.stream("POST", url, json=stock(ids[1], user("go", "u1")), timeout=15) as two,
        ):
            for response in (one, two):
                assert response.status_code == 200
                next(line for line in response.iter_lines() if '"text-delta"' in line)
        wait_until(lambda: any(stored(gateway, i).json()["activeStreamId"] is None for i in ids))
        chats = [stored(gateway, i).json() for i in ids]
        assert [c["activeStreamId"] is None for c in chats].count(True) == 1  # one runs on
        stopped = next(c for c in chats if c["activeStreamId"] is None)
        assert stopped["messages"][-1]["metadata"]["status"] == "failed"
    finally:
        for chat_id in ids:
            gateway.client.post(f"/api/chat/{chat_id}/stop", json={})


@pytest.mark.parametrize(
    ("body", "status", "needle"),
    [
        ({"id": "c", "model": "chat-model"}, 422, "messages"),
        ({"model": "chat-model", "message": user("hi", "u1")}, 422, "`id` is required"),
        (
            {
                "id": "c",
                "model": "chat-model",
                "message": user("hi", "u1"),
                "messages": [user("x", "u")],
            },
            422,
            "not both",
        ),
        (
            {"id": "c", "model": "chat-model", "message": {"role": "user", "content": "hi"}},
            422,
            "message.parts",
        ),
        (
            {"id": "c", "model": "chat-model", "message": {"role": "user", "parts": []}},
            422,
            "message.parts",
        ),
        ({"id": "bad id!", "model": "chat-model", "message": user("hi", "u1")}, 422, "id"),
        (
            {"id": "c", "model": "chat-model", "message": {**user("hi", "u"), "role": "assistant"}},
            422,
            "user message",
        ),
        (
            {"id": "nowhere", "model": "chat-model", "trigger": "regenerate-message"},
            404,
            "no chat",
        ),
    ],
)
def test_bad_chat_requests_are_4xx_and_store_nothing(
    started: Gateway, upstream: FakeUpstream, body: dict[str, Any], status: int, needle: str
) -> None:
    response = started.client.post("/api/chat" + UI, json=body)
    assert response.status_code == status, response.text
    assert needle in response.json()["error"]["message"]
    assert upstream.requests == []
    for chat_id in ("c", "nowhere"):
        assert stored(started, chat_id).status_code == 404


def test_a_history_over_the_caps_is_refused_and_the_chat_stays_as_it_was(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream, store: dict[str, str]
) -> None:
    gateway = start_gateway(chat_config(upstream, max_messages=4), **store)
    gateway.client.post("/api/chat" + UI, json=stock("chat-9", user("one", "u1")))
    refused = gateway.client.post("/api/chat" + UI, json=stock("chat-9", user("two", "u2")))
    assert refused.status_code == 200  # 3 messages + its answer = 4
    refused = gateway.client.post("/api/chat" + UI, json=stock("chat-9", user("three", "u3")))
    assert refused.status_code == 413
    assert "max_messages" in refused.json()["error"]["message"]
    assert len(stored(gateway, "chat-9").json()["messages"]) == 4

    big = start_gateway(chat_config(upstream, max_bytes=2048), **store)
    huge = big.client.post("/api/chat" + UI, json=stock("chat-10", user("x" * 5000, "u1")))
    assert huge.status_code == 413
    assert stored(big, "chat-10").status_code == 404


def test_a_second_message_while_answering_is_409(started: Gateway, upstream: FakeUpstream) -> None:
    upstream.default = Reply(chunks=[f"w{i} " for i in range(100)], chunk_delay=0.02)
    with httpx.stream(
        "POST", started.url + "/api/chat" + UI, json=stock("chat-11", user("go", "u1"))
    ) as response:
        for line in response.iter_lines():
            if '"text-delta"' in line:
                break
        busy = started.client.post("/api/chat" + UI, json=stock("chat-11", user("more", "u2")))
        assert busy.status_code == 409
        assert busy.json()["error"]["type"] == "chat_busy"
    started.client.post("/api/chat/chat-11/stop", json={})


def test_without_an_id_nothing_is_stored(started: Gateway, upstream: FakeUpstream) -> None:
    response = started.chat()
    assert response.status_code == 200
    # AI SDK 4 sends an id with OpenAI-shaped messages: answered as before, nothing stored.
    v4 = started.client.post(
        "/api/chat",
        json={
            "id": "v4-chat",
            "model": "chat-model",
            "messages": [{"role": "user", "content": "hi"}],
        },
    )
    assert v4.status_code == 200
    assert stored(started, "v4-chat").status_code == 404


@pytest.mark.parametrize("policy", ["refuse", "answer"])
def test_an_unreachable_chat_store_is_a_503_or_an_answer_without_history(
    start_gateway: Callable[..., Gateway], upstream: FakeUpstream, policy: str
) -> None:
    dead = f"redis://127.0.0.1:{free_port()}/0"
    gateway = start_gateway(chat_config(upstream, on_store_failure=policy), redis_url=dead)
    response = gateway.client.post("/api/chat" + UI, json=stock("chat-12", user("hi", "u1")))
    if policy == "refuse":
        assert response.status_code == 503
        assert response.json()["error"]["type"] == "chat_store_unavailable"
        assert "redis://" not in response.text
        assert upstream.requests == []
    else:
        assert response.status_code == 200
        assert text_of(chunks(response.text)) == "Hello from upstream-a"
        assert upstream.requests[-1]["messages"] == [{"role": "user", "content": "hi"}]
    assert gateway.client.get("/api/chat/chat-12/stream").status_code == 503


def test_a_tool_step_is_stored_as_tool_parts_and_replayed_to_the_provider(
    start_gateway: Callable[..., Gateway],
    upstream: FakeUpstream,
    weather: FakeWeather,
    store: dict[str, str],
) -> None:
    config = tool_config(upstream, weather)
    gateway = start_gateway(config, **store)
    call = FakeToolCall("add", '{"a": 2, "b": 3}')
    upstream.script(Reply(chunks=[], tool_calls=[call]), Reply(chunks=["It is 5."]))
    first = gateway.client.post("/api/chat" + UI, json=stock("chat-13", user("2+3?", "u1")))
    assert first.status_code == 200
    answer = stored(gateway, "chat-13").json()["messages"][-1]
    tool_part = next(p for p in answer["parts"] if p["type"] == "tool-add")
    assert tool_part["state"] == "output-available"
    assert tool_part["input"] == {"a": 2, "b": 3}
    assert tool_part["output"] == 5
    assert answer["parts"][-1]["text"] == "It is 5."

    gateway.client.post("/api/chat" + UI, json=stock("chat-13", user("thanks", "u2")))
    sent = upstream.requests[-1]["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "tool", "assistant", "user"]
    assert sent[1]["tool_calls"][0]["id"] == call.id
    assert json.loads(sent[1]["tool_calls"][0]["function"]["arguments"]) == {"a": 2, "b": 3}
    assert sent[2] == {"role": "tool", "tool_call_id": call.id, "content": "5"}
    assert sent[3]["content"] == "It is 5."
